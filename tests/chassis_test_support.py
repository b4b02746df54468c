"""Helpers shared by every package's tests that start real servers (tests/ is on sys.path)."""

from __future__ import annotations

import socket
import subprocess
import time
from typing import Any

import httpx


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(
    url: str, process: subprocess.Popen[Any] | None = None, timeout: float = 40.0
) -> None:
    """Poll ``url`` until it answers below 500; fail if ``process`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the server exited at start-up (code {process.returncode})")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer in {timeout} s")
        time.sleep(0.1)
