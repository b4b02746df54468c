"""The JSON serializer chassis gives Connexion: fast and compact, unless the application chose.

Connexion's FlaskApp pretty-prints responses through Flask's JSON provider (half the CPU of a
10 KB response); chassis serializes compactly with the standard library instead (or with what
a plugin such as the optimizer installs). An application that sets a Flask JSON provider of
its own (``app.app.json = MyProvider(app.app)``: its types, its key order) gets that provider
for every response, as it would under Connexion alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from connexion.jsonifier import Jsonifier


def compact_jsonifier(indent: int | None) -> Jsonifier:
    if indent is None:
        return Jsonifier(json, separators=(",", ":"))
    return Jsonifier(json, indent=indent)


class KernelJsonifier(Jsonifier):
    """Serializes with ``fast``, or with the Flask JSON provider the application set."""

    def __init__(self, fast: Jsonifier, provider: Callable[[], Any] | None = None) -> None:
        super().__init__(json)
        self.fast = fast
        self._provider = provider
        self.own_providers: set[int] = set()
        """Providers chassis or its plugins installed (``id``): not the application's choice."""

    def application_provider(self) -> Any:
        """The Flask JSON provider the application set, or ``None``."""
        provider = self._provider() if self._provider is not None else None
        return None if provider is None or id(provider) in self.own_providers else provider

    def dumps(self, data: Any, **kwargs: Any) -> str:
        provider = self.application_provider()
        if provider is None:
            dumped: str = self.fast.dumps(data, **kwargs)
            return dumped
        return str(provider.dumps(data, **kwargs)) + "\n"

    def loads(self, data: Any) -> Any:
        return self.fast.loads(data)
