"""Helpers shared by every package's tests that start real servers (tests/ is on sys.path)."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def eventually(check: Callable[[], bool], within: float = 5.0, step: float = 0.02) -> bool:
    """Poll ``check`` until it is true (``True``) or ``within`` seconds pass (its last answer)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


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


def run_python(
    code: str, *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (dedented) in a fresh interpreter, with ``args`` as ``sys.argv[1:]``: what
    importing really loads, or a run whose hang must fail one test, not stall the suite."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
