"""``chassis new-plugin NAME``: a plugin distribution that installs and passes its own test."""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from ._app import __version__
from ._settings import Settings

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")

_FILES = {
    "pyproject.toml": """\
[build-system]
requires = ["hatchling>=1.24"]
build-backend = "hatchling.build"

[project]
name = "chassis-{dash}"
version = "0.1.0"
description = "A chassis plugin: {name}"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["chassis-core>={core}"]

[project.optional-dependencies]
test = ["pytest>=8", "httpx>=0.27"]

[project.entry-points."chassis.plugins"]
{name} = "chassis_{name}"

[tool.hatch.build.targets.wheel]
packages = ["src/chassis_{name}"]
""",
    "README.md": """\
# chassis-{dash}

A [chassis](https://pypi.org/project/chassis-core/) plugin. Installed, it loads in every
chassis service unless settings switch it off (`CHASSIS_{upper}__ENABLED=false`).

| setting | default | meaning |
|---|---|---|
| `CHASSIS_{upper}__HEADER` | `X-{title}` | response header this plugin adds |

    pip install -e '.[test]' && python -m pytest
""",
    "src/chassis_{name}/__init__.py": '''\
"""The {name} chassis plugin: adds a header to every response and reports its health."""

from __future__ import annotations

from typing import Any

import chassis
from connexion.middleware import MiddlewarePosition
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class {title}Settings(chassis.PluginSettings):
    header: str = "X-{title}"


class HeaderMiddleware:
    def __init__(self, app: ASGIApp, *, header: str) -> None:
        self.app = app
        self.header = (header.lower().encode("latin-1"), b"on")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), self.header]
            await send(message)

        await self.app(scope, receive, send_with_header if scope["type"] == "http" else send)


@chassis.hookimpl
def settings_model() -> type[{title}Settings]:
    return {title}Settings


@chassis.hookimpl
def configure_app(app: chassis.BaseApp, settings: Any) -> None:
    app.add_middleware(
        HeaderMiddleware,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        header=settings.{name}.header,
    )


@chassis.hookimpl
def health_info() -> dict[str, dict[str, Any]]:
    return {{"{name}": {{"status": "up"}}}}
''',
    "src/chassis_{name}/py.typed": "",
    "tests/test_{name}.py": """\
import importlib.metadata

import chassis_{name}


def test_plugin_is_installed():
    names = [ep.name for ep in importlib.metadata.entry_points(group="chassis.plugins")]
    assert "{name}" in names


def test_header_and_health(make_chassis_app):
    app = make_chassis_app(plugins={{"{name}": chassis_{name}}})
    with app.test_client() as client:
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.headers["x-{lower_title}"] == "on"
    assert response.json()["checks"]["{name}"]["status"] == "up"


def test_loaded_from_its_entry_point(make_chassis_app):
    app = make_chassis_app(settings={{"plugins": ["{name}"]}})
    assert [info.name for info in app.active_plugins] == ["{name}"]
""",
}


def write_plugin(name: str, directory: Path) -> Path:
    """Write ``chassis-NAME/`` under ``directory`` and return its path."""
    if not _NAME.match(name):
        raise ValueError(
            f"{name!r} is not a valid plugin name: use lower case letters, digits and "
            "underscores, starting with a letter"
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise ValueError(f"{name!r} is a Python keyword: settings.{name} could not be written")
    if name in Settings.model_fields:
        raise ValueError(
            f"{name!r} is a core setting (CHASSIS_{name.upper()}): choose another name"
        )
    title = "".join(part.capitalize() for part in name.split("_"))
    values = {
        "name": name,
        "dash": name.replace("_", "-"),
        "upper": name.upper(),
        "title": title,
        "lower_title": title.lower(),
        "core": __version__,
    }
    root = directory / f"chassis-{values['dash']}"
    if root.exists():
        raise FileExistsError(f"{root} already exists")
    for template, text in _FILES.items():
        path = root / template.format(**values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.format(**values) if text else "")
    return root
