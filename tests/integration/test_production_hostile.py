"""Hostile input against the example service with every plugin on.

* Header fuzzing, in-process: oversized and malformed ``X-Request-ID``, ``traceparent``,
  ``tracestate``, ``baggage``, ``Accept-Encoding``, ``Authorization``, ``If-None-Match`` and
  ``Content-Type`` values, including bytes no HTTP client sends (CR, LF, NUL: what a lenient
  proxy might pass on), sent straight to the ASGI app. No 5xx, errors as problem+json, no stack
  trace, no CR/LF in a response header, and nothing in the log that starts a line of its own
  (text format) or breaks a JSON line (JSON format).
* Over the wire, against uvicorn: bodies over ``CHASSIS_MAX_BODY_BYTES`` (413 problem+json,
  before the body is read), oversized headers, malformed requests, and slow clients (partial
  headers, stalled bodies) that must not keep the server from answering everyone else.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from chassis_auth.testing import LocalIssuer
from chassis_test_support import free_port, wait_until_serving
from production_support import (
    AsgiDriver,
    clean_env,
    example_app,
    leaks_internals,
    problem_errors,
    stop_process,
)

MARK = "INJECTED-LINE"
FORGED = f"\r\n2030-01-01 00:00:00,000 [ERROR][forged] chassis: {MARK}".encode()
TEXT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \[(DEBUG|INFO|WARNING|ERROR|CRITICAL)\]\[[^\]\s]+\] "
)
# The kernel's documented rule for a request id it keeps (README, "Request ids").
VALID_ID = re.compile(rb"[A-Za-z0-9._~:/+=@-]{1,128}")
BODY_LIMIT = 4096

NEW_PREMISES = {
    "address": "1 Mill Road",
    "postcode": "GL7 5AB",
    "community": "Winson",
    "rfs": True,
    "business": False,
    "bduk": False,
    "segment": "S1",
}

# Values every header gets, then each header's own malformed values.
COMMON: list[bytes] = [
    b"a" * 70_000,
    b"x" + FORGED,
    b"\n" + MARK.encode(),
    b"\r" + MARK.encode(),
    b"\x00\x01\x02\x1b[31m\x7f",
    b"\xff\xfe\xfd",
    "é✓ 𝄞".encode(),
    b"",
    b" " * 64,
]
SPECIFIC: dict[str, list[bytes]] = {
    "x-request-id": [
        b"a" * 128,
        b"a" * 129,
        b"abc def",
        b"../../etc/passwd",
        b'{"json": 1}',
        b"%0d%0aX-Injected:%201",
    ],
    "traceparent": [
        b"00-" + b"0" * 32 + b"-" + b"0" * 16 + b"-01",
        b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
        b"00-abc",
        b"-" * 55,
    ],
    "tracestate": [b"k=" + b"v" * 10_000, b"=,=,=", b"a=1," * 5_000],
    "baggage": [b"k=" + b"v" * 10_000, b"%%%=%%%", b"a=1;;;;b," * 2_000],
    "accept-encoding": [
        b"gzip;q=abc",
        b"br;q=-1, zstd;q=1e309",
        b"*;q=0",
        b"identity;q=0, *;q=0",
        b"gzip;q=0.5;q=0.9",
        b",,,,;;;;",
        b"gzip, " * 5_000,
        b"zstd;q=nan, br;q=inf",
    ],
    "authorization": [
        b"Bearer",
        b"Bearer ",
        b"Bearer " + b"a" * 100_000,
        b"Bearer a.b.c",
        b"Bearer " + b".".join([b"e30", b"e30", b""]),  # {} . {} . (unsigned)
        b"Basic Zm9vOmJhcg==",
        b"Bearer \x00\x00",
        b"bEaReR    \t x",
    ],
    "if-none-match": [
        b"*",
        b'W/"x"',
        b'"' * 1000,
        b'"unterminated',
        b", ".join([b'"a"'] * 5_000),
        b"W/",
    ],
    "content-type": [
        b"application/json; charset=\x00",
        b"multipart/form-data; boundary=" + b"a" * 10_000,
        b"application/json; charset=utf-7",
        b"text/plain",
    ],
}
CASES = [(name, value) for name in SPECIFIC for value in COMMON + SPECIFIC[name]]


def _b64(data: dict[str, Any]) -> bytes:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=")


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer(audience="directmail") as local:
        yield local


def _forged_tokens(issuer: LocalIssuer) -> list[bytes]:
    """Tokens an attacker makes: alg none, an unknown kid, a header pointing elsewhere."""
    good = issuer.token(["premises:write"]).encode()
    header, payload, signature = good.split(b".")
    none = _b64({"alg": "none", "typ": "JWT"}) + b"." + payload + b"."
    traversal = _b64({"alg": "RS256", "kid": "../../../../etc/passwd"}) + b"." + payload + b"."
    jku = (
        _b64({"alg": "RS256", "kid": "x", "jku": "http://169.254.169.254/latest"})
        + b"."
        + payload
        + b"."
        + signature
    )
    tampered = header + b"." + _b64({"sub": "admin", "scope": "premises:write"}) + b"." + signature
    return [b"Bearer " + token for token in (none, traversal, jku, tampered)]


class LogCapture:
    """The kernel's log handler, writing to a buffer instead of stdout."""

    def __init__(self) -> None:
        handlers = [h for h in logging.getLogger().handlers if getattr(h, "chassis", False)]
        assert len(handlers) == 1, handlers
        self.handler: logging.StreamHandler[Any] = handlers[0]  # type: ignore[assignment]
        self.buffer = io.StringIO()
        self.previous = self.handler.setStream(self.buffer)

    def lines(self) -> list[str]:
        return self.buffer.getvalue().splitlines()

    def close(self) -> None:
        if self.previous is not None:
            self.handler.setStream(self.previous)


