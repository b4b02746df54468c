"""pytest fixtures for services protected by chassis-auth (entry point ``pytest11``).

``auth_issuer`` is a real, local OpenID Connect issuer: it serves its discovery document and
its JSON Web Key Set over HTTP on 127.0.0.1 (a small threaded server) and mints tokens signed
by its keys. Point the app at it with ``auth_issuer.settings()`` and call protected
endpoints with ``auth_issuer.auth_header(scopes=[...])``::

    def test_create_premises(make_chassis_app, auth_issuer):
        app = make_chassis_app(
            spec=SPEC, plugins=[chassis_auth], settings=auth_issuer.settings()
        )
        with app.test_client() as client:
            response = client.post(
                "/premises", json={...}, headers=auth_issuer.auth_header(scopes=["premises:write"])
            )
        assert response.status_code == 201

It also plays the issuer's failures: ``rotate()`` its keys, ``add_key(publish=False)`` for a
key the JWKS does not list yet, ``available = False`` for an outage; ``fetches`` counts the
JWKS downloads. :class:`LocalIssuer` works outside pytest too (benchmarks, local runs).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = ["LocalIssuer", "auth_issuer", "main"]

DEFAULT_AUDIENCE = "test-api"


def _new_private_key(alg: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if alg.startswith(("RS", "PS")):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    curves: dict[str, ec.EllipticCurve] = {
        "ES256": ec.SECP256R1(),
        "ES384": ec.SECP384R1(),
        "ES512": ec.SECP521R1(),
    }
    if alg in curves:
        return ec.generate_private_key(curves[alg])
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg.startswith("HS"):
        return secrets.token_bytes(64)  # a shared secret (a JWKS `oct` key)
    raise ValueError(f"LocalIssuer cannot make keys for {alg!r}")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class _Key:
    kid: str
    alg: str
    private_key: Any
    published: bool

    def public_jwk(self) -> dict[str, Any]:
        from jwt.algorithms import get_default_algorithms

        if isinstance(self.private_key, bytes):
            return {"kty": "oct", "k": _b64(self.private_key), "kid": self.kid, "alg": self.alg}
        algorithm = get_default_algorithms()[self.alg]
        jwk: dict[str, Any] = algorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        jwk.update(kid=self.kid, alg=self.alg, use="sig")
        return jwk

    def public_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        if isinstance(self.private_key, bytes):
            return self.private_key
        pem: bytes = self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem


class LocalIssuer:
    """An OpenID Connect issuer on ``http://127.0.0.1:<port>`` for tests and benchmarks.

    :param alg: the signing algorithm of its keys (``RS256``, ``PS256``, ``ES256``,
        ``ES384``, ``ES512``, ``EdDSA``; ``HS256`` publishes a shared secret as an ``oct`` key,
        for testing symmetric set-ups only).
    :param audience: the ``aud`` of the tokens it mints, and of :meth:`settings`.
    :param port: the port to serve on (0: any free one).
    """

    def __init__(
        self, *, alg: str = "RS256", audience: str = DEFAULT_AUDIENCE, port: int = 0
    ) -> None:
        self.alg = alg
        self.audience = audience
        self.available = True
        """``False``: discovery and JWKS requests answer 503 (an outage)."""
        self.delay = 0.0
        """Seconds to wait before answering (a slow issuer)."""
        self.fetches = 0
        """How many times the JWKS was requested (outages included)."""
        self.discovery_fetches = 0
        self.requests = 0
        """How many requests arrived, counted before :attr:`delay` (``fetches`` counts after)."""
        self._keys: dict[str, _Key] = {}
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), _handler_for(self))
        port = self._server.server_address[1]
        self.issuer = f"http://127.0.0.1:{port}"
        """The ``iss`` of its tokens, and the base of its discovery document."""
        self.jwks_url = f"{self.issuer}/jwks.json"
        self.discovery_url = f"{self.issuer}/.well-known/openid-configuration"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="chassis-auth-issuer",
            daemon=True,
        )
        self._thread.start()
        self.current_kid = self.add_key()

    # -- keys -----------------------------------------------------------------------------

    def add_key(
        self, alg: str | None = None, *, publish: bool = True, private_key: Any = None
    ) -> str:
        """Make a new signing key; ``publish=False`` keeps it out of the JWKS. Returns its kid.

        ``private_key`` brings a key of your own (a ``cryptography`` private key, or bytes
        for an HMAC secret, published as an ``oct`` JWK: only for testing symmetric set-ups).
        """
        alg = alg or self.alg
        if private_key is None:
            # Each issuer makes its own keys: two issuers in one process never share one.
            private_key = _new_private_key(alg)
        key = _Key("", alg, private_key, publish)
        key.kid = _b64(hashlib.sha256(key.public_pem()).digest()[:12]) + f"-{alg.lower()}"
        with self._lock:
            self._keys[key.kid] = key
        return key.kid

    def publish(self, kid: str) -> None:
        """List the key in the JWKS."""
        self._keys[kid].published = True

    def unpublish(self, kid: str) -> None:
        """Take the key out of the JWKS (tokens it signed stop validating once keys refresh)."""
        self._keys[kid].published = False

    def rotate(self, *, retire_old: bool = True) -> str:
        """A new current key, published; the old one leaves the JWKS unless ``retire_old``
        is false. Returns the new kid."""
        old = self.current_kid
        self.current_kid = self.add_key()
        if retire_old:
            self.unpublish(old)
        return self.current_kid

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set it serves: its published public keys."""
        with self._lock:
            keys = [key.public_jwk() for key in self._keys.values() if key.published]
        return {"keys": keys}

    def public_pem(self, kid: str | None = None) -> bytes:
        """The PEM of a public key (what a key-confusion attack signs HS256 tokens with)."""
        return self._keys[kid or self.current_kid].public_pem()

    def discovery(self) -> dict[str, Any]:
        """Its OpenID Connect discovery document."""
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_url,
            # Named as a real issuer names them (Swagger UI's Authorize button points there);
            # this issuer does not serve them.
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "id_token_signing_alg_values_supported": sorted({k.alg for k in self._keys.values()}),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
        }

    # -- tokens ---------------------------------------------------------------------------

    def token(
        self,
        scopes: Sequence[str] | None = None,
        *,
        roles: Sequence[str] | None = None,
        subject: str = "test-user",
        expires_in: float = 300,
        kid: str | None = None,
        headers: Mapping[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A signed JWT: ``iss``, ``aud``, ``sub``, ``iat``, ``exp`` (now + ``expires_in``),
        a unique ``jti``, ``scope`` (space-separated) and ``roles`` when given, then
        ``claims`` (which override; a claim given as ``None`` is left out). ``kid`` picks the
        signing key; ``headers`` are added to the JWS header (``{"kid": None}`` leaves the
        kid out)."""
        import jwt

        key = self._keys[kid or self.current_kid]
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": now,
            "exp": int(now + expires_in),
            "jti": uuid.uuid4().hex,
        }
        if scopes is not None:
            payload["scope"] = " ".join(scopes)
        if roles is not None:
            payload["roles"] = list(roles)
        payload.update(claims)
        payload = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode(
            payload,
            key.private_key,
            algorithm=key.alg,
            headers={
                name: value
                for name, value in {"kid": key.kid, **dict(headers or {})}.items()
                if value is not None
            },
        )

    def auth_header(self, scopes: Sequence[str] | None = None, **kwargs: Any) -> dict[str, str]:
        """``{"Authorization": "Bearer <token>"}`` for :meth:`token`'s arguments."""
        return {"Authorization": f"Bearer {self.token(scopes, **kwargs)}"}

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Settings that make an app trust this issuer: ``{"auth": {...}}``, found by
        discovery; ``overrides`` are more ``[auth]`` settings."""
        section: dict[str, Any] = {"issuer": self.issuer, "audience": [self.audience]}
        section.update(overrides)
        return {"auth": section}

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LocalIssuer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<LocalIssuer {self.issuer} alg={self.alg} kid={self.current_kid}>"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away (its event loop closed mid-fetch) is not worth a traceback.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def _handler_for(issuer: LocalIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            issuer.requests += 1
            if issuer.delay:
                time.sleep(issuer.delay)
            if self.path == "/jwks.json":
                document: dict[str, Any] | None = issuer.jwks()
                issuer.fetches += 1
            elif self.path == "/.well-known/openid-configuration":
                document = issuer.discovery()
                issuer.discovery_fetches += 1
            else:
                document = None
            if document is None:
                self._answer(404, {"error": "not found"})
            elif not issuer.available:
                self._answer(503, {"error": "unavailable"})
            else:
                self._answer(200, document)

        def _answer(self, status: int, document: dict[str, Any]) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def auth_issuer() -> Iterator[LocalIssuer]:
    """A :class:`LocalIssuer` serving its JWKS on 127.0.0.1 for the test (RS256 keys)."""
    with LocalIssuer() as issuer:
        yield issuer


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m chassis_auth.testing``: a local issuer for development; prints a token."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m chassis_auth.testing",
        description="Serve a local OpenID Connect issuer (discovery + JWKS) on 127.0.0.1 and "
        "print a token it signed. For development only: its keys live in memory.",
    )
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--audience", default=DEFAULT_AUDIENCE)
    parser.add_argument("--scope", action="append", default=[], help="repeatable")
    parser.add_argument("--role", action="append", default=[], help="repeatable")
    parser.add_argument("--subject", default="dev-user")
    parser.add_argument("--expires-in", type=float, default=3600.0, help="seconds")
    parser.add_argument("--alg", default="RS256")
    args = parser.parse_args(argv)
    with LocalIssuer(alg=args.alg, audience=args.audience, port=args.port) as issuer:
        token = issuer.token(
            args.scope,
            roles=args.role or None,
            subject=args.subject,
            expires_in=args.expires_in,
        )
        print(f"issuer:   {issuer.issuer}", flush=True)
        print(
            f"settings: CHASSIS_AUTH__ISSUER={issuer.issuer} "
            f"CHASSIS_AUTH__AUDIENCE={issuer.audience}"
        )
        print(f"token:    {token}", flush=True)
        print("serving until interrupted (Ctrl-C)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
