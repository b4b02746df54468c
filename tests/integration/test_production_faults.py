"""Dependencies taken away during a run, then brought back.

Redis (a redis-server of the test's own, killed and restarted on its port), PostgreSQL (behind
a TCP proxy the test cuts or turns into a black hole), the OTLP collector (a receiver the test
stops) and the JWKS endpoint (chassis-auth's local issuer behind such a proxy). For each: the
service keeps answering what it can, readiness says what is down, no request waits longer than
the time-outs the settings give, and everything recovers once the dependency is back.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import chassis_sqlalchemy
import httpx
import pytest
from chassis_auth.testing import LocalIssuer
from chassis_test_support import eventually
from production_support import (
    OtlpReceiver,
    RedisServer,
    TcpProxy,
    example_app,
    leaks_internals,
    problem_errors,
)

NEW_PREMISES = {
    "address": "2 Mill Road",
    "postcode": "GL7 5AB",
    "community": "Winson",
    "rfs": False,
    "business": False,
    "bduk": True,
    "segment": "S2",
}


@pytest.fixture
def build(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    for name in list(os.environ):
        if name.upper().startswith("CHASSIS_"):
            monkeypatch.delenv(name)

    def make(settings: dict[str, Any], database_url: str | None = None) -> Any:
        return example_app(database_url or f"sqlite:///{tmp_path / 'directmail.db'}", settings)

    return make


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def assert_problem(response: httpx.Response, *statuses: int) -> None:
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert problem_errors(response) == []
    assert not leaks_internals(response.text)


# -- Redis: the shared response cache ----------------------------------------------------------


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.kill()


def test_redis_down_serves_uncached_reports_degraded_and_recovers(
    build: Callable[..., Any], redis_server: RedisServer
) -> None:
    app = build(
        {
            "optimizer": {
                "cache_all": True,
                "cache_url": redis_server.url,
                "cache_timeout": 0.25,
                "cache_retry_interval": 1.0,
            }
        }
    )
    with app.test_client() as client:
        assert client.get("/premises/5").headers["cache-status"].endswith("stored")
        assert "hit" in client.get("/premises/5").headers["cache-status"]
        cache = client.get("/readyz").json()["checks"]["response_cache"]
        assert cache["status"] == "up" and cache["reachable"] is True

        redis_server.kill()
        for number in (5, 6, 7):
            response, seconds = timed(lambda n=number: client.get(f"/premises/{n}"))
            assert response.status_code == 200 and response.json()["id"] == number
            assert seconds < 1.0, seconds
        ready = client.get("/readyz")
        assert ready.status_code == 200, "the service answers without its cache"
        cache = ready.json()["checks"]["response_cache"]
        assert cache["status"] == "up" and cache["degraded"] is True
        assert cache["reachable"] is False and cache["error"]
        assert "redis" in cache["backend"]

        redis_server.start()

        def cached_again() -> bool:
            client.get("/premises/8")
            return "hit" in client.get("/premises/8").headers.get("cache-status", "")

        assert eventually(cached_again, within=5.0, step=0.3)
        cache = client.get("/readyz").json()["checks"]["response_cache"]
        assert cache["reachable"] is True and "degraded" not in cache


def test_redis_that_never_answers_costs_at_most_the_cache_timeout(
    build: Callable[..., Any], redis_server: RedisServer
) -> None:
    proxy = TcpProxy(("127.0.0.1", redis_server.port))
    try:
        app = build(
            {
                "optimizer": {
                    "cache_all": True,
                    "cache_url": f"redis://127.0.0.1:{proxy.port}/0",
                    "cache_timeout": 0.3,
                    "cache_retry_interval": 1.0,
                    "cache_required": True,
                }
            }
        )
        with app.test_client() as client:
            assert client.get("/premises/9").status_code == 200
            proxy.blackhole()
            for number in range(10, 16):
                response, seconds = timed(lambda n=number: client.get(f"/premises/{n}"))
                assert response.status_code == 200
                assert seconds < 1.5, seconds
            ready, seconds = timed(lambda: client.get("/readyz"))
            assert ready.status_code == 503, "cache_required: readiness fails without Redis"
            assert ready.json()["checks"]["response_cache"]["status"] == "down"
            assert seconds < 2.5, seconds
            proxy.restore()
            assert eventually(lambda: client.get("/readyz").status_code == 200, within=6.0)
    finally:
        proxy.close()


# -- PostgreSQL: the service's database -------------------------------------------------------


@pytest.fixture
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """A schema of this test's own in the test database, dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"chassis_faults_{uuid.uuid4().hex[:8]}"
    engine = create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{name}"'))
    try:
        yield name
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        engine.dispose()


