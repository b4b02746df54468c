"""FastAPI peers of the async-app benchmark (issue 14): the routes of ``apps.async_spec``.

``fastapi_bare`` is the peer "nothing added": ``async def`` handlers and a pydantic response
model. ``fastapi_addons`` adds the usual add-ons for what chassis's plugins do, each with its
documented set-up and defaults unless said otherwise:

* tracing: opentelemetry-instrumentation-fastapi, the SDK's ``BatchSpanProcessor`` and the
  OTLP/HTTP exporter (as chassis-tracing), to ``$BENCH_OTLP_ENDPOINT``. Its per-message
  ``http send``/``http receive`` spans are left out (``exclude_spans``), so both sides export
  one span per request;
* metrics: prometheus-fastapi-instrumentator, ``/metrics``;
* compression: brotli-asgi (quality 4 and 400 B minimum, its defaults; chassis's optimizer
  uses brotli 4 too), which compresses the list route and leaves the ~200 B item alone;
* request ids: asgi-correlation-id, ``X-Request-ID`` read or made, echoed;
* auth: a bearer-token dependency validating an RS256 JWT with PyJWT's ``PyJWKClient`` (keys
  cached) against ``$BENCH_AUTH_JWKS_URL``, checking ``iss``, ``aud``, ``exp`` and the scope
  ``items:read``: 401 without a valid token, 403 without the scope.

``$BENCH_FASTAPI_ADDONS`` (comma-separated, default all: ``tracing,metrics,compression,
request-id,auth``) picks the add-ons, to see what each costs; the benchmark uses them all.

Served with ``uvicorn --factory bench.fastapi_apps:fastapi_addons``; needs the ``bench``
dependency group (``make bench-async`` installs it). No ``from __future__ import annotations``
here: FastAPI reads the handlers' annotations at run time.
"""

import os
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from bench.apps import MAX_ITEMS, SCOPE
from bench.handlers import ITEMS, _item

ADDONS = ("tracing", "metrics", "compression", "request-id", "auth")


class Item(BaseModel):
    id: int
    address: str
    postcode: str
    community: str
    rfs: bool
    rfs_date: str
    business: bool
    bduk: bool
    segment: str
    notes: str


def _routes(app: FastAPI, dependencies: list[Any]) -> None:
    @app.get("/items/{item_id}", response_model=Item, dependencies=dependencies)
    async def get_item(item_id: int) -> Any:
        return _item(item_id)

    @app.get("/items", response_model=list[Item], dependencies=dependencies)
    async def list_items(limit: Annotated[int, Query(ge=1, le=MAX_ITEMS)] = 100) -> Any:
        return ITEMS[:limit]


def fastapi_bare() -> FastAPI:
    """FastAPI, ``async def`` handlers, a pydantic response model; nothing added."""
    app = FastAPI(title="bench async")
    _routes(app, [])
    return app


def bearer_dependency(jwks_url: str, issuer: str, audience: str) -> Any:
    """A FastAPI dependency: the request's bearer JWT, validated (RS256, JWKS cached)."""
    import jwt

    keys = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300)
    bearer = HTTPBearer(auto_error=False)

    async def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> dict[str, Any]:
        if credentials is None:
            raise HTTPException(401, "Not authenticated", headers={"WWW-Authenticate": "Bearer"})
        token = credentials.credentials
        try:
            key = keys.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=audience,
                issuer=issuer,
                leeway=30,
                options={"require": ["exp"]},
            )
        except jwt.PyJWTError as error:
            raise HTTPException(
                401, "Invalid token", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            ) from error
        if SCOPE not in str(claims.get("scope", "")).split():
            raise HTTPException(
                403,
                "Insufficient scope",
                headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'},
            )
        return claims

    return require_token


def fastapi_addons() -> FastAPI:
    """FastAPI with tracing, metrics, compression, request ids and JWT auth (module doc)."""
    from asgi_correlation_id import CorrelationIdMiddleware
    from brotli_asgi import BrotliMiddleware
    from fastapi import Depends
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from prometheus_fastapi_instrumentator import Instrumentator

    addons = set(os.environ.get("BENCH_FASTAPI_ADDONS", ",".join(ADDONS)).split(","))
    unknown = addons - set(ADDONS) - {""}
    if unknown:
        raise ValueError(f"unknown add-on(s) {sorted(unknown)}; choose from {ADDONS}")
    dependencies: list[Any] = []
    if "auth" in addons:
        require_token = bearer_dependency(
            os.environ["BENCH_AUTH_JWKS_URL"],
            os.environ["BENCH_AUTH_ISSUER"],
            os.environ["BENCH_AUTH_AUDIENCE"],
        )
        dependencies.append(Depends(require_token))
    app = FastAPI(title="bench async")
    _routes(app, dependencies)

    # Starlette: the middleware added last is the outermost.
    if "compression" in addons:
        app.add_middleware(BrotliMiddleware, quality=4, minimum_size=400)
    if "request-id" in addons:
        app.add_middleware(CorrelationIdMiddleware, header_name="X-Request-ID")
    if "metrics" in addons:
        Instrumentator().instrument(app).expose(app, endpoint="/metrics")
    if "tracing" in addons:
        endpoint = os.environ["BENCH_OTLP_ENDPOINT"].rstrip("/") + "/v1/traces"
        provider = TracerProvider(resource=Resource.create({"service.name": "bench-fastapi"}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=provider, exclude_spans=["receive", "send"]
        )
    return app
