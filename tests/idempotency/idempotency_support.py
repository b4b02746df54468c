"""Names the idempotency tests import (a module of its own: conftests share the name)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

SPEC = Path(__file__).parent / "idempotency_spec.yaml"

AppMaker = Callable[..., Any]
StoreSettings = Callable[..., dict[str, Any]]
"""Idempotency settings of one store (the ``store`` fixture): ``store(**more)``."""

# Header fields that differ between two answers of the same stored response.
PER_RESPONSE = {"x-request-id", "idempotent-replayed", "date"}


def same_response(first: Any, second: Any) -> bool:
    """Whether two httpx responses are the same stored response: status, body, and every
    header field but the per-response ones."""

    def fields(response: Any) -> list[tuple[str, str]]:
        return sorted((k, v) for k, v in response.headers.items() if k not in PER_RESPONSE)

    return (
        first.status_code == second.status_code
        and first.content == second.content
        and fields(first) == fields(second)
    )


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


class Forwarder:
    """A TCP port forwarded to Redis while ``up``: Redis that goes away and comes back."""

    def __init__(self, target: tuple[str, int]) -> None:
        import socket
        import threading

        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = False
        self.open: list[Any] = []
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        import socket
        import threading

        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()  # refused, as by a stopped server
                continue
            upstream = socket.create_connection(self.target)
            self.open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    def down(self) -> None:
        """Stop forwarding and cut every open connection."""
        self.up = False
        for connection in self.open:
            _close(connection)
        self.open.clear()

    def close(self) -> None:
        self._stop = True
        self.down()
        _close(self.listener)


def _pump(source: Any, sink: Any) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(sink)


def _close(connection: Any) -> None:
    import socket

    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
    connection.close()