def test_postgres_cut_off_answers_errors_fast_readiness_down_then_recovers(
    build: Callable[..., Any], postgres_url: str, postgres_schema: str
) -> None:
    proxy = TcpProxy(("127.0.0.1", 5432))
    url = (
        postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        + f"?options=-csearch_path%3D{postgres_schema}"
    )
    try:
        app = build({"health": {"timeout": 2.0}}, database_url=url)
        with app.test_client() as client:
            assert client.get("/premises/1").json()["id"] == 1
            database = client.get("/readyz").json()["checks"]["database"]
            assert database["status"] == "up" and database["dialect"] == "postgresql"

            proxy.cut()
            response, seconds = timed(lambda: client.get("/premises/2"))
            assert_problem(response, 500, 503)
            assert seconds < 3.0, seconds
            ready, seconds = timed(lambda: client.get("/readyz"))
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"]["status"] == "down"
            assert seconds < 3.0, seconds
            # What does not need the database still answers.
            assert client.get("/healthz").status_code == 200
            assert client.get("/metrics").status_code == 200
            assert client.get("/openapi.json").status_code == 200

            proxy.restore()
            assert eventually(lambda: client.get("/readyz").status_code == 200, within=5.0)
            # Pooled connections died with the proxy: at most one request may still meet one.
            statuses = [client.get(f"/premises/{n}").status_code for n in (3, 4, 5)]
            assert statuses[-1] == 200 and statuses.count(200) >= 2, statuses
    finally:
        proxy.close()


def test_postgres_that_never_answers_is_bounded_by_the_health_timeout(
    build: Callable[..., Any], postgres_url: str, postgres_schema: str
) -> None:
    """A black hole (a firewall dropping packets): readiness reports it down within
    ``CHASSIS_HEALTH__TIMEOUT``; liveness is unaffected."""
    proxy = TcpProxy(("127.0.0.1", 5432))
    url = (
        postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        + f"?options=-csearch_path%3D{postgres_schema}"
    )
    try:
        app = build({"health": {"timeout": 1.0}}, database_url=url)
        with app.test_client() as client:
            assert client.get("/readyz").status_code == 200
            proxy.blackhole()
            chassis_sqlalchemy.engine(app).dispose()  # new connections meet the black hole
            ready, seconds = timed(lambda: client.get("/readyz"))
            assert ready.status_code == 503
            # A check that times out keeps the name it last reported ("database").
            down = {k: v for k, v in ready.json()["checks"].items() if v["status"] == "down"}
            assert list(down) == ["database"], down
            assert "timed out" in down["database"]["error"]
            assert seconds < 2.0, seconds
            live, seconds = timed(lambda: client.get("/healthz"))
            assert live.status_code == 200 and seconds < 0.5
            proxy.restore()
            assert eventually(lambda: client.get("/readyz").status_code == 200, within=10.0)
    finally:
        proxy.close()


def test_postgres_that_never_answers_does_not_hang_requests(
    build: Callable[..., Any], postgres_url: str, postgres_schema: str
) -> None:
    proxy = TcpProxy(("127.0.0.1", 5432))
    url = (
        postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        + f"?options=-csearch_path%3D{postgres_schema}"
    )
    try:
        app = build({}, database_url=url)
        with app.test_client() as client:
            assert client.get("/premises/1").status_code == 200
            proxy.blackhole()
            chassis_sqlalchemy.engine(app).dispose()
            answered: list[httpx.Response] = []
            request = threading.Thread(
                target=lambda: answered.append(client.get("/premises/2")), daemon=True
            )
            request.start()
            request.join(6.0)
            in_time = list(answered)
            proxy.cut()  # whatever happened, the request is released
            request.join(5.0)
            assert in_time, "no answer within 6 s"
            assert_problem(in_time[0], 500, 503)
    finally:
        proxy.close()


# -- the OTLP collector ------------------------------------------------------------------------


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    yield receiver
    receiver.stop()


def test_collector_down_loses_spans_not_requests_and_export_resumes(
    build: Callable[..., Any], otlp: OtlpReceiver
) -> None:
    app = build(
        {
            "tracing": {
                "exporter": "otlp",
                "endpoint": otlp.url,
                "schedule_delay": 0.2,
                "timeout": 1.0,
            }
        }
    )
    with app.test_client() as client:
        for number in range(1, 6):
            assert client.get(f"/premises/{number}").status_code == 200
        assert eventually(lambda: otlp.count() >= 5, within=5.0)

        otlp.stop()
        for number in range(6, 16):
            response, seconds = timed(lambda n=number: client.get(f"/premises/{n}"))
            assert response.status_code == 200
            assert seconds < 0.5, seconds

        def reported() -> bool:
            tracing = client.get("/readyz").json()["checks"]["tracing"]
            return bool(tracing.get("export_failures")) and tracing.get("dropping") is True

        assert eventually(reported, within=6.0, step=0.3)
        ready = client.get("/readyz")
        assert ready.status_code == 200, "a collector outage never takes the service out"
        tracing = ready.json()["checks"]["tracing"]
        assert tracing["status"] == "up" and tracing["last_error"]

        before = otlp.count()
        otlp.start()
        for number in range(16, 21):
            assert client.get(f"/premises/{number}").status_code == 200
        assert eventually(lambda: otlp.count() >= before + 5, within=6.0)
        exported = client.get("/readyz").json()["checks"]["tracing"]["spans_exported"]
        assert exported >= 10


