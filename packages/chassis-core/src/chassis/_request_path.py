"""The request path: one ordered list of named slots that every ASGI layer sits in.

Connexion builds its middleware stack from a flat list, and layers added with
``position=MiddlewarePosition.X`` land wherever the order of ``add_middleware`` calls puts
them. chassis declares the whole path instead: Connexion's own layers are slots of their own,
and the kernel's, the plugins' and the application's layers each sit in a named slot, ordered
inside it by the ``order`` the layer declares (then by its name), never by which plugin loaded
first. The list is assembled once, when Connexion builds its stack.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from connexion.middleware import MiddlewarePosition
from connexion.middleware.context import ContextMiddleware
from connexion.middleware.exceptions import ExceptionMiddleware
from connexion.middleware.lifespan import LifespanMiddleware as ConnexionLifespanMiddleware
from connexion.middleware.request_validation import RequestValidationMiddleware
from connexion.middleware.response_validation import ResponseValidationMiddleware
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.security import SecurityMiddleware
from connexion.middleware.server_error import ServerErrorMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware

KERNEL = "kernel"
CONNEXION = "connexion"
APPLICATION = "app"

# Connexion's own layers, by the slot name they occupy.
CONNEXION_LAYERS: Mapping[str, type] = {
    "server_error": ServerErrorMiddleware,
    "exception": ExceptionMiddleware,
    "swagger_ui": SwaggerUIMiddleware,
    "routing": RoutingMiddleware,
    "security": SecurityMiddleware,
    "request_validation": RequestValidationMiddleware,
    "response_validation": ResponseValidationMiddleware,
    "connexion_lifespan": ConnexionLifespanMiddleware,
    "connexion_context": ContextMiddleware,
}

SLOTS: tuple[str, ...] = (
    "server_error",
    "request",  # kernel: request id, current_context, the guard of last resort
    "lifespan",  # kernel: startup/shutdown of the app and its plugins, draining
    "observe",  # tracing, metrics: they see what the client receives
    "cors",  # kernel: CORS (preflights answered here)
    "last_resort",  # kernel: a problem+json 500 for what escaped, with CORS headers
    "encode",  # compression, ETag and conditional requests
    "outer",  # every request and every error response, before Connexion's handlers
    "exception",
    "limits",  # kernel: body and path limits (errors become problem+json)
    "probes",  # kernel: /healthz, /readyz
    "swagger_ui",
    "before_routing",
    "routing",
    "routed",  # the operation is known (kernel: route template)
    "security",
    "authorized",  # the caller is known: rate limits, idempotency, pagination
    "request_validation",
    "response_validation",
    "connexion_lifespan",
    "handler",  # next to the handler: response cache
    "connexion_context",
)
"""Every slot, outermost first. Connexion's layers occupy the slots named in
:data:`CONNEXION_LAYERS`; the others hold the kernel's, the plugins' and the application's."""

OPEN_SLOTS = tuple(slot for slot in SLOTS if slot not in CONNEXION_LAYERS)

# ``position=MiddlewarePosition.X`` (Connexion's API) means "just before X": the slot there.
_POSITION_SLOTS = {
    MiddlewarePosition.BEFORE_EXCEPTION: "outer",
    MiddlewarePosition.BEFORE_SWAGGER: "probes",
    MiddlewarePosition.BEFORE_ROUTING: "before_routing",
    MiddlewarePosition.BEFORE_SECURITY: "routed",
    MiddlewarePosition.BEFORE_VALIDATION: "authorized",
    MiddlewarePosition.BEFORE_CONTEXT: "handler",
}
DEFAULT_SLOT = "handler"  # Connexion's default position, BEFORE_CONTEXT


def slot_of_position(position: MiddlewarePosition) -> str:
    return _POSITION_SLOTS[position]


class Layer(NamedTuple):
    """One layer placed in a slot."""

    factory: Any
    options: dict[str, Any]
    slot: str
    order: int
    name: str
    owner: str
    sequence: int = 0

    def build(self) -> Any:
        return functools.partial(self.factory, **self.options)


class RequestPath:
    """The layers of one app, and how they join Connexion's own into one list."""

    def __init__(self) -> None:
        self.layers: list[Layer] = []
        self.resolved: list[dict[str, Any]] | None = None

    def add(
        self,
        factory: Any,
        *,
        slot: str,
        order: int = 0,
        name: str | None = None,
        owner: str = APPLICATION,
        options: Mapping[str, Any] | None = None,
    ) -> Layer:
        if slot not in OPEN_SLOTS:
            known = ", ".join(OPEN_SLOTS)
            raise ValueError(f"unknown slot {slot!r} for {_name_of(factory)}: use one of {known}")
        layer = Layer(
            factory,
            dict(options or {}),
            slot,
            int(order),
            name or _name_of(factory),
            owner,
            sequence=len(self.layers),
        )
        self.layers.append(layer)
        return layer

    def in_slot(self, slot: str) -> list[Layer]:
        """The layers of ``slot``, outermost first: by ``order``, then name, then arrival."""
        found = [layer for layer in self.layers if layer.slot == slot]
        return sorted(found, key=lambda layer: (layer.order, layer.name, layer.sequence))

    def assemble(self, connexion_layers: Sequence[Any]) -> list[Any]:
        """Connexion's middleware list (as the app was given it) with every layer inserted.

        A slot's layers go just before the first of Connexion's layers that follows the slot
        and is in the list; an application that built Connexion with its own
        ``middlewares=[...]`` without some standard layers still gets every layer, in order.
        Entries of that list that are not Connexion's standard layers stay where they are.
        """
        entries = [(entry, _row_of(entry)) for entry in connexion_layers]
        for slot in OPEN_SLOTS:
            for layer in self.in_slot(slot):
                row = {"name": layer.name, "slot": layer.slot, "owner": layer.owner}
                entries.insert(_anchor(entries, slot), (layer.build(), row))
        self.resolved = [row for _, row in entries]
        return [entry for entry, _ in entries]

    def describe(self, connexion_layers: Sequence[Any], app: Any) -> list[dict[str, Any]]:
        """The resolved path, outermost first: ``name``, ``slot``, ``owner`` of each layer,
        ending with the application Connexion wraps."""
        self.assemble(connexion_layers)
        assert self.resolved is not None
        return [*self.resolved, {"name": type(app).__name__, "slot": "app", "owner": CONNEXION}]


_CONNEXION_SLOT_OF = {cls: slot for slot, cls in CONNEXION_LAYERS.items()}


def _row_of(entry: Any) -> dict[str, Any]:
    target = _unwrap(entry)
    slot = _CONNEXION_SLOT_OF.get(target)
    if slot is not None:
        return {"name": target.__name__, "slot": slot, "owner": CONNEXION}
    # An entry of the application's own ``middlewares=[...]`` list.
    return {"name": _name_of(target), "slot": None, "owner": APPLICATION}


def _anchor(entries: list[tuple[Any, dict[str, Any]]], slot: str) -> int:
    """Where a layer of ``slot`` goes: before the next of Connexion's layers present."""
    for later in SLOTS[SLOTS.index(slot) + 1 :]:
        if later not in CONNEXION_LAYERS:
            continue
        for index, (_, row) in enumerate(entries):
            if row["owner"] == CONNEXION and row["slot"] == later:
                return index
    return len(entries)


def _unwrap(entry: Any) -> Any:
    return entry.func if isinstance(entry, functools.partial) else entry


def _name_of(factory: Any) -> str:
    return str(getattr(factory, "__name__", None) or type(factory).__name__)
