"""The statements of a page of a SQLAlchemy 2 ``Select`` or legacy ``Query``, and running them.

Imported only when a SQLAlchemy object is paginated, so plain sequences need no SQLAlchemy.
A page's SQL is built once (:func:`offset_query`, :func:`keyset_query`) and run by
:func:`execute` (``Session``, ``Connection``) or :func:`execute_async` (``AsyncSession``,
``AsyncConnection``): only running differs between ``paginate`` and ``paginate_async``.
Nothing here imports ``sqlalchemy.ext.asyncio``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Table,
    UniqueConstraint,
    and_,
    func,
    inspect,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Query, Session, scoped_session
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import ColumnElement, Label, UnaryExpression
from sqlalchemy.sql.selectable import Alias

from ._cursor import Position, fingerprint

_KEY_LABEL = "_chassis_pagination_key_{}"
_DIRECTIONS = (operators.asc_op, operators.desc_op)
_NULLS = (operators.nulls_first_op, operators.nulls_last_op)


@dataclass(frozen=True)
class SortKey:
    """One keyset column and where it sorts, NULLs included.

    :ivar descending: the column sorts descending.
    :ivar nulls_first: NULLs come before every value (default: after them ascending, before
        them descending, as PostgreSQL sorts).
    :ivar nullable: the column may hold NULL (not declared NOT NULL, or a NULLs placement was
        given): its ORDER BY says where NULLs go and the seek condition handles them.
    """

    expression: ColumnElement[Any]
    descending: bool
    nulls_first: bool
    nullable: bool

    def ordered(self, forwards: bool) -> ColumnElement[Any]:
        """``ORDER BY`` term for reading forwards, or backwards (every placement reversed)."""
        descending = self.descending == forwards
        ordered = self.expression.desc() if descending else self.expression.asc()
        if not self.nullable:  # as before NULLs were handled: no NULLS FIRST/LAST for MySQL
            return ordered
        return ordered.nulls_first() if self.nulls_first == forwards else ordered.nulls_last()

    def describe(self) -> str:
        text = f"{self.expression}:{'desc' if self.descending else 'asc'}"
        if self.nulls_first != self.descending:  # not the default placement
            text += ":nulls_first" if self.nulls_first else ":nulls_last"
        return text


def sort_keys(keyset: Sequence[Any]) -> list[SortKey]:
    """Columns (ascending) or ``column.asc()`` / ``column.desc()`` expressions, each maybe
    followed by ``.nulls_first()`` / ``.nulls_last()``."""
    if not keyset:
        raise ValueError("keyset needs at least one sort column (the last one unique)")
    keys = []
    for item in keyset:
        element = item.__clause_element__() if hasattr(item, "__clause_element__") else item
        placement: bool | None = None
        if isinstance(element, UnaryExpression) and element.modifier in _NULLS:
            placement = element.modifier is operators.nulls_first_op
            element = element.element
        descending = False
        if isinstance(element, UnaryExpression) and element.modifier in _DIRECTIONS:
            descending = element.modifier is operators.desc_op
            element = element.element
        if isinstance(element, UnaryExpression) and element.modifier in (*_DIRECTIONS, *_NULLS):
            raise ValueError(
                f"keyset column {item}: give the direction, then the NULLs placement, once "
                "each: column.desc().nulls_last()"
            )
        if not isinstance(element, ColumnElement):
            raise TypeError(
                "keyset items must be columns or column.asc()/.desc() (optionally "
                f".nulls_first()/.nulls_last()), not {item!r}"
            )
        nullable = placement is not None or getattr(element, "nullable", None) is not False
        nulls_first = descending if placement is None else placement
        keys.append(SortKey(element, descending, nulls_first, nullable))
    return keys


def _table_column(expression: ColumnElement[Any]) -> tuple[Any, Table, str] | None:
    """``(from clause, table, column name)`` of a keyset column that is a column of a
    ``Table`` (directly, through an ORM attribute or ``aliased()``, or a label of one); ``None``
    when the metadata cannot tell what it is (an expression, a column of a subquery, a CTE, a
    text query or a table-less ``column()``)."""
    element: Any = expression
    while isinstance(element, Label):
        element = element.element
    if not isinstance(element, Column):
        return None
    source: Any = element.table  # a Table, or an Alias of one, a Subquery...
    if isinstance(source, Table):
        return source, source, element.name
    if isinstance(source, Alias) and isinstance(source.element, Table):
        base: Any = source.element.corresponding_column(element)
        if isinstance(base, Column):
            return source, source.element, base.name
    return None


def _is_partial(index: Any) -> bool:
    """A partial index (``postgresql_where``, ``sqlite_where``...) is unique only in part."""
    return any(
        name.endswith("_where") and value is not None
        for name, value in index.dialect_kwargs.items()
    )


def unique_keys(table: Table) -> list[tuple[str, ...]]:
    """Column sets that the table's metadata says identify a row: its primary key, then each
    unique constraint and unique index over plain NOT NULL columns (a unique column that may
    hold NULL can hold many; a partial or expression index does not count)."""
    found: list[tuple[str, ...]] = []
    if len(table.primary_key.columns):
        found.append(tuple(column.name for column in table.primary_key.columns))
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint) and len(constraint.columns):
            columns = list(constraint.columns)
            if not any(column.nullable for column in columns):
                found.append(tuple(column.name for column in columns))
    for index in sorted(table.indexes, key=lambda index: str(index.name)):
        if not index.unique or _is_partial(index):
            continue
        columns = [e for e in index.expressions if isinstance(e, Column)]
        plain = bool(columns) and len(columns) == len(index.expressions)
        if plain and not any(column.nullable for column in columns):
            found.append(tuple(column.name for column in columns))
    return found


def check_unique(keys: Sequence[SortKey]) -> None:
    """Refuse a keyset that the tables' metadata shows not to be unique.

    A keyset pages correctly only if no two rows share all its values: after a page that ends
    on ``(x, ...)``, the next one starts strictly after it, so rows tying with the last one are
    skipped. It is accepted when its columns of one table (or one alias of a table) include all
    the columns of :func:`unique_keys` for that table, wherever they stand in the keyset. It is
    not checked when some keyset column is one the metadata cannot tell about (see
    :func:`_table_column`) and no unique key is found among the others.

    :raises ValueError: naming the keyset's columns and what to add.
    """
    by_source: dict[Any, tuple[Table, set[str]]] = {}
    unknown = False
    for key in keys:
        found = _table_column(key.expression)
        if found is None:
            unknown = True
            continue
        source, table, name = found
        by_source.setdefault(source, (table, set()))[1].add(name)
    for table, names in by_source.values():
        if any(set(unique) <= names for unique in unique_keys(table)):
            return
    if unknown or not by_source:
        return  # an expression or a subquery's column: the metadata cannot tell
    raise ValueError(_not_unique_message(keys, list(by_source)))


def _not_unique_message(keys: Sequence[SortKey], sources: Sequence[Any]) -> str:
    """What is wrong and the keyset to use instead (``sources``: the keyset's tables, or
    aliases of tables, in order)."""

    def shown(key: SortKey) -> str:
        found = _table_column(key.expression)
        text = f"{found[0].name}.{found[2]}" if found is not None else str(key.expression)
        if key.descending:
            text += ".desc()"
        return text

    def keys_of(source: Any) -> str:
        table = source if isinstance(source, Table) else source.element
        found = ", ".join(f"({', '.join(unique)})" for unique in unique_keys(table))
        return f"{source.name}'s unique keys: {found or 'none declared'}"

    listed = ", ".join(shown(key) for key in keys)
    known = "; ".join(keys_of(source) for source in sources)
    last = sources[-1]
    table = last if isinstance(last, Table) else last.element
    pk = [column.name for column in table.primary_key.columns]
    message = (
        f"keyset [{listed}] is not unique: it holds no primary key, unique constraint or "
        f"unique index (of NOT NULL columns) of its table ({known}), so rows tying on the "
        "values a page ends with would be skipped by the next page. "
    )
    if pk:
        direction = ".desc()" if keys[-1].descending else ""
        added = ", ".join(f"{last.name}.{name}{direction}" for name in pk)
        return message + (f"Add the primary key as the last sort key: keyset=[{listed}, {added}]")
    return message + (
        f"Declare {table.name}'s primary key (or a unique constraint of NOT NULL columns) on "
        "its Table and add it as the last sort key"
    )


def keys_fingerprint(keys: Sequence[SortKey]) -> str:
    """The fingerprint of the sort order: each key's column, direction and (when not the
    default) NULLs placement, so cursors issued before NULLs were handled still fit."""
    return fingerprint([key.describe() for key in keys])


@dataclass(frozen=True)
class Fetched:
    items: list[Any]
    has_more: bool
    keys: list[tuple[Any, ...]]
    """Sort-key values of each item (keyset pages only)."""


@dataclass(frozen=True)
class PageQuery:
    """The SQL of one page (``limit + 1`` rows: the extra one tells whether there is more),
    maybe a count, and how to make the page out of the rows."""

    statements: tuple[Any, ...]
    """``Select`` statements, or legacy ``Query`` objects (which run on their own session),
    without LIMIT: run in order, each limited to the rows still missing (:meth:`limited`),
    until ``limit + 1`` rows came back. Several only for keys holding NULLs."""
    count_statement: Any | None
    entity: bool
    """One ORM entity is selected: rows are made unique, as ``Session.scalars()`` does."""
    limit: int
    is_query: bool
    """The source is a legacy ``Query``."""
    keys: tuple[SortKey, ...] = ()
    forwards: bool = True

    def limited(self, statement: Any, rows: int) -> Any:
        """``statement`` limited to the rows missing when ``rows`` came back already."""
        return statement.limit(self.limit + 1 - rows)

    def fetched(self, rows: list[Any]) -> Fetched:
        """The page out of the rows the statement returned."""
        has_more = len(rows) > self.limit
        rows = rows[: self.limit]
        if not self.keys:  # offset page
            if self.entity and not self.is_query:
                rows = [row[0] for row in rows]
            return Fetched(rows, has_more, [])
        if not self.forwards:
            rows.reverse()
        if self.entity:  # (entity, key 1, key 2...)
            width = len(self.keys)
            items = [row[0] for row in rows]
            values = [tuple(row[-width:]) for row in rows]
        else:
            items = rows
            try:
                values = [tuple(row._mapping[key.expression] for key in self.keys) for row in rows]
            except KeyError as error:
                raise ValueError(
                    f"keyset column {error.args[0]} must be among the selected columns "
                    "(or select one ORM entity)"
                ) from None
        if any(value[-1] is None for value in values):
            raise ValueError(
                f"keyset column {self.keys[-1].expression} is NULL in a row: the last keyset "
                "column must be unique and NOT NULL (end the keyset with the primary key)"
            )
        return Fetched(items, has_more, values)


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


def _count_statement(source: Any) -> Any:
    """``COUNT(*)`` of every row the statement selects (its ORDER BY dropped)."""
    if isinstance(source, Query):
        return source.order_by(None)  # run with Query.count()
    return select(func.count()).select_from(source.order_by(None).subquery())


def offset_query(source: Any, offset: int, limit: int, total: bool) -> PageQuery:
    """``limit + 1`` rows from ``offset``: the extra row only tells that a next page exists."""
    return PageQuery(
        statements=(source.offset(offset),),
        count_statement=_count_statement(source) if total else None,
        entity=_is_entity(source),
        limit=limit,
        is_query=isinstance(source, Query),
    )


def _beyond(keys: Sequence[SortKey], values: Sequence[Any], forwards: bool) -> Any:
    """Rows strictly after (``forwards``) or before ``values`` in the keys' order, for keys
    that hold no NULL: one condition."""

    def compare(left: Any, descending: bool, right: Any) -> Any:
        return left < right if descending == forwards else left > right

    bounds = [literal(v, key.expression.type) for key, v in zip(keys, values, strict=True)]
    if len(keys) > 1 and len({key.descending for key in keys}) == 1:
        # One direction: a row-value comparison, which a composite index serves directly.
        left = tuple_(*(key.expression for key in keys))
        return compare(left, keys[0].descending, tuple_(*bounds))
    clauses = []  # mixed directions: a > x OR (a = x AND b < y) OR ...
    for index, key in enumerate(keys):
        equal = [keys[i].expression == bounds[i] for i in range(index)]
        clauses.append(and_(*equal, compare(key.expression, key.descending, bounds[index])))
    return or_(*clauses)


def _equal(key: SortKey, value: Any) -> Any:
    if value is None:
        return key.expression.is_(None)
    return key.expression == literal(value, key.expression.type)


def _segments(keys: Sequence[SortKey], values: Sequence[Any], forwards: bool) -> list[Any]:
    """Rows strictly after (``forwards``) or before ``values`` when keys may hold NULLs: as
    consecutive stretches of the listing in reading order, each one index range.

    With ``(a, b)`` ascending, NULLs last, after ``(x, y)``: ``a = x AND b > y``, then
    ``a = x AND b IS NULL`` (when ``b`` may be NULL), then ``a > x``, then ``a IS NULL``.
    After a NULL ``a``: ``a IS NULL AND b > y`` (NULLs last), or then ``a IS NOT NULL`` (NULLs
    first). One ``a > x OR a IS NULL OR ...`` would be right too, but an index cannot serve it
    in order: every page would cost the scan of all the rows before it.

    The stretches of the last keys that sort one way and, but for the first of them, put no
    NULLs after the values (NOT NULL, or NULLs first) are one row-value comparison:
    ``(a, id) > (x, y)``, then ``a IS NULL``.
    """
    reading = [
        (key.descending == forwards, key.nulls_first == forwards, key.nullable) for key in keys
    ]

    def nulls_after(index: int) -> bool:
        _, nulls_first, nullable = reading[index]
        return nullable and not nulls_first

    first = len(keys) - 1  # the run of last keys merged into one row-value comparison
    while (
        first > 0
        and values[first - 1] is not None
        and values[first] is not None
        and reading[first - 1][0] == reading[first][0]
        and not nulls_after(first)
    ):
        first -= 1
    segments = []
    for index in range(first, -1, -1):
        key, value = keys[index], values[index]
        descending, nulls_first, _ = reading[index]
        prefix = [_equal(keys[i], values[i]) for i in range(index)]
        if value is None:
            if nulls_first:  # after the NULLs: every value
                segments.append(and_(*prefix, key.expression.is_not(None)))
            continue
        if index == first and first < len(keys) - 1:
            left = tuple_(*(k.expression for k in keys[first:]))
            run = zip(keys[first:], values[first:], strict=True)
            right = tuple_(*(literal(v, k.expression.type) for k, v in run))
            after = left < right if descending else left > right
        else:
            bound = literal(value, key.expression.type)
            after = key.expression < bound if descending else key.expression > bound
        segments.append(and_(*prefix, after))
        if nulls_after(index):
            segments.append(and_(*prefix, key.expression.is_(None)))
    return segments


def keyset_query(
    source: Any, keys: Sequence[SortKey], position: Position | None, limit: int, total: bool
) -> PageQuery:
    """``limit + 1`` rows from ``position`` in the keys' order, however deep: index ranges.

    Backward pages (``p`` and ``l``) are read in reverse order and turned round. Keys that
    hold no NULL give one statement; keys that may give a statement per stretch of the
    listing (see :func:`_segments`), run in order until the page is full.
    """
    forwards = position is None or position.direction == "n"
    statement = source.order_by(None).order_by(*(key.ordered(forwards) for key in keys))
    entity = _is_entity(source)
    if entity:
        labels = [key.expression.label(_KEY_LABEL.format(i)) for i, key in enumerate(keys)]
        statement = statement.add_columns(*labels)
    statements = [statement]
    if position is not None and position.direction != "l":
        values = position.values
        if not any(key.nullable for key in keys) and None not in values:
            statements = [statement.filter(_beyond(keys, values, forwards))]
        else:
            statements = [statement.filter(s) for s in _segments(keys, values, forwards)]
    return PageQuery(
        statements=tuple(statements),
        count_statement=_count_statement(source) if total else None,
        entity=entity,
        limit=limit,
        is_query=isinstance(source, Query),
        keys=tuple(keys),
        forwards=forwards,
    )


_NO_SESSION = "paginate() needs session= (a Session or Connection) to run a Select"
_NO_ASYNC_SESSION = "paginate_async() needs session= (an AsyncSession or AsyncConnection)"


def _is_async_session(session: Any) -> bool:
    asyncio_ext = sys.modules.get("sqlalchemy.ext.asyncio")
    if asyncio_ext is None:  # never imported: nothing can be an AsyncSession
        return False
    return isinstance(
        session,
        (asyncio_ext.AsyncSession, asyncio_ext.AsyncConnection, asyncio_ext.async_scoped_session),
    )


def _rows(page: PageQuery, result: Any) -> list[Any]:
    # ORM entities: unique() as Session.scalars() does (joined eager loads need it).
    return list(result.unique().all() if page.entity else result.all())


def execute(page: PageQuery, session: Any) -> tuple[Fetched, int | None]:
    """Run the page (and the count) on a ``Session`` or ``Connection``."""
    rows: list[Any] = []
    if page.is_query:
        for query in page.statements:
            rows.extend(page.limited(query, len(rows)).all())
            if len(rows) > page.limit:
                break
        total = None if page.count_statement is None else int(page.count_statement.count())
        return page.fetched(rows), total
    if session is None:
        raise TypeError(_NO_SESSION)
    if _is_async_session(session):
        raise TypeError(
            f"paginate() got {type(session).__name__}: await paginate_async(...) with the same "
            "arguments instead"
        )
    for statement in page.statements:
        rows.extend(_rows(page, session.execute(page.limited(statement, len(rows)))))
        if len(rows) > page.limit:
            break
    total = None
    if page.count_statement is not None:
        total = int(session.execute(page.count_statement).scalar_one())
    return page.fetched(rows), total


async def execute_async(page: PageQuery, session: Any) -> tuple[Fetched, int | None]:
    """Run the page (and the count) on an ``AsyncSession`` or ``AsyncConnection``."""
    if page.is_query:
        raise TypeError(
            "paginate_async() cannot run a legacy Query (it runs on a sync Session): give it "
            "a select() and an AsyncSession, or call paginate()"
        )
    if session is None:
        raise TypeError(_NO_ASYNC_SESSION)
    if isinstance(session, (Session, Connection, scoped_session)):
        raise TypeError(
            f"paginate_async() got a {type(session).__name__}, which does not await: call "
            "paginate() with the same arguments instead"
        )
    rows: list[Any] = []
    for statement in page.statements:
        rows.extend(_rows(page, await session.execute(page.limited(statement, len(rows)))))
        if len(rows) > page.limit:
            break
    total = None
    if page.count_statement is not None:
        total = int((await session.execute(page.count_statement)).scalar_one())
    return page.fetched(rows), total
