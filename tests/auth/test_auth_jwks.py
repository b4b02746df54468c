"""The key set: discovery, caching, rotation, rate-limited refetches, outages, readiness."""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

import pytest
from chassis_auth.testing import LocalIssuer
from chassis_test_support import eventually


def test_auth_keys_found_by_discovery_and_cached(client: Any, auth_issuer: LocalIssuer) -> None:
    for _ in range(20):  # a new token each time: no help from the token cache
        assert client.get("/bearer", headers=auth_issuer.auth_header()).status_code == 200

    assert (auth_issuer.discovery_fetches, auth_issuer.fetches) == (1, 1)


def test_auth_keys_from_jwks_url(make_chassis_app: Any, auth_issuer: LocalIssuer) -> None:
    import chassis_auth
    from auth_spec import SPEC

    settings = {"auth": {"jwks_url": auth_issuer.jwks_url, "audience": ["test-api"]}}
    app = make_chassis_app(spec=SPEC, settings=settings, plugins=[chassis_auth])
    with app.test_client() as client:
        assert client.get("/bearer", headers=auth_issuer.auth_header()).status_code == 200

    assert (auth_issuer.discovery_fetches, auth_issuer.fetches) == (0, 1)


def test_auth_no_network_while_keys_are_cached(client: Any, auth_issuer: LocalIssuer) -> None:
    assert client.get("/bearer", headers=auth_issuer.auth_header()).status_code == 200
    auth_issuer.available = False
    auth_issuer.delay = 2.0  # any fetch now would show in the timing

    started = time.monotonic()
    for _ in range(10):
        assert client.get("/bearer", headers=auth_issuer.auth_header()).status_code == 200

    assert time.monotonic() - started < 1.5
    assert auth_issuer.fetches == 1