def _check_response(
    status: int, headers: dict[bytes, bytes], body: bytes, sent_id: bytes | None
) -> list[str]:
    problems = []
    if status >= 500:
        problems.append(f"status {status}")
    for name, value in headers.items():
        if b"\r" in value or b"\n" in value or b"\x00" in value:
            problems.append(f"raw control character in response header {name!r}")
    response_id = headers.get(b"x-request-id", b"")
    if not VALID_ID.fullmatch(response_id):
        problems.append(f"invalid X-Request-ID echoed: {response_id[:80]!r}")
    elif sent_id is not None and VALID_ID.fullmatch(sent_id) and response_id != sent_id:
        problems.append("a valid X-Request-ID was not kept")
    encoding = headers.get(b"content-encoding", b"identity").decode()
    try:
        body = _decoded(body, encoding)
    except Exception as error:
        problems.append(f"undecodable {encoding} body: {error!r}")
        return problems
    text = body.decode("utf-8", "replace")
    if leaks_internals(text):
        problems.append(f"stack trace in body: {text[:200]!r}")
    if status >= 400:
        response = httpx.Response(
            status,
            headers={"content-type": headers.get(b"content-type", b"").decode("latin-1")},
            content=body,
        )
        problems += [f"{status}: {error}" for error in problem_errors(response)]
    return problems


def _decoded(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "br":
        import brotli

        return bytes(brotli.decompress(body))
    if encoding == "zstd":
        import zstandard

        return bytes(zstandard.ZstdDecompressor().decompressobj().decompress(body))
    assert encoding == "identity", encoding
    return body


def _check_log(lines: list[str], log_format: str) -> list[str]:
    problems = []
    for line in lines:
        if log_format == "json":
            try:
                entry = json.loads(line)
            except ValueError:
                problems.append(f"not a JSON line: {line[:200]!r}")
                continue
            if not isinstance(entry, dict) or "message" not in entry:
                problems.append(f"not a log object: {line[:200]!r}")
        elif not TEXT_LINE.match(line):
            # A continuation line (a traceback's) must never carry what a client sent.
            if MARK in line or line.startswith("2030-"):
                problems.append(f"a header forged a log line: {line[:200]!r}")
        elif line.startswith("2030-"):
            problems.append(f"a header forged a log line: {line[:200]!r}")
    return problems


@pytest.fixture(scope="module", params=["text", "json"])
def hostile_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, issuer: LocalIssuer
) -> Iterator[tuple[AsgiDriver, LogCapture, str]]:
    database = tmp_path_factory.mktemp("hostile") / "directmail.db"
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.upper().startswith("CHASSIS_"):
                patch.delenv(name)
        app = example_app(
            f"sqlite:///{database}",
            {
                **issuer.settings(),
                "log_level": "DEBUG",
                "log_format": request.param,
                "max_body_bytes": BODY_LIMIT,
                "optimizer": {"cache_all": True, "cache_ttl": 60},
                "tracing": {"exporter": "none", "log_level": "INFO"},
                "cors": {"enabled": True, "allow_origins": ["https://app.example.com"]},
            },
        )
        capture = LogCapture()
        try:
            with AsgiDriver(app) as driver:
                yield driver, capture, request.param
        finally:
            capture.close()


