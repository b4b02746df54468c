"""Property-based fuzzing of the example service with schemathesis, every plugin on.

The example service is built by its own factory (its spec with chassis-pagination's
components; ``POST /premises`` needs a bearer JWT with scope ``premises:write``, minted by
chassis-auth's testing kit's local issuer) and served in-process through the ASGI app.
Schemathesis makes valid (positive) and invalid (negative) requests for each operation, a
bounded and derandomized number of them so CI runs the same cases every time, and checks
every response: no 5xx; status code, content type, headers and body as the spec documents;
invalid input refused, valid input accepted; requests without credentials refused. On top,
ours: every error is RFC 9457 problem+json with the request id, and nothing leaks a stack
trace.

Schemathesis is a test-only dependency (docs/deployment.md names the dev-group entry); without
it the module is skipped. Its pytest integration (``schemathesis.pytest.from_fixture``) breaks
on pytest 9 (it reads ``request.node._nodeid``), so the cases come from
``APIOperation.as_strategy()`` under plain ``hypothesis.given``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from production_support import EXAMPLE_SPEC, example_app, leaks_internals, problem_errors

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed")

from chassis_auth.testing import LocalIssuer  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402

EXAMPLES_PER_OPERATION = 30

OPERATIONS = [
    (method.upper(), path)
    for path, item in yaml.safe_load(EXAMPLE_SPEC.read_text())["paths"].items()
    for method in item
    if method in ("get", "put", "post", "patch", "delete")
]


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer(audience="directmail") as local:
        yield local


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory: pytest.TempPathFactory, issuer: LocalIssuer) -> Iterator[Any]:
    database = tmp_path_factory.mktemp("fuzz") / "directmail.db"
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.upper().startswith("CHASSIS_"):
                patch.delenv(name)
        yield example_app(
            f"sqlite:///{database}",
            {
                **issuer.settings(),
                "optimizer": {"cache_all": True, "cache_ttl": 60},
                "max_body_bytes": 64 * 1024,
                "cors": {"enabled": True, "allow_origins": ["https://app.example.com"]},
            },
        )


@pytest.fixture(scope="module")
def fuzz_schema(fuzzed_app: Any) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app)


def problem_json(ctx: Any, response: Any, case: Any) -> bool | None:
    """Ours: every error is problem+json with the request id; no stack trace anywhere."""
    text = response.content.decode("utf-8", "replace")
    assert not leaks_internals(text), f"stack trace or path in the body: {text[:300]!r}"
    # The content is decoded already: no Content-Encoding for httpx to undo again.
    headers = {
        name: values[0]
        for name, values in response.headers.items()
        if name.lower() not in ("content-encoding", "content-length")
    }
    if response.status_code >= 400:
        as_httpx = httpx.Response(response.status_code, headers=headers, content=response.content)
        errors = problem_errors(as_httpx)
        assert not errors, f"{response.status_code} is not problem+json: {errors}: {text[:300]}"
    assert any(name.lower() == "x-request-id" for name in headers), "no X-Request-ID"
    return None


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_production_fuzz(
    fuzz_schema: Any, issuer: LocalIssuer, method: str, path: str, mode: GenerationMode
) -> None:
    operation = fuzz_schema[path][method]
    token = issuer.token(["premises:write"], expires_in=3600)
    seen: dict[int, int] = {}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Any) -> None:
        response = case.call_and_validate(
            headers={"Authorization": f"Bearer {token}"}, additional_checks=[problem_json]
        )
        seen[response.status_code] = seen.get(response.status_code, 0) + 1

    fuzz()
    assert seen, "no case ran"
    assert not [status for status in seen if status >= 500], seen
    if mode is GenerationMode.POSITIVE:
        assert any(200 <= status < 300 for status in seen), f"nothing succeeded: {seen}"


def test_production_fuzz_covers_every_operation(fuzz_schema: Any) -> None:
    """The fuzzed spec is the example's, operation for operation."""
    served = {
        (result.ok().method.upper(), result.ok().path)
        for result in fuzz_schema.get_all_operations()
    }
    assert served == set(OPERATIONS)
