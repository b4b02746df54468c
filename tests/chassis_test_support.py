"""Helpers shared by every package's tests that start real servers (tests/ is on sys.path)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import sysconfig
import textwrap
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

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


def chassis_env(**settings: str) -> dict[str, str]:
    """This process's environment without the ``CHASSIS_*`` variables of the test run, plus
    ``settings``: what a server started by a test sees."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHASSIS_")}
    env.update(settings)
    return env


def start_chassis_run(*args: str, cwd: Path, env: Mapping[str, str]) -> subprocess.Popen[str]:
    """``chassis run ARGS`` started as a user starts it (the venv's console script), with its
    output (stdout and stderr together) readable through ``communicate()``."""
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("chassis")), "run", *args],
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


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


#: The workspace's own distributions (editable in .venv): what a fresh venv installs itself.
WORKSPACE_DISTRIBUTIONS = ("chassis", "_chassis", "_editable_impl_", "directmail")


def fresh_venv(path: Path, *, sees: Literal["workspace", "dependencies"]) -> Path:
    """A new virtual environment with pip at ``path``, for installing as a user would; returns
    its ``bin`` directory.

    So that nothing is downloaded, it sees what the workspace's ``.venv`` has installed:
    ``"workspace"``, everything (chassis-core and the plugins included); ``"dependencies"``,
    only third-party packages (links to all of ``.venv``'s site-packages but the workspace's
    own distributions), so chassis itself comes from what is installed into the venv.
    """
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=120)
    site = Path(sysconfig.get_paths()["purelib"])  # .venv's
    (target,) = path.glob("lib/python*/site-packages")
    if sees == "workspace":
        line = f"import site; site.addsitedir({str(site)!r})"  # its .pth files work too
    else:
        view = path / "workspace-dependencies"
        view.mkdir()
        for entry in site.iterdir():
            if not entry.name.startswith(WORKSPACE_DISTRIBUTIONS) and entry.suffix != ".pth":
                (view / entry.name).symlink_to(entry)
        line = str(view)
    (target / "zz_workspace.pth").write_text(line + "\n")
    return path / "bin"


def user_env(venv_bin: Path) -> dict[str, str]:
    """The environment of a user who activated the venv of ``venv_bin``: its ``bin`` first on
    ``PATH`` (then only the system's), and no ``CHASSIS_*`` or ``PYTHONPATH`` of ours."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CHASSIS_") and k not in ("PYTHONPATH", "PYTHONHOME")
    }
    env["PATH"] = f"{venv_bin}:/usr/local/bin:/usr/bin:/bin"
    env["VIRTUAL_ENV"] = str(venv_bin.parent)
    return env
