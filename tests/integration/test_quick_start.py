"""What a new user runs first, as the READMEs and the Makefile say: ``make run``, ``make dist``
and the install lines."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from chassis_test_support import eventually, free_port, fresh_venv, user_env, wait_until_serving

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).parents[2]
PACKAGES = {path.name: path for path in (ROOT / "packages").iterdir() if path.is_dir()}
READMES = [ROOT / "README.md", *sorted((ROOT / "packages").glob("*/README.md"))]
PIP_INSTALL = re.compile(r"\bpip install ([^\n`#]+)")


def _requirements(arguments: str) -> list[str]:
    """The distributions an install line names (options, their values and paths left out)."""
    names = []
    words = iter(shlex.split(arguments))
    for word in words:
        if word in ("--find-links", "-f", "--index-url", "-i", "--extra-index-url"):
            next(words, None)
        elif not word.startswith("-") and "/" not in word and not word.endswith(".whl"):
            names.append(word)
    return names


def _extras(distribution: str) -> set[str]:
    project = tomllib.loads((PACKAGES[distribution] / "pyproject.toml").read_text())["project"]
    return set(project.get("optional-dependencies", {}))


def test_install_lines_name_our_distributions_and_their_real_extras():
    seen = []
    for readme in READMES:
        for arguments in PIP_INSTALL.findall(readme.read_text()):
            for requirement in _requirements(arguments):
                match = re.fullmatch(r"(chassis-[a-z0-9-]+)(?:\[([a-z0-9,-]+)\])?", requirement)
                if match is None:  # a third-party package (uvicorn-worker...)
                    continue
                name, extras = match[1], match[2]
                assert name in PACKAGES, f"{readme}: {requirement}: no such package"
                for extra in (extras or "").split(","):
                    assert not extra or extra in _extras(name), f"{readme}: {requirement}"
                seen.append((readme.name, requirement))
    assert seen


def _quick_start_install() -> str:
    """The README's install line, for the distributions that ``make dist`` builds."""
    lines = [
        line.split("#")[0].strip()
        for line in (ROOT / "README.md").read_text().splitlines()
        if line.startswith("pip install --find-links dist ")
    ]
    assert len(lines) == 1, "the quick start installs what make dist built"
    return lines[0]


def test_the_quick_start_exports_traces():
    """chassis-tracing without its [sdk] extra records no span: the quick start has it."""
    requirements = _requirements(_quick_start_install().removeprefix("pip install"))
    tracing = [r for r in requirements if r.startswith("chassis-tracing")]
    assert tracing == ["chassis-tracing[sdk]"]
    assert "sdk" in _extras("chassis-tracing")
    tracing_readme = (PACKAGES["chassis-tracing"] / "README.md").read_text()
    first_install = PIP_INSTALL.search(tracing_readme)
    assert first_install is not None
    assert _requirements(first_install[1]) == ["chassis-tracing[sdk]"]


def test_make_dist_builds_distributions_that_install_as_the_readme_says(tmp_path):
    """``make dist`` (three of the packages, into a folder of the test's), then the README's
    install line in a fresh venv, pointed at that folder and at no index: the venv sees the
    workspace's third-party packages, so only chassis comes from the built wheels."""
    dist = tmp_path / "dist"
    names = ["chassis-core", "chassis-metrics", "chassis-tracing"]
    build = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "dist",
            f"DIST={dist}",
            "DIST_PACKAGES=" + " ".join(f"packages/{name}" for name in names),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    built = sorted(path.name for path in dist.iterdir() if not path.name.startswith("."))
    assert built == sorted(
        [
            *(
                f"{name.replace('-', '_')}-0.1.0{suffix}"
                for name in names
                for suffix in ("-py3-none-any.whl", ".tar.gz")
            ),
            "build-info.json",  # what GET /info shows as the build (CHASSIS_INFO__BUILD_FILE)
        ]
    )
    build_info = json.loads((dist / "build-info.json").read_text())
    assert set(build_info) == {"commit", "time"}
    assert build_info["time"].endswith("Z")

    venv_bin = fresh_venv(tmp_path / "venv", sees="dependencies")
    env = user_env(venv_bin)
    install = _quick_start_install().replace(
        "--find-links dist ", f"--no-index --find-links {shlex.quote(str(dist))} "
    )
    result = subprocess.run(
        ["bash", "-c", install],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    # The chassis command of the venv, from the chassis-core wheel, finds both plugins.
    plugins = subprocess.run(
        [str(venv_bin / "chassis"), "plugins", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert plugins.returncode == 0, plugins.stdout + plugins.stderr
    listed = {row["name"]: row for row in json.loads(plugins.stdout)}
    assert {name: (row["distribution"], row["enabled"]) for name, row in listed.items()} == {
        "metrics": ("chassis-metrics", True),
        "tracing": ("chassis-tracing", True),
    }
    where = subprocess.run(
        [
            str(venv_bin / "python"),
            "-c",
            "import chassis, chassis_metrics; print(chassis.__file__)",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(tmp_path / "venv")  # not the workspace's


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # gone meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_make_run_stops_when_make_is_stopped(tmp_path):
    """SIGTERM to make's process id stops the server too (the recipe execs it): nothing keeps
    the port or runs on."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHASSIS_")}
    # The example's own database, in the test's folder rather than the work tree.
    env["CHASSIS_SQLALCHEMY__URL"] = f"sqlite:///{tmp_path / 'directmail.db'}"
    env["CHASSIS_LOG_LEVEL"] = "WARNING"
    log = tmp_path / "make.log"
    with log.open("wb") as out:
        make = subprocess.Popen(
            # The workspace is installed: do not let make sync it again in the middle of a run.
            ["make", "--no-print-directory", "--assume-old=.venv/.synced", "run", f"PORT={port}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own, to clean up after a failure
        )
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        wait_until_serving(url, make)
        assert httpx.get(url, timeout=2).json()["service"] == "directmail"  # chassis.toml read
        tree = _descendants(make.pid)
        assert tree, "the server runs under make"

        make.send_signal(signal.SIGTERM)
        make.wait(15)

        def port_closed() -> bool:
            try:
                httpx.get(url, timeout=1)
            except httpx.TransportError:
                return True
            return False

        assert eventually(port_closed, within=5), log.read_text()[-3000:]
        assert eventually(lambda: not any(_alive(pid) for pid in tree), within=5)
    finally:
        if make.poll() is None:
            make.kill()
            make.wait(5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(make.pid, signal.SIGKILL)  # whatever it left running (the old recipe)
