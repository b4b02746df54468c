"""Every log line carries the request id, in text and in JSON; servers' loggers too."""

from __future__ import annotations

import json
import logging
import re

TEXT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \[WARNING\]\[log-1\] core_handlers: user said hi$"
)


def test_text_format_has_datetime_level_request_id_logger_and_message(
    make_chassis_app, spec, capsys
):
    app = make_chassis_app(spec=spec)
    with app.test_client() as client:
        client.get("/log", params={"message": "hi"}, headers={"X-Request-ID": "log-1"})
    lines = capsys.readouterr().out.splitlines()
    assert any(TEXT_LINE.match(line) for line in lines), lines


def test_json_lines_carry_the_request_id(make_chassis_app, spec, capsys):
    app = make_chassis_app(spec=spec, settings={"log_format": "json"})
    with app.test_client() as client:
        client.get("/log", params={"message": "hi"}, headers={"X-Request-ID": "log-2"})
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    said = [r for r in records if r["message"] == "user said hi"]
    assert said and said[0]["request_id"] == "log-2"
    assert said[0]["level"] == "WARNING" and said[0]["logger"] == "core_handlers"


def test_newlines_from_the_request_cannot_forge_log_lines(make_chassis_app, spec, capsys):
    app = make_chassis_app(spec=spec)
    with app.test_client() as client:
        client.get("/log", params={"message": "x\n2026-01-01 [ERROR][admin] forged"})
    out = capsys.readouterr().out
    assert "\n2026-01-01 [ERROR][admin] forged" not in out
    assert "user said x\\n2026-01-01 [ERROR][admin] forged" in out


def test_level_setting_filters_records(make_chassis_app, spec, capsys):
    app = make_chassis_app(spec=spec, settings={"log_level": "ERROR"})
    with app.test_client() as client:
        client.get("/log", params={"message": "quiet"})
    assert "user said quiet" not in capsys.readouterr().out


def test_third_party_loggers_go_through_the_same_format(make_chassis_app, capsys):
    uvicorn_logger = logging.getLogger("uvicorn.error")
    uvicorn_logger.addHandler(logging.StreamHandler())
    make_chassis_app()
    uvicorn_logger.warning("server says hello")
    logging.getLogger("sqlalchemy.engine").warning("library says hello")
    out = capsys.readouterr().out
    assert "[WARNING][-] uvicorn.error: server says hello" in out
    assert "[WARNING][-] sqlalchemy.engine: library says hello" in out
    assert uvicorn_logger.handlers == []


def _access_line(app, target):
    """What uvicorn does: log the access line while the response starts, in the request's
    context (here set by hand, for ``app``)."""
    from chassis._context import RequestContext, reset_context, set_context

    token = set_context(RequestContext("r-1", {"type": "http"}, app))
    try:
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", target, "1.1", 200
        )
    finally:
        reset_context(token)


def test_access_log_hides_the_keys_of_apikey_schemes_in_the_query(
    make_chassis_app, capsys, monkeypatch
):
    access = logging.getLogger("uvicorn.access")
    monkeypatch.setattr(access, "propagate", True)  # as the kernel's logging leaves it
    access.setLevel(logging.INFO)
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "keys", "version": "1"},
        "paths": {},
        "components": {
            "securitySchemes": {"sig": {"type": "apiKey", "in": "query", "name": "Signature"}}
        },
    }
    with_scheme = make_chassis_app(spec=spec)
    without = make_chassis_app()  # another app in the same process: its own names
    _access_line(with_scheme, "/items?Signature=abc123&limit=5&api_key=k3y")
    _access_line(without, "/items?Signature=visible&api_key=k3y")
    out = capsys.readouterr().out
    assert '"GET /items?Signature=***&limit=5&api_key=*** HTTP/1.1" 200' in out
    assert '"GET /items?Signature=visible&api_key=*** HTTP/1.1" 200' in out
    assert "abc123" not in out and "k3y" not in out