def _send(
    driver: AsgiDriver, method: str, name: str, value: bytes, token: str
) -> tuple[int, dict[bytes, bytes], bytes]:
    headers = [(b"accept-encoding", b"gzip, br, zstd")]
    body = b""
    if method == "POST":
        body = json.dumps(NEW_PREMISES).encode()
        headers += [
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
    headers = [(n, v) for n, v in headers if n != name.encode()]
    headers.append((name.encode(), value))
    path = "/premises" if method == "POST" else "/premises/1"
    return driver.request(method, path, headers, body)


def test_hostile_headers_never_break_the_service_or_the_log(
    hostile_app: tuple[AsgiDriver, LogCapture, str], issuer: LocalIssuer
) -> None:
    driver, capture, log_format = hostile_app
    token = issuer.token(["premises:write"], expires_in=3600)
    cases = [*CASES, *(("authorization", forged) for forged in _forged_tokens(issuer))]
    problems: list[str] = []
    statuses: dict[int, int] = {}
    for name, value in cases:
        for method in ("GET", "POST"):
            if name == "content-type" and method == "GET":
                continue
            status, headers, body = _send(driver, method, name, value, token)
            statuses[status] = statuses.get(status, 0) + 1
            sent_id = value if name == "x-request-id" else None
            for problem in _check_response(status, headers, body, sent_id):
                problems.append(f"{method} {name}: {value[:60]!r}: {problem}")
            # A forged or hostile credential never gets through.
            if name == "authorization" and method == "POST" and status < 400:
                problems.append(f"POST accepted with Authorization {value[:60]!r}")
    problems += _check_log(capture.lines(), log_format)
    assert not problems, "\n".join(problems[:30])
    assert len(capture.lines()) > 50, "the requests were logged"
    assert any(MARK in line for line in capture.lines()), "hostile values did reach the log"
    assert statuses.get(200, 0) > 0 and statuses.get(201, 0) > 0


def test_hostile_paths_and_queries_never_forge_log_lines(
    hostile_app: tuple[AsgiDriver, LogCapture, str],
) -> None:
    """Paths and query strings are logged (404s, validation errors): percent-decoded CR/LF
    in them stays on its line."""
    driver, capture, log_format = hostile_app
    forged = FORGED.decode()
    cases = [
        ("/premises/" + forged, b""),
        ("/nowhere" + forged, b""),
        ("/premises", b"rfs=" + FORGED.replace(b"\r\n", b"%0D%0A")),
        ("/premises", b"limit=" + b"9" * 5000),
        ("/premises", b"offset=-1" + FORGED.replace(b"\r\n", b"%0d%0a")),
        ("/premises", b"%ff%fe=%ff%fe&rfs=%ff"),
        ("/premises", b"rfs_date_before=" + b"%00" * 100),
        ("/premises", b"communities=" + b"A" * 3000),
        ("/directmail-csv", b"segments=" + b",".join([b"S1"] * 2000)),
    ]
    problems = []
    for path, query in cases:
        status, headers, body = driver.request("GET", path, query=query)
        for problem in _check_response(status, headers, body, None):
            problems.append(f"{path[:40]!r}?{query[:40]!r}: {problem}")
    problems += _check_log(capture.lines(), log_format)
    assert not problems, "\n".join(problems[:30])


def test_undecodable_query_bytes_are_a_client_error(
    hostile_app: tuple[AsgiDriver, LogCapture, str],
) -> None:
    driver, _, _ = hostile_app
    status, headers, body = driver.request("GET", "/premises", query=b"\xff\xfe=1")
    assert _check_response(status, headers, body, None) == []


def test_a_json_body_that_is_not_utf8_is_a_client_error(
    hostile_app: tuple[AsgiDriver, LogCapture, str], issuer: LocalIssuer
) -> None:
    driver, _, _ = hostile_app
    body = b'{"address": "\xff\xfe"}'
    headers = [
        (b"authorization", f"Bearer {issuer.token(['premises:write'])}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    status, response_headers, response_body = driver.request("POST", "/premises", headers, body)
    assert _check_response(status, response_headers, response_body, None) == []
    assert status == 400


# -- over the wire -------------------------------------------------------------------------


class Uvicorn:
    """The example service under ``chassis run`` (uvicorn with a header deadline of 3 s),
    every plugin loaded from its entry point."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "uvicorn.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("chassis")),
                    "run",
                    "directmail.service:create_app",
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--header-timeout",
                    "3",
                ],
                cwd=tmp_path,
                env=clean_env(env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until_serving(f"{self.base}/healthz", self.process)
        except BaseException:
            stop_process(self.process)
            raise

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, issuer: LocalIssuer) -> Iterator[Uvicorn]:
    tmp_path = tmp_path_factory.mktemp("wire")
    running = Uvicorn(
        tmp_path,
        {
            "CHASSIS_PLUGINS": "tracing,metrics,optimizer,pagination,auth",
            "CHASSIS_SERVICE_NAME": "directmail",
            "CHASSIS_LOG_LEVEL": "WARNING",
            "CHASSIS_MAX_BODY_BYTES": str(BODY_LIMIT),
            "CHASSIS_SQLALCHEMY__URL": f"sqlite:///{tmp_path / 'directmail.db'}",
            "CHASSIS_AUTH__ISSUER": issuer.issuer,
            "CHASSIS_AUTH__AUDIENCE": "directmail",
        },
    )
    yield running
    stop_process(running.process)


def _read_response(sock: socket.socket, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response: {data[:200]!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def _assert_problem(status: int, headers: dict[str, str], body: bytes, expected: int) -> None:
    assert status == expected, body[:300]
    response = httpx.Response(
        status, headers={"content-type": headers["content-type"]}, content=body
    )
    assert problem_errors(response) == []


def _post_head(server: Uvicorn, token: str, extra: str) -> bytes:
    return (
        f"POST /premises HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n{extra}\r\n"
    ).encode()


def test_a_declared_body_over_the_limit_is_refused_before_it_is_sent(
    server: Uvicorn, issuer: LocalIssuer
) -> None:
    token = issuer.token(["premises:write"])
    with server.connect() as sock:
        sock.sendall(_post_head(server, token, "Content-Length: 10000000\r\n"))
        started = time.monotonic()
        status, headers, body = _read_response(sock, timeout=5)
    assert time.monotonic() - started < 2
    _assert_problem(status, headers, body, 413)
    assert str(BODY_LIMIT) in json.loads(body)["detail"]
    assert VALID_ID.fullmatch(headers["x-request-id"].encode())


def test_a_chunked_body_over_the_limit_is_refused(server: Uvicorn, issuer: LocalIssuer) -> None:
    token = issuer.token(["premises:write"])
    chunk = b'{"address": "' + b"a" * 1000
    with server.connect() as sock:
        sock.sendall(_post_head(server, token, "Transfer-Encoding: chunked\r\n"))
        for _ in range(BODY_LIMIT // len(chunk) + 2):
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        status, headers, body = _read_response(sock)
    _assert_problem(status, headers, body, 413)


def test_a_body_within_the_limit_is_served(server: Uvicorn, issuer: LocalIssuer) -> None:
    response = httpx.post(
        f"{server.base}/premises",
        json={**NEW_PREMISES, "address": "x" * 150},
        headers={"Authorization": f"Bearer {issuer.token(['premises:write'])}"},
    )
    assert response.status_code == 201, response.text
    padded = json.dumps({**NEW_PREMISES, "address": "a" * 150}).encode()
    padded = padded[:-1] + b" " * (BODY_LIMIT - len(padded)) + b"}"
    assert len(padded) == BODY_LIMIT
    response = httpx.post(
        f"{server.base}/premises",
        content=padded,
        headers={
            "Authorization": f"Bearer {issuer.token(['premises:write'])}",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 201, response.text


MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"GET /premises/1 HTTP/1.1\r\nHost: x\r\nNo-Colon-Header\r\n\r\n",
    b"GET /premises/1 HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n continued\r\n\r\n",
    b"GET /premises/1 HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n",
    b"GET /premises/1 HTTP/9.9\r\nHost: x\r\n\r\n",
    b"G\xffT /premises/1 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /premises/1 HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"GET /premises/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    b"POST /premises HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /premises/1 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 100_000 + b"\r\n\r\n",
    b"GET /premises/1 HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % n for n in range(2_000)) + b"\r\n",
]


@pytest.mark.parametrize("raw", MALFORMED, ids=[f"case{n}" for n in range(len(MALFORMED))])
def test_malformed_requests_get_4xx_or_a_closed_connection(server: Uvicorn, raw: bytes) -> None:
    with server.connect() as sock:
        try:
            sock.sendall(raw)
            status, _, body = _read_response(sock)
        except (ConnectionError, OSError):
            status, body = 0, b""  # the server closed the connection: fine
    assert status < 500, body[:300]
    assert not leaks_internals(body.decode("latin-1"))
    assert httpx.get(f"{server.base}/premises/1").status_code == 200


def test_slow_clients_do_not_keep_others_from_being_served(
    server: Uvicorn, issuer: LocalIssuer
) -> None:
    """Connections sending headers byte by byte, and bodies that stall half way, hold their
    own request only: everyone else is answered as fast as before."""
    token = issuer.token(["premises:write"])
    slow: list[socket.socket] = []
    stop = threading.Event()

    def trickle(sock: socket.socket, payload: bytes) -> None:
        for byte in payload:
            if stop.wait(0.2):
                return
            try:
                sock.send(bytes([byte]))
            except OSError:
                return

    threads = []
    try:
        for _ in range(30):  # slowloris: headers a byte at a time
            sock = server.connect()
            slow.append(sock)
            thread = threading.Thread(
                target=trickle,
                args=(sock, b"GET /premises/1 HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 500),
                daemon=True,
            )
            thread.start()
            threads.append(thread)
        for _ in range(30):  # a body that stops a tenth of the way
            sock = server.connect()
            sock.sendall(_post_head(server, token, "Content-Length: 1000\r\n") + b'{"address":')
            slow.append(sock)
        time.sleep(1.0)

        with httpx.Client(base_url=server.base, timeout=5) as client:
            latencies = []
            for number in range(1, 61):
                started = time.monotonic()
                response = client.get(f"/premises/{number}")
                latencies.append(time.monotonic() - started)
                assert response.status_code == 200
            assert client.get("/readyz").status_code == 200
            assert (
                client.post(
                    "/premises", json=NEW_PREMISES, headers={"Authorization": f"Bearer {token}"}
                ).status_code
                == 201
            )
        latencies.sort()
        assert latencies[len(latencies) // 2] < 0.25, latencies
        assert latencies[-1] < 2.0, latencies
    finally:
        stop.set()
        for sock in slow:
            sock.close()
        for thread in threads:
            thread.join(2)
    assert server.process.poll() is None


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except OSError:
        return True
    return True


def test_a_connection_that_never_completes_its_request_is_closed(server: Uvicorn) -> None:
    with server.connect() as idle, server.connect() as partial:
        partial.sendall(b"GET /premises/1 HTTP/1.1\r\nHost: x\r\n")
        deadline = 6.0  # the server closes both after its 3 s header deadline
        assert _closed_within(idle, deadline) and _closed_within(partial, 1.0)
