"""Request body limit (413) and graceful shutdown on SIGTERM under load."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest
from chassis_test_support import chassis_env, free_port, start_chassis_run, wait_until_serving


def test_declared_body_over_the_limit_is_a_413_problem(make_chassis_app, spec):
    app = make_chassis_app(spec=spec, settings={"max_body_bytes": 64})
    with app.test_client() as client:
        small = client.post("/notes", json={"text": "fits"})
        large = client.post(
            "/notes",
            content=b'{"text": "' + b"x" * 100 + b'"}',
            headers={"Content-Type": "application/json"},
        )
    assert small.status_code == 201
    assert large.status_code == 413
    assert large.headers["content-type"] == "application/problem+json"
    assert large.json()["detail"] == "The request body is larger than 64 bytes."
    assert large.json()["request_id"] == large.headers["x-request-id"]


def test_chunked_body_over_the_limit_is_a_413_problem(make_chassis_app, spec):
    app = make_chassis_app(spec=spec, settings={"max_body_bytes": 64})

    def chunks():
        yield b'{"text": "'
        for _ in range(10):
            yield b"x" * 20
        yield b'"}'

    with app.test_client() as client:
        response = client.post(
            "/notes", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413
    assert response.json()["status"] == 413


def test_malformed_content_length_is_a_400(make_chassis_app, spec):
    app = make_chassis_app(spec=spec)
    with app.test_client() as client:
        response = client.post(
            "/notes",
            content=b"{}",
            headers={"Content-Type": "application/json", "Content-Length": "lots"},
        )
    assert response.status_code == 400


SLOW_SERVICE = """
import time
import chassis

app = chassis.App(__name__)
app.add_api({
    "openapi": "3.0.3", "info": {"title": "slow", "version": "1"},
    "paths": {"/slow": {"get": {"operationId": "slow_service.slow",
              "responses": {"200": {"description": "ok"}}}}},
})

def slow():
    time.sleep(0.4)
    return {"done": True}
"""


def test_sigterm_turns_readiness_503_drains_and_loses_no_request(tmp_path):
    (tmp_path / "slow_service.py").write_text(SLOW_SERVICE)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = chassis_env(CHASSIS_PLUGINS="", CHASSIS_SHUTDOWN__DRAIN_SECONDS="1.5")
    server = start_chassis_run(
        "slow_service:app", "--port", str(port), "--graceful-timeout", "5", cwd=tmp_path, env=env
    )
    try:
        wait_until_serving(f"{base}/healthz", server)
        assert httpx.get(f"{base}/readyz").status_code == 200
        results: list[int | str] = []
        stop_issuing = threading.Event()

        def load() -> None:
            with httpx.Client(timeout=10) as client:
                while not stop_issuing.is_set():
                    try:
                        results.append(client.get(f"{base}/slow").status_code)
                    except httpx.HTTPError as error:
                        results.append(type(error).__name__)

        workers = [threading.Thread(target=load) for _ in range(4)]
        for worker in workers:
            worker.start()
        time.sleep(0.5)
        server.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        draining = httpx.get(f"{base}/readyz", timeout=5)
        assert draining.status_code == 503
        assert draining.json()["reason"] == "shutting down"
        time.sleep(0.6)  # stop issuing new requests well inside the drain window
        stop_issuing.set()
        for worker in workers:
            worker.join(timeout=10)
        # uvicorn re-raises the SIGTERM it handled once it has stopped: -15 is its clean exit.
        assert server.wait(timeout=15) in (0, -signal.SIGTERM)
    finally:
        if server.poll() is None:
            server.kill()
        output = server.stdout.read() if server.stdout else ""
    assert results and set(results) == {200}, results
    assert "SIGTERM: readiness now answers 503" in output


def test_an_overlong_path_is_a_414_problem_not_a_500(make_chassis_app, spec):
    app = make_chassis_app(spec=spec)
    with app.test_client() as client:
        huge_id = client.get("/items/" + "9" * 5000)
        long_unknown = client.get("/x" * 3000)
    assert huge_id.status_code == long_unknown.status_code == 414
    assert huge_id.headers["content-type"] == "application/problem+json"


def test_context_reaches_routing_details_when_the_server_sends_no_extensions(
    make_chassis_app, spec
):
    # uvicorn puts no "extensions" in the scope (Starlette's TestClient does).
    import asyncio

    app = make_chassis_app(spec=spec)

    async def call():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            return await client.get("/private", headers={"Authorization": "Bearer good"})

    body = asyncio.run(call()).json()
    assert body["route"] == "/private"
    assert body["operation_id"] == "core_handlers.show_private"
    assert body["user"] == "alice"


def _raw_request(app, method, path, *, query=b"", headers=(), body=b""):
    """Call the app as an ASGI server would, with bytes no HTTP client library would send."""
    import asyncio
    import json as jsonlib

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"svc"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("svc", 80),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), jsonlib.loads(payload)


def test_a_query_string_that_is_not_utf8_is_a_400_problem(make_chassis_app, spec):
    app = make_chassis_app(spec=spec)
    status, headers, body = _raw_request(app, "GET", "/search", query=b"\xff\xfe=1")
    assert status == 400
    assert headers[b"content-type"] == b"application/problem+json"
    assert body["detail"] == "The query string is not valid UTF-8."


def test_a_json_body_that_is_not_utf8_is_a_400_problem(make_chassis_app, spec):
    app = make_chassis_app(spec=spec)
    payload = b'{"text": "\xff\xfe"}'
    status, _, body = _raw_request(
        app,
        "POST",
        "/notes",
        body=payload,
        headers=[
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ],
    )
    assert status == 400
    assert body["detail"] == "The request body is not valid UTF-8."


@pytest.mark.parametrize("unset", ["", "none", "None", "null"])
def test_the_body_limit_can_be_unset_from_the_environment(make_chassis_app, monkeypatch, unset):
    make_chassis_app()
    monkeypatch.setenv("CHASSIS_MAX_BODY_BYTES", unset)
    assert make_chassis_app().settings.max_body_bytes is None


def test_the_body_limit_can_be_unset_from_the_toml_file(make_chassis_app, monkeypatch, tmp_path):
    make_chassis_app()
    config = tmp_path / "chassis.toml"
    config.write_text('max_body_bytes = "none"\n')
    monkeypatch.setenv("CHASSIS_CONFIG", str(config))
    assert make_chassis_app().settings.max_body_bytes is None
