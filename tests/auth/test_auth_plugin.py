"""The plugin as a distribution: entry point, settings errors, a light import, direct use."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from importlib.metadata import entry_points
from typing import Any

import chassis
import chassis_auth
import pytest
from auth_spec import SPEC
from chassis_auth.testing import LocalIssuer
from chassis_test_support import run_python


def test_auth_entry_point_is_installed() -> None:
    (found,) = [ep for ep in entry_points(group="chassis.plugins") if ep.name == "auth"]

    assert found.value == "chassis_auth"
    assert found.dist is not None and found.dist.name == "chassis-auth"


def test_auth_loads_from_its_entry_point(make_chassis_app: Any, auth_issuer: LocalIssuer) -> None:
    app = make_chassis_app(
        spec=SPEC, settings={"plugins": ["auth"], **auth_issuer.settings()}, autoload=True
    )

    assert [info.name for info in app.active_plugins] == ["auth"]
    with app.test_client() as client:
        assert client.get("/bearer", headers=auth_issuer.auth_header()).status_code == 200
        assert client.get("/bearer").status_code == 401


@pytest.mark.parametrize(
    ("section", "variable", "message"),
    [
        ({"algorithms": ["RS256", "none"]}, "CHASSIS_AUTH__ALGORITHMS", "'none' is not"),
        ({"algorithms": ["RS257"]}, "CHASSIS_AUTH__ALGORITHMS", "unknown algorithm 'RS257'"),
        ({"issuer": "login.example.com"}, "CHASSIS_AUTH__ISSUER", "http(s) URL"),
        ({"issuer": "https://login.example.com"}, "CHASSIS_AUTH__AUDIENCE is not set", ""),
        ({"leeway": -1}, "CHASSIS_AUTH__LEEWAY", ""),
        ({"jwks_ttl": 0}, "CHASSIS_AUTH__JWKS_TTL", ""),
        ({"api_key": ["x"]}, "CHASSIS_AUTH__API_KEY", "unknown setting"),
    ],
)
def test_auth_invalid_settings_stop_start_up(
    make_chassis_app: Any, section: dict[str, Any], variable: str, message: str
) -> None:
    with pytest.raises(chassis.SettingsError) as raised:
        make_chassis_app(settings={"auth": section}, plugins=[chassis_auth])

    assert variable in str(raised.value)
    assert message in str(raised.value)


def test_auth_audience_check_can_be_waived(make_chassis_app: Any, auth_issuer: LocalIssuer) -> None:
    settings = {"auth": {"issuer": auth_issuer.issuer, "verify_audience": False}}
    app = make_chassis_app(spec=SPEC, settings=settings, plugins=[chassis_auth])

    with app.test_client() as client:
        headers = auth_issuer.auth_header(aud="anything")
        assert client.get("/bearer", headers=headers).status_code == 200


def test_auth_settings_from_the_environment(
    make_chassis_app: Any, auth_issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHASSIS_AUTH__ISSUER", auth_issuer.issuer)
    monkeypatch.setenv("CHASSIS_AUTH__AUDIENCE", "other-api,test-api")
    monkeypatch.setenv("CHASSIS_AUTH__ALGORITHMS", "RS256,ES256")
    app = make_chassis_app(spec=SPEC, plugins=[chassis_auth])

    assert app.settings.auth.audience == ["other-api", "test-api"]
    assert app.settings.auth.algorithms == ["RS256", "ES256"]
    with app.test_client() as client:
        assert client.get("/bearer", headers=auth_issuer.auth_header()).status_code == 200


def test_auth_import_is_light() -> None:
    """Importing the plugin (what the loader does) pulls in no JWT or crypto library."""
    code = (
        "import sys, chassis_auth\n"
        "heavy = [m for m in ('jwt', 'cryptography', 'prometheus_client') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_auth_without_metrics_never_imports_prometheus() -> None:
    code = (
        "import sys, chassis, chassis_auth\n"
        "from chassis_auth.testing import LocalIssuer\n"
        "with LocalIssuer() as issuer:\n"
        "    app = chassis.App('t', settings={'plugins': [], **issuer.settings()},\n"
        "                      plugins=[chassis_auth])\n"
        f"    app.add_api({SPEC!r})\n"
        "    with app.test_client() as client:\n"
        "        assert client.get('/bearer').status_code == 401\n"
        "        assert client.get('/bearer', headers={'Authorization': 'Bearer x'}).status_code == 401\n"
        "print('prometheus_client' in sys.modules)\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        cwd=str(__import__("pathlib").Path(__file__).parent),
    ).stdout

    assert output.strip().splitlines()[-1] == "False"


def test_auth_authenticator_validates_tokens_directly(
    make_chassis_app: Any, auth_issuer: LocalIssuer
) -> None:
    app = make_chassis_app(settings=auth_issuer.settings(), plugins=[chassis_auth])
    authenticator = chassis_auth.get_authenticator(app)
    assert authenticator is not None

    info = asyncio.run(authenticator.validate_token(auth_issuer.token(["a", "b"])))

    assert info["sub"] == "test-user"
    assert info["scopes"] == ["a", "b"]
    with pytest.raises(chassis_auth.InvalidToken) as refused:
        asyncio.run(authenticator.validate_token(auth_issuer.token(aud="elsewhere")))
    assert refused.value.reason == "wrong_audience"
    assert refused.value.status == 401


def test_auth_get_authenticator_without_the_plugin(make_chassis_app: Any) -> None:
    assert chassis_auth.get_authenticator(make_chassis_app()) is None