def test_auth_unknown_kid_then_key_rotation(
    auth_app: Any, auth_issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    with auth_app(jwks_min_refetch_interval=0).test_client() as client:
        assert client.get("/bearer", headers=auth_issuer.auth_header()).status_code == 200
        new_kid = auth_issuer.add_key(publish=False)
        headers = auth_issuer.auth_header(kid=new_kid)

        refused = client.get("/bearer", headers=headers)  # unknown kid: refetched, not there
        auth_issuer.publish(new_kid)  # the issuer rotates: the key appears in the JWKS
        accepted = client.get("/bearer", headers=headers)

    assert refused.status_code == 401
    assert [r.auth_reason for r in caplog.records if hasattr(r, "auth_reason")] == ["unknown_kid"]
    assert accepted.status_code == 200
    assert auth_issuer.fetches == 3  # start-up, the refused kid, the rotated kid


def test_auth_rotation_retires_the_old_key(auth_app: Any, auth_issuer: LocalIssuer) -> None:
    with auth_app(jwks_min_refetch_interval=0, token_cache_size=0).test_client() as client:
        old = auth_issuer.auth_header()
        assert client.get("/bearer", headers=old).status_code == 200
        auth_issuer.rotate()
        assert client.get("/bearer", headers=auth_issuer.auth_header()).status_code == 200
        # The refetch for the new kid brought a set without the old key.
        assert client.get("/bearer", headers=old).status_code == 401


def test_auth_unknown_kid_refetch_is_rate_limited(auth_app: Any, auth_issuer: LocalIssuer) -> None:
    with auth_app(jwks_min_refetch_interval=1.0).test_client() as client:
        assert client.get("/bearer", headers=auth_issuer.auth_header()).status_code == 200
        started = time.monotonic()
        for _ in range(15):  # an attacker's random kids cannot make it fetch per request
            headers = auth_issuer.auth_header(headers={"kid": secrets.token_hex(8)})
            assert client.get("/bearer", headers=headers).status_code == 401
        elapsed = time.monotonic() - started
        assert auth_issuer.fetches <= 2 + int(elapsed / 1.0)

        new_kid = auth_issuer.add_key()
        time.sleep(1.05)  # once the interval has passed, a new kid is fetched again
        assert (
            client.get("/bearer", headers=auth_issuer.auth_header(kid=new_kid)).status_code == 200
        )


def test_auth_stale_keys_refresh_in_the_background(auth_app: Any, auth_issuer: LocalIssuer) -> None:
    with auth_app(jwks_ttl=0.2, jwks_min_refetch_interval=0).test_client() as client:
        assert client.get("/bearer", headers=auth_issuer.auth_header()).status_code == 200
        time.sleep(0.3)
        auth_issuer.delay = 1.5  # the refresh is slow, the request is not
        started = time.monotonic()
        assert client.get("/bearer", headers=auth_issuer.auth_header()).status_code == 200
        assert time.monotonic() - started < 1.0
        assert eventually(lambda: auth_issuer.fetches == 2)


def test_auth_jwks_down_cached_keys_keep_working(auth_app: Any, auth_issuer: LocalIssuer) -> None:
    with auth_app(jwks_ttl=0.2, jwks_min_refetch_interval=0).test_client() as client:
        assert client.get("/bearer", headers=auth_issuer.auth_header()).status_code == 200
        auth_issuer.available = False
        time.sleep(0.3)
        for _ in range(3):
            assert client.get("/bearer", headers=auth_issuer.auth_header()).status_code == 200
        ready = client.get("/readyz")

    assert ready.status_code == 200
    jwks = ready.json()["checks"]["jwks"]
    assert jwks["status"] == "up"
    assert jwks["loaded"] is True
    assert jwks["fresh"] is False
    assert "503" in jwks["last_error"]


def test_auth_jwks_down_without_keys_is_503_and_not_ready(
    auth_app: Any, auth_issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    auth_issuer.available = False
    with auth_app(jwks_min_refetch_interval=0.3).test_client() as client:
        response = client.get("/bearer", headers=auth_issuer.auth_header())
        ready = client.get("/readyz")
        assert client.get("/open").status_code == 200  # what needs no token still works

        auth_issuer.available = True
        time.sleep(0.35)
        recovered = client.get("/bearer", headers=auth_issuer.auth_header())
        ready_again = client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["detail"] == (
        "Credentials cannot be verified at the moment; retry later."
    )
    assert "127.0.0.1" not in response.text  # nothing about the issuer leaks
    assert "jwks_unavailable" in [
        r.auth_reason for r in caplog.records if hasattr(r, "auth_reason")
    ]
    assert ready.status_code == 503
    assert ready.json()["checks"]["jwks"]["status"] == "down"
    assert ready.json()["checks"]["jwks"]["loaded"] is False
    assert recovered.status_code == 200
    assert ready_again.status_code == 200


def test_auth_discovery_must_name_the_configured_issuer(
    make_chassis_app: Any, auth_issuer: LocalIssuer
) -> None:
    import chassis_auth
    from auth_spec import SPEC

    settings = {
        "auth": {
            "issuer": "https://login.example.com",
            "discovery_url": auth_issuer.discovery_url,
            "audience": ["test-api"],
        }
    }
    app = make_chassis_app(spec=SPEC, settings=settings, plugins=[chassis_auth])
    with app.test_client() as client:
        response = client.get("/bearer", headers=auth_issuer.auth_header())
        ready = client.get("/readyz")

    assert response.status_code == 503
    assert "names issuer" in ready.json()["checks"]["jwks"]["last_error"]


def test_auth_unusable_jwks_is_503(make_chassis_app: Any, auth_issuer: LocalIssuer) -> None:
    import chassis_auth
    from auth_spec import SPEC

    settings = {"auth": {"jwks_url": auth_issuer.issuer + "/nothing-here", "audience": ["x"]}}
    app = make_chassis_app(spec=SPEC, settings=settings, plugins=[chassis_auth])
    with app.test_client() as client:
        assert client.get("/bearer", headers=auth_issuer.auth_header()).status_code == 503
        assert "404" in client.get("/readyz").json()["checks"]["jwks"]["last_error"]


def test_auth_fetch_does_not_block_the_event_loop(auth_app: Any, auth_issuer: LocalIssuer) -> None:
    """A slow JWKS fetch (no keys yet) holds only the requests that need keys."""
    auth_issuer.delay = 1.0  # discovery, then the JWKS: two seconds
    results: dict[str, Any] = {}
    with auth_app().test_client() as client:

        def bearer(name: str) -> None:
            results[name] = client.get("/bearer", headers=auth_issuer.auth_header()).status_code

        threads = [threading.Thread(target=bearer, args=(f"b{i}",)) for i in range(3)]
        for thread in threads:
            thread.start()
        time.sleep(0.2)
        started = time.monotonic()
        open_status = client.get("/open").status_code
        open_seconds = time.monotonic() - started
        for thread in threads:
            thread.join()

    assert open_status == 200
    assert open_seconds < 0.8  # served while the fetch was in flight
    assert results == {"b0": 200, "b1": 200, "b2": 200}
    assert auth_issuer.fetches == 1  # the waiting requests shared one fetch


def test_auth_cached_tokens_still_expire(auth_app: Any, auth_issuer: LocalIssuer) -> None:
    exp = int(time.time()) + 2  # at least a second away
    headers = auth_issuer.auth_header(exp=exp)

    with auth_app(leeway=0).test_client() as client:
        assert client.get("/bearer", headers=headers).status_code == 200
        time.sleep(max(0.0, exp - time.time()) + 0.1)
        assert client.get("/bearer", headers=headers).status_code == 401


def test_auth_bearer_without_issuer_settings_is_503(make_chassis_app: Any) -> None:
    import chassis_auth
    from auth_spec import SPEC

    app = make_chassis_app(spec=SPEC, plugins=[chassis_auth])
    with app.test_client() as client:
        response = client.get("/bearer", headers={"Authorization": "Bearer a.b.c"})
        ready = client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "jwks" not in ready.json().get("checks", {})


def test_auth_keys_load_when_the_server_starts(auth_app: Any, auth_issuer: LocalIssuer) -> None:
    app = auth_app()
    assert auth_issuer.fetches == 0  # building the app fetches nothing

    with app.test_client() as client:  # runs the lifespan: the startup hook
        assert eventually(lambda: auth_issuer.fetches == 1)  # before any request
        assert client.get("/bearer", headers=auth_issuer.auth_header()).status_code == 200

    assert auth_issuer.fetches == 1


def test_auth_shutdown_cancels_a_key_fetch_in_flight(
    auth_app: Any, auth_issuer: LocalIssuer
) -> None:
    auth_issuer.delay = 10.0  # the issuer hangs: the start-up fetch is still waiting

    started = time.monotonic()
    with auth_app().test_client():
        assert eventually(lambda: auth_issuer.requests >= 1)

    assert time.monotonic() - started < 5.0


def _plain_http_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "chassis.auth" and r.levelname == "WARNING" and "plain http" in r.getMessage()
    ]


def test_auth_plain_http_jwks_uri_from_discovery_warns_once(
    auth_app: Any,
    auth_issuer: LocalIssuer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The configured URL is loopback (no warning), but the discovery document sends for the
    keys to another host over plain http: warned once, though discovery runs again after
    each failed fetch."""
    remote = "http://keys.example.invalid/jwks.json"  # RFC 6761: never resolves
    document = {**auth_issuer.discovery(), "jwks_uri": remote}
    monkeypatch.setattr(auth_issuer, "discovery", lambda: document)

    with auth_app(jwks_min_refetch_interval=0, jwks_timeout=2).test_client() as client:
        statuses = [client.get("/bearer", headers=auth_issuer.auth_header()) for _ in range(3)]

    assert [r.status_code for r in statuses] == [503] * 3
    assert auth_issuer.discovery_fetches >= 3
    warnings = _plain_http_warnings(caplog)
    assert len(warnings) == 1
    assert remote in warnings[0] and auth_issuer.discovery_url in warnings[0]


def test_auth_plain_http_keys_warn_only_off_the_loopback_interface(
    auth_app: Any,
    make_chassis_app: Any,
    auth_issuer: LocalIssuer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import chassis_auth
    from auth_spec import SPEC

    def build(**auth: Any) -> None:
        make_chassis_app(spec=SPEC, settings={"auth": auth}, plugins=[chassis_auth])

    with auth_app().test_client() as client:  # discovery and keys on http://127.0.0.1
        assert client.get("/bearer", headers=auth_issuer.auth_header()).status_code == 200
    build(jwks_url="http://localhost:8081/jwks.json", audience=["a"])
    build(jwks_url="http://[::1]:8081/jwks.json", audience=["a"])
    build(jwks_url="https://login.example.com/jwks.json", audience=["a"])
    assert _plain_http_warnings(caplog) == []

    build(issuer="http://login.example.com", audience=["a"])  # warned at start-up
    warnings = _plain_http_warnings(caplog)
    assert len(warnings) == 1
    assert "http://login.example.com/.well-known/openid-configuration" in warnings[0]
