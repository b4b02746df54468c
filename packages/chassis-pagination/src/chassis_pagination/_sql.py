"""Fetching pages from SQLAlchemy 2 ``Select`` statements and legacy ``Query`` objects.

Imported only when a SQLAlchemy object is paginated, so plain sequences need no SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, inspect, literal, or_, select, tuple_
from sqlalchemy.orm import Query
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import ColumnElement, UnaryExpression

from ._cursor import Position, fingerprint

_KEY_LABEL = "_chassis_pagination_key_{}"


@dataclass(frozen=True)
class SortKey:
    expression: ColumnElement[Any]
    descending: bool

    def ordered(self, forwards: bool) -> ColumnElement[Any]:
        descending = self.descending == forwards
        return self.expression.desc() if descending else self.expression.asc()


@dataclass
class Fetched:
    items: list[Any]
    has_more: bool
    keys: list[tuple[Any, ...]]
    """Sort-key values of each item (keyset pages only)."""


def sort_keys(keyset: Sequence[Any]) -> list[SortKey]:
    """Columns (ascending) or ``column.asc()`` / ``column.desc()`` expressions."""
    if not keyset:
        raise ValueError("keyset needs at least one sort column (the last one unique)")
    keys = []
    for item in keyset:
        descending = False
        element = item.__clause_element__() if hasattr(item, "__clause_element__") else item
        if isinstance(element, UnaryExpression) and element.modifier in (
            operators.asc_op,
            operators.desc_op,
        ):
            descending = element.modifier is operators.desc_op
            element = element.element
        if isinstance(element, UnaryExpression):
            raise ValueError(
                f"keyset column {item}: NULLS FIRST/LAST orderings are not supported; "
                "keyset columns must be NOT NULL"
            )
        if not isinstance(element, ColumnElement):
            raise TypeError(f"keyset items must be columns or column.asc()/.desc(), not {item!r}")
        keys.append(SortKey(element, descending))
    return keys


def keys_fingerprint(keys: Sequence[SortKey]) -> str:
    return fingerprint([f"{key.expression}:{'desc' if key.descending else 'asc'}" for key in keys])


def _is_entity(source: Any) -> bool:
    """Does the statement select exactly one ORM entity (``select(Premises)``)?"""
    descriptions = source.column_descriptions
    if len(descriptions) != 1:
        return False
    description = descriptions[0]
    expr = description.get("expr")
    if expr is None or expr is not description.get("entity"):
        return False
    info = inspect(expr, raiseerr=False)
    return bool(getattr(info, "is_mapper", False) or getattr(info, "is_aliased_class", False))


def _run(source: Any, session: Any, entity: bool) -> list[Any]:
    if isinstance(source, Query):
        return list(source.all())
    if session is None:
        raise TypeError("paginate() needs session= (a Session or Connection) to run a Select")
    result = session.execute(source)
    # ORM entities: unique() as Session.scalars() does (joined eager loads need it).
    return list(result.unique().all() if entity else result.all())


def count(source: Any, session: Any) -> int:
    """``COUNT(*)`` of every row the statement selects (its ORDER BY dropped)."""
    if isinstance(source, Query):
        return int(source.order_by(None).count())
    if session is None:
        raise TypeError("paginate() needs session= (a Session or Connection) to run a Select")
    statement = select(func.count()).select_from(source.order_by(None).subquery())
    return int(session.execute(statement).scalar_one())


def fetch_offset(source: Any, session: Any, offset: int, limit: int) -> Fetched:
    """``limit + 1`` rows from ``offset``: the extra row only tells that a next page exists."""
    entity = _is_entity(source)
    rows = _run(source.offset(offset).limit(limit + 1), session, entity)
    if entity and not isinstance(source, Query):
        rows = [row[0] for row in rows]
    return Fetched(rows[:limit], len(rows) > limit, [])


def _beyond(keys: Sequence[SortKey], values: Sequence[Any], forwards: bool) -> Any:
    """Rows strictly after (``forwards``) or before ``values`` in the keys' order."""
    bounds = [literal(value, key.expression.type) for key, value in zip(keys, values, strict=True)]

    def compare(expression: Any, descending: bool, bound: Any) -> Any:
        if descending != forwards:  # ascending and forwards, or descending and backwards
            return expression > bound
        return expression < bound

    if len(keys) > 1 and len({key.descending for key in keys}) == 1:
        # One direction: a row-value comparison, which a composite index serves directly.
        left = tuple_(*(key.expression for key in keys))
        return compare(left, keys[0].descending, tuple_(*bounds))
    clauses = []
    for index, key in enumerate(keys):
        equal = [keys[i].expression == bounds[i] for i in range(index)]
        clauses.append(and_(*equal, compare(key.expression, key.descending, bounds[index])))
    return or_(*clauses)


def fetch_keyset(
    source: Any, session: Any, keys: Sequence[SortKey], position: Position | None, limit: int
) -> Fetched:
    """``limit + 1`` rows from ``position`` in the keys' order, however deep: one index range.

    Backward pages (``p`` and ``l``) are read in reverse order and turned round.
    """
    forwards = position is None or position.direction == "n"
    statement = source.order_by(None).order_by(*(key.ordered(forwards) for key in keys))
    if position is not None and position.direction != "l":
        statement = statement.filter(_beyond(keys, position.values, forwards))
    entity = _is_entity(source)
    if entity:
        labels = [key.expression.label(_KEY_LABEL.format(i)) for i, key in enumerate(keys)]
        statement = statement.add_columns(*labels)
    rows = _run(statement.limit(limit + 1), session, entity)
    has_more = len(rows) > limit
    rows = rows[:limit]
    if not forwards:
        rows.reverse()
    if entity:
        width = len(keys)
        return Fetched([row[0] for row in rows], has_more, [tuple(row[-width:]) for row in rows])
    try:
        values = [tuple(row._mapping[key.expression] for key in keys) for row in rows]
    except KeyError as error:
        raise ValueError(
            f"keyset column {error.args[0]} must be among the selected columns "
            "(or select one ORM entity)"
        ) from None
    return Fetched(rows, has_more, values)