def test_collector_that_never_answers_does_not_slow_requests(
    build: Callable[..., Any], otlp: OtlpReceiver
) -> None:
    proxy = TcpProxy(("127.0.0.1", otlp.port))
    try:
        app = build(
            {
                "tracing": {
                    "exporter": "otlp",
                    "endpoint": f"http://127.0.0.1:{proxy.port}",
                    "schedule_delay": 0.2,
                    "timeout": 1.0,
                }
            }
        )
        with app.test_client() as client:
            proxy.blackhole()
            started = time.monotonic()
            for number in range(1, 31):
                assert client.get(f"/premises/{number}").status_code == 200
            assert time.monotonic() - started < 5.0
            proxy.restore()
            assert eventually(lambda: otlp.count() >= 1, within=8.0)
    finally:
        proxy.close()


# -- the JWKS endpoint -------------------------------------------------------------------------


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer(audience="directmail") as local:
        yield local


def _auth_settings(issuer: LocalIssuer, proxy: TcpProxy) -> dict[str, Any]:
    return {
        "auth": {
            "issuer": issuer.issuer,
            "jwks_url": f"http://127.0.0.1:{proxy.port}/jwks.json",
            "audience": ["directmail"],
            "jwks_timeout": 1.0,
            "jwks_min_refetch_interval": 0.5,
            "jwks_ttl": 1.0,
        }
    }


def _post(client: Any, issuer: LocalIssuer) -> httpx.Response:
    token = issuer.token(["premises:write"])
    return client.post(  # type: ignore[no-any-return]
        "/premises", json=NEW_PREMISES, headers={"Authorization": f"Bearer {token}"}
    )


@pytest.mark.parametrize("outage", ["refused", "black hole"])
def test_jwks_down_before_keys_are_loaded_is_503_then_recovers(
    build: Callable[..., Any], issuer: LocalIssuer, outage: str
) -> None:
    proxy = TcpProxy(("127.0.0.1", int(issuer.issuer.rsplit(":", 1)[1])))
    try:
        if outage == "refused":
            proxy.cut()
        else:
            proxy.blackhole()
        app = build(_auth_settings(issuer, proxy))
        with app.test_client() as client:
            response, seconds = timed(lambda: _post(client, issuer))
            assert_problem(response, 503)
            assert seconds < 2.5, seconds
            # Open operations do not need keys.
            assert client.get("/premises/1").status_code == 200
            ready, seconds = timed(lambda: client.get("/readyz"))
            assert ready.status_code == 503
            jwks = ready.json()["checks"]["jwks"]
            assert jwks["status"] == "down" and jwks["loaded"] is False and jwks["last_error"]
            assert seconds < 3.0, seconds

            proxy.restore()
            assert eventually(lambda: _post(client, issuer).status_code == 201, within=5.0)
            assert client.get("/readyz").status_code == 200
    finally:
        proxy.close()


def test_jwks_down_after_keys_are_loaded_keeps_validating_with_cached_keys(
    build: Callable[..., Any], issuer: LocalIssuer
) -> None:
    proxy = TcpProxy(("127.0.0.1", int(issuer.issuer.rsplit(":", 1)[1])))
    try:
        app = build(_auth_settings(issuer, proxy))
        with app.test_client() as client:
            assert _post(client, issuer).status_code == 201
            fetches = issuer.fetches
            proxy.cut()
            time.sleep(1.2)  # the keys are now older than jwks_ttl: refreshes fail
            for _ in range(5):
                response, seconds = timed(lambda: _post(client, issuer))
                assert response.status_code == 201, response.text
                assert seconds < 1.0, seconds
            jwks = client.get("/readyz").json()["checks"]["jwks"]
            assert jwks["status"] == "up" and jwks["loaded"] is True
            assert eventually(
                lambda: bool(client.get("/readyz").json()["checks"]["jwks"].get("last_error")),
                within=5.0,
                step=0.3,
            )
            assert client.get("/readyz").json()["checks"]["jwks"]["fresh"] is False

            proxy.restore()
            assert eventually(
                lambda: client.get("/readyz").json()["checks"]["jwks"]["fresh"] is True,
                within=5.0,
                step=0.3,
            )
            assert issuer.fetches > fetches
    finally:
        with contextlib.suppress(Exception):
            proxy.close()
