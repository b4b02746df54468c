"""``paginate()`` and ``paginate_async()``: one page of a SQLAlchemy statement, a legacy Query
or a sequence.

Both share everything but running SQL: :func:`_plan` checks the request and the arguments and
builds the page's statements; ``paginate`` runs them on a ``Session``/``Connection``,
``paginate_async`` awaits them on an ``AsyncSession``/``AsyncConnection``; :class:`_Plan`'s
``finish`` turns the rows into the same :class:`Page` either way.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from chassis import get_context

from ._config import STATE_LIMITS, STATE_PAGE, PaginationConfig, config_of
from ._cursor import Direction, Position
from ._errors import InvalidPageParameter
from ._params import (
    CURSOR,
    OFFSET,
    Limits,
    PageRequest,
    check_cursor,
    check_limit,
    check_offset,
    parse_page_request,
    query_values,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_scoped_session
    from sqlalchemy.orm import Query, Session, scoped_session
    from sqlalchemy.sql import Select

    from ._sql import Fetched, PageQuery

T = TypeVar("T")


class Page(list[T], Generic[T]):
    """One page of a listing: a ``list`` of its items, and where it sits in the listing.

    Return it from a handler as it is, or turn its items into dicts first: the ``Link``
    header and ``meta.pagination`` are added after the handler returns either way.

    :ivar limit: the page size in force.
    :ivar offset: the page's offset (offset pagination), else ``None``.
    :ivar total: the number of items in the whole listing, when totals are on, else ``None``.
    :ivar has_next: a next page exists (found by fetching one item more, not by counting).
    :ivar has_prev: a previous page exists.
    :ivar cursor: the cursor this page was asked with (keyset pagination), else ``None``.
    :ivar next_cursor: the cursor of the next page (keyset pagination).
    :ivar prev_cursor: the cursor of the previous page (keyset pagination).
    :ivar last_cursor: the cursor of the last page (keyset pagination).
    """

    limit: int
    offset: int | None
    total: int | None
    has_next: bool
    has_prev: bool
    cursor: str | None
    next_cursor: str | None
    prev_cursor: str | None
    last_cursor: str | None

    def __init__(
        self,
        items: Sequence[T] = (),
        *,
        limit: int,
        offset: int | None = None,
        total: int | None = None,
        has_next: bool = False,
        has_prev: bool = False,
        cursor: str | None = None,
        next_cursor: str | None = None,
        prev_cursor: str | None = None,
        last_cursor: str | None = None,
    ) -> None:
        super().__init__(items)
        self.limit = limit
        self.offset = offset
        self.total = total
        self.has_next = has_next
        self.has_prev = has_prev
        self.cursor = cursor
        self.next_cursor = next_cursor
        self.prev_cursor = prev_cursor
        self.last_cursor = last_cursor

    @property
    def is_keyset(self) -> bool:
        """Was this page cut by keyset (cursor) pagination?"""
        return self.offset is None

    def __repr__(self) -> str:
        where = f"offset={self.offset}" if self.offset is not None else f"cursor={self.cursor!r}"
        return (
            f"<Page {where} limit={self.limit} items={len(self)} has_next={self.has_next} "
            f"has_prev={self.has_prev} total={self.total}>"
        )


def _is_sqlalchemy(source: Any) -> bool:
    if sys.modules.get("sqlalchemy") is None:  # nothing is a Select if it was never imported
        return False
    from sqlalchemy.orm import Query
    from sqlalchemy.sql import Select

    return isinstance(source, (Select, Query))


@overload
def paginate(
    source: Sequence[T],
    session: None = None,
    *,
    keyset: None = None,
    default_limit: int | None = None,
    max_limit: int | None = None,
    max_offset: int | None = None,
    total: bool | None = None,
    offset: int | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Page[T]: ...


@overload
def paginate(
    source: Select[Any] | Query[Any],
    session: Session | Connection | scoped_session[Any] | None = None,
    *,
    keyset: Sequence[Any] | None = None,
    default_limit: int | None = None,
    max_limit: int | None = None,
    max_offset: int | None = None,
    total: bool | None = None,
    offset: int | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Page[Any]: ...


def paginate(
    source: Any,
    session: Any = None,
    *,
    keyset: Sequence[Any] | None = None,
    default_limit: int | None = None,
    max_limit: int | None = None,
    max_offset: int | None = None,
    total: bool | None = None,
    offset: int | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Page[Any]:
    """Cut one page out of ``source``, as the request's ``offset``/``limit``/``cursor`` say.

    :param source: a SQLAlchemy 2 ``Select`` (run with ``session``), a legacy ORM ``Query``,
        or a sequence (list, tuple...). A ``Select`` of one ORM entity gives entities, any
        other gives ``Row`` objects. Give it a deterministic ``ORDER BY`` for offset pages.
    :param session: the ``Session`` or ``Connection`` that runs a ``Select`` (for an
        ``AsyncSession`` or ``AsyncConnection``, ``await paginate_async(...)``).
    :param keyset: sort columns for keyset (cursor) pagination, e.g.
        ``[Premises.rfs_date.desc(), Premises.id]``: ascending unless ``.desc()``; NULLs sort
        after every value ascending and before them descending unless ``.nulls_first()`` /
        ``.nulls_last()`` says otherwise. They must include a unique key of a table (its
        primary key, or a unique constraint or index of NOT NULL columns: checked in the
        metadata where it can tell) and the last one must be NOT NULL: end with the primary
        key. They replace the statement's ORDER BY. Without ``keyset``, pages are cut by
        ``offset``.
    :param default_limit: page size without ``limit`` (default: the operation's
        ``x-chassis-pagination`` option, else the ``pagination.default_limit`` setting).
    :param max_limit: largest ``limit`` accepted (same defaults).
    :param max_offset: deepest ``offset`` accepted (same defaults).
    :param total: count the whole listing (``X-Total-Count``, ``meta.pagination.total``).
    :param offset: use this offset instead of the request's (still checked).
    :param limit: use this limit instead of the request's (still checked).
    :param cursor: use this cursor instead of the request's.
    :return: the :class:`Page` (a list of items). During a request it is also recorded for
        the plugin's ``wrap_response``, which adds the ``Link`` header, ``X-Total-Count`` and
        ``meta.pagination`` (last call wins).
    :raises InvalidPageParameter: (a 400 problem+json) a bad ``offset``, ``limit`` or
        ``cursor``: negative, zero, too large, not an integer, forged or truncated.
    :raises ValueError: a ``keyset`` that the tables' metadata shows not to be unique (the
        message names its columns and the keyset to use instead).
    """
    plan = _plan(source, keyset, default_limit, max_limit, max_offset, total, offset, limit, cursor)
    if plan.query is None:
        return plan.finish(None, None)
    from . import _sql

    fetched, counted = _sql.execute(plan.query, session)
    return plan.finish(fetched, counted)


@overload
async def paginate_async(
    source: Sequence[T],
    session: None = None,
    *,
    keyset: None = None,
    default_limit: int | None = None,
    max_limit: int | None = None,
    max_offset: int | None = None,
    total: bool | None = None,
    offset: int | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Page[T]: ...


@overload
async def paginate_async(
    source: Select[Any],
    session: AsyncSession | AsyncConnection | async_scoped_session[Any],
    *,
    keyset: Sequence[Any] | None = None,
    default_limit: int | None = None,
    max_limit: int | None = None,
    max_offset: int | None = None,
    total: bool | None = None,
    offset: int | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Page[Any]: ...


async def paginate_async(
    source: Any,
    session: Any = None,
    *,
    keyset: Sequence[Any] | None = None,
    default_limit: int | None = None,
    max_limit: int | None = None,
    max_offset: int | None = None,
    total: bool | None = None,
    offset: int | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Page[Any]:
    """:func:`paginate` for ``async def`` handlers: a ``Select`` run on an ``AsyncSession`` or
    ``AsyncConnection`` (or a sequence). Same arguments, same checks, same :class:`Page`,
    links, cursors and errors; only the statements are awaited.

    :raises TypeError: given a sync ``Session``/``Connection`` or a legacy ``Query`` (both run
        synchronously: use :func:`paginate`).
    """
    plan = _plan(source, keyset, default_limit, max_limit, max_offset, total, offset, limit, cursor)
    if plan.query is None:
        return plan.finish(None, None)
    from . import _sql

    fetched, counted = await _sql.execute_async(plan.query, session)
    return plan.finish(fetched, counted)


@dataclass(frozen=True)
class _Plan:
    """A checked page request: the SQL to run (``None`` for a sequence), and what makes the
    :class:`Page` out of what it returned (and records it for ``wrap_response``)."""

    query: PageQuery | None
    make: Callable[[Fetched | None, int | None], Page[Any]]
    context: Any

    def finish(self, fetched: Fetched | None, counted: int | None) -> Page[Any]:
        page = self.make(fetched, counted)
        if self.context is not None:
            self.context.state[STATE_PAGE] = page
        return page


def _plan(
    source: Any,
    keyset: Sequence[Any] | None,
    default_limit: int | None,
    max_limit: int | None,
    max_offset: int | None,
    total: bool | None,
    offset: int | None,
    limit: int | None,
    cursor: str | None,
) -> _Plan:
    context = get_context()
    config = config_of(context.app if context is not None else None)
    limits: Limits = config.limits
    if context is not None:
        limits = context.state.get(STATE_LIMITS, limits)
    limits = limits.merged(
        {
            "default_limit": default_limit,
            "max_limit": max_limit,
            "max_offset": max_offset,
            "total": total,
        }
    )
    request = _page_request(context, limits, offset, limit, cursor)
    if keyset is not None:
        if not _is_sqlalchemy(source):
            raise TypeError("keyset pagination needs a SQLAlchemy Select or Query to paginate")
        return _keyset_plan(context, source, keyset, request, limits, config)
    if request.cursor is not None:
        raise InvalidPageParameter(
            CURSOR, "is not supported here: this listing pages with 'offset' and 'limit'"
        )
    return _offset_plan(context, source, request, limits)


def _page_request(
    context: Any, limits: Limits, offset: int | None, limit: int | None, cursor: str | None
) -> PageRequest:
    values = query_values(context.scope.get("query_string", b"")) if context is not None else {}
    request = parse_page_request(values, limits)
    if offset is not None:
        request = PageRequest(request.limit, check_offset(offset, limits), request.cursor)
    if limit is not None:
        request = PageRequest(check_limit(limit, limits), request.offset, request.cursor)
    if cursor is not None:
        request = PageRequest(request.limit, request.offset, check_cursor(cursor))
    return request


def _offset_plan(context: Any, source: Any, request: PageRequest, limits: Limits) -> _Plan:
    offset = request.offset or 0
    limit = request.limit

    def page(items: Sequence[Any], has_next: bool, total: int | None) -> Page[Any]:
        return Page(
            items, limit=limit, offset=offset, total=total, has_next=has_next, has_prev=offset > 0
        )

    if isinstance(source, Sequence) and not isinstance(source, (str, bytes, bytearray)):
        items = source[offset : offset + limit]
        has_next = offset + limit < len(source)
        total = len(source) if limits.total else None
        return _Plan(None, lambda fetched, counted: page(items, has_next, total), context)
    if _is_sqlalchemy(source):
        from . import _sql

        def from_rows(fetched: Fetched | None, counted: int | None) -> Page[Any]:
            assert fetched is not None
            return page(fetched.items, fetched.has_more, counted)

        return _Plan(_sql.offset_query(source, offset, limit, limits.total), from_rows, context)
    raise TypeError(
        "paginate() takes a SQLAlchemy Select or Query, or a sequence (list, tuple...), "
        f"not {type(source).__name__}"
    )


def _keyset_plan(
    context: Any,
    source: Any,
    keyset: Sequence[Any],
    request: PageRequest,
    limits: Limits,
    config: PaginationConfig,
) -> _Plan:
    from . import _sql

    if request.offset is not None:
        raise InvalidPageParameter(
            OFFSET, "is not supported here: this listing pages with 'cursor'"
        )
    config.uses_cursors("a listing pages with cursors")
    keys = _sql.sort_keys(keyset)
    _sql.check_unique(keys)
    fingerprint = _sql.keys_fingerprint(keys)
    position = None
    if request.cursor is not None:
        position = config.codec.decode(request.cursor)
        if position.fingerprint != fingerprint:
            raise InvalidPageParameter(CURSOR, "belongs to a listing sorted another way")
        if position.direction != "l" and len(position.values) != len(keys):
            raise InvalidPageParameter(CURSOR, "is malformed")
    query = _sql.keyset_query(source, keys, position, request.limit, limits.total)

    def make(direction: Direction, values: tuple[Any, ...] = ()) -> str:
        return config.codec.encode(Position(direction, values, fingerprint))

    def from_rows(fetched: Fetched | None, counted: int | None) -> Page[Any]:
        assert fetched is not None
        first_key = fetched.keys[0] if fetched.keys else None
        last_key = fetched.keys[-1] if fetched.keys else None
        if position is None or position.direction == "n":
            has_prev = position is not None
            has_next = fetched.has_more
        else:  # read backwards: there is more before when the extra row came back
            has_prev = fetched.has_more
            has_next = position.direction == "p"
        next_cursor = make("n", last_key) if has_next and last_key is not None else None
        prev_cursor = None
        if has_prev:
            prev_cursor = make("p", first_key) if first_key is not None else make("l")
        return Page(
            fetched.items,
            limit=request.limit,
            total=counted,
            has_next=has_next,
            has_prev=has_prev,
            cursor=request.cursor,
            next_cursor=next_cursor,
            prev_cursor=prev_cursor,
            last_cursor=make("l"),
        )

    return _Plan(query, from_rows, context)
