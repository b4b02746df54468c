"""The plugin's hooks: settings, the middleware, and the links added to paginated responses."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import chassis
from chassis import get_context

from ._config import STATE_PAGE, PaginationConfig, config_of
from ._links import LinkBuilder, link_header
from ._middleware import PaginationMiddleware
from ._paginate import Page
from ._settings import PaginationSettings


@chassis.hookimpl
def settings_model() -> type[PaginationSettings]:
    return PaginationSettings


@chassis.hookimpl
def configure_app(app: chassis.BaseApp, plugin: chassis.PluginContext) -> None:
    own: PaginationSettings = plugin.settings
    plugin.state = config = PaginationConfig.from_settings(own)
    # Browsers only let scripts read the paging headers when CORS exposes them.
    app.cors_expose_headers.extend(["Link", config.total_header])
    # After security (the caller is known), before validation (which checks the limits).
    app.add_middleware(PaginationMiddleware, slot="authorized", order=20, config=config)


@chassis.hookimpl
def wrap_response(result: chassis.OperationResult) -> None:
    context = get_context()
    if context is None:
        return
    page = context.state.pop(STATE_PAGE, None)
    if not isinstance(page, Page):
        return
    config = config_of(context.app)
    links = page_links(page, LinkBuilder(context.scope))
    _append_link(result.headers, link_header(links))
    meta: dict[str, Any] = {"limit": page.limit}
    if page.is_keyset:
        meta["cursor"] = page.cursor
    else:
        meta["offset"] = page.offset
    meta["next"] = links.get("next")
    meta["prev"] = links.get("prev")
    meta["first"] = links["first"]
    if "last" in links:
        meta["last"] = links["last"]
    if page.total is not None:
        meta["total"] = page.total
        result.headers[config.total_header] = str(page.total)
    result.meta["pagination"] = meta


def _append_link(headers: MutableMapping[str, str], value: str) -> None:
    for name in list(headers):
        if name.lower() == "link":
            headers[name] = f"{headers[name]}, {value}" if headers[name] else value
            return
    headers["Link"] = value


def page_links(page: Page[Any], builder: LinkBuilder) -> dict[str, str]:
    """The URLs of the first, previous, next and (when known) last pages."""
    limit = str(page.limit)
    links: dict[str, str] = {}
    if page.is_keyset:
        links["first"] = builder.url({"limit": limit})
        if page.has_prev and page.prev_cursor is not None:
            links["prev"] = builder.url({"cursor": page.prev_cursor, "limit": limit})
        if page.has_next:
            if page.next_cursor is None:  # read backwards to the very start
                links["next"] = links["first"]
            else:
                links["next"] = builder.url({"cursor": page.next_cursor, "limit": limit})
        if page.last_cursor is not None:
            links["last"] = builder.url({"cursor": page.last_cursor, "limit": limit})
        return links
    offset = page.offset or 0

    def at(position: int) -> str:
        return builder.url({"offset": str(position), "limit": limit})

    links["first"] = at(0)
    if page.has_prev:
        links["prev"] = at(max(offset - page.limit, 0))
    if page.has_next:
        links["next"] = at(offset + page.limit)
    if page.total is not None:
        links["last"] = at(_last_offset(offset, page.limit, page.total))
    return links


def _last_offset(offset: int, limit: int, total: int) -> int:
    """The start of the last non-empty page on the grid of pages through ``offset``."""
    if total <= 0:
        return 0
    if offset < total:
        return offset + (total - 1 - offset) // limit * limit
    steps = (offset - (total - 1) + limit - 1) // limit
    return max(offset - steps * limit, 0)
