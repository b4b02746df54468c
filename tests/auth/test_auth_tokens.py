"""Bearer JWT validation against a real JWKS served over HTTP: every way a token goes wrong."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from chassis_auth import REASONS
from chassis_auth.testing import LocalIssuer

PROBLEM = "application/problem+json"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(document: dict[str, Any]) -> str:
    return _b64(json.dumps(document).encode())


def _claims(issuer: LocalIssuer, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": issuer.issuer,
        "aud": issuer.audience,
        "sub": "mallory",
        "iat": now,
        "exp": now + 300,
        **extra,
    }


def alg_none(issuer: LocalIssuer) -> str:
    header = {"alg": "none", "typ": "JWT", "kid": issuer.current_kid}
    return f"{_segment(header)}.{_segment(_claims(issuer))}."


def hs256_with_public_key(issuer: LocalIssuer) -> str:
    """The key-confusion attack: HMAC "signed" with the RSA public key everyone can fetch."""
    header = {"alg": "HS256", "typ": "JWT", "kid": issuer.current_kid}
    signing_input = f"{_segment(header)}.{_segment(_claims(issuer))}"
    signature = hmac.new(issuer.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def hs256_without_kid(issuer: LocalIssuer) -> str:
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = f"{_segment(header)}.{_segment(_claims(issuer))}"
    signature = hmac.new(issuer.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def es256_header_on_rsa_key(issuer: LocalIssuer) -> str:
    token = issuer.token()
    _, payload, signature = token.split(".")
    header = {"alg": "ES256", "typ": "JWT", "kid": issuer.current_kid}
    return f"{_segment(header)}.{payload}.{signature}"


def tampered(issuer: LocalIssuer) -> str:
    header, _, signature = issuer.token(["items:read"]).split(".")
    payload = _segment(_claims(issuer, scope="items:read items:write admin"))
    return f"{header}.{payload}.{signature}"


def oversized_but_signed(issuer: LocalIssuer) -> str:
    return issuer.token(padding="x" * 10_000)


CASES: list[tuple[str, Callable[[LocalIssuer], str], str | tuple[str, ...]]] = [
    ("expired", lambda i: i.token(exp=int(time.time()) - 3600), "expired"),
    ("not yet valid (nbf)", lambda i: i.token(nbf=int(time.time()) + 3600), "not_yet_valid"),
    ("issued in the future (iat)", lambda i: i.token(iat=int(time.time()) + 3600), "not_yet_valid"),
    ("wrong issuer", lambda i: i.token(iss="https://evil.example.com"), "wrong_issuer"),
    ("no issuer", lambda i: i.token(iss=None), "missing_claim"),
    ("wrong audience", lambda i: i.token(aud="another-api"), "wrong_audience"),
    ("no audience", lambda i: i.token(aud=None), "missing_claim"),
    ("no exp", lambda i: i.token(exp=None), "missing_claim"),
    ("iat not a number", lambda i: i.token(iat="yesterday"), "invalid_claim"),
    # RFC 7519: a NumericDate is a JSON number; PyJWT alone reads these with int(...).
    ("exp a numeric string", lambda i: i.token(exp=str(int(time.time()) + 300)), "invalid_claim"),
    ("nbf a numeric string", lambda i: i.token(nbf=str(int(time.time()) - 60)), "invalid_claim"),
    ("iat a numeric string", lambda i: i.token(iat=str(int(time.time()))), "invalid_claim"),
    ("exp a float string", lambda i: i.token(exp=f"{time.time() + 300:.3f}"), "invalid_claim"),
    ("nbf not a number", lambda i: i.token(nbf="tomorrow"), "invalid_claim"),
    ("exp true", lambda i: i.token(exp=True), "invalid_claim"),
    ("exp false", lambda i: i.token(exp=False), "invalid_claim"),
    ("nbf true", lambda i: i.token(nbf=True), "invalid_claim"),
    ("iat false", lambda i: i.token(iat=False), "invalid_claim"),
    ("exp Infinity", lambda i: i.token(exp=float("inf")), "invalid_claim"),
    ("exp NaN", lambda i: i.token(exp=float("nan")), "invalid_claim"),
    ("exp an array", lambda i: i.token(exp=[int(time.time()) + 300]), "invalid_claim"),
    ("alg none", alg_none, "bad_algorithm"),
    ("HS256 signed with the public key", hs256_with_public_key, "bad_algorithm"),
    ("HS256 with the public key, no kid", hs256_without_kid, "bad_algorithm"),
    ("ES256 header on an RSA key", es256_header_on_rsa_key, "bad_algorithm"),
    ("tampered claims", tampered, "bad_signature"),
    ("garbage", lambda i: "not-a-token", "malformed"),
    ("garbage with dots", lambda i: "%%%.***.$$$", "malformed"),
    ("four segments", lambda i: i.token() + ".abc", "malformed"),
    # Cut anywhere, the signature may or may not still decode as base64url.
    ("truncated signature", lambda i: i.token()[:-12], ("malformed", "bad_signature")),
    ("signature short of two characters", lambda i: i.token()[:-2], "bad_signature"),
    ("truncated in the payload", lambda i: i.token()[:60], "malformed"),
    ("header only", lambda i: i.token().split(".")[0], "malformed"),
    ("oversized garbage", lambda i: "a" * 100_000, "oversized"),
    ("oversized, validly signed", oversized_but_signed, "oversized"),
    (
        "signed by an unpublished key",
        lambda i: i.token(kid=i.add_key(publish=False)),
        "unknown_kid",
    ),
]


@pytest.mark.parametrize(
    ("make_token", "reason"), [(m, r) for _, m, r in CASES], ids=[name for name, _, _ in CASES]
)
def test_auth_bad_token_is_401(
    client: Any,
    auth_issuer: LocalIssuer,
    caplog: pytest.LogCaptureFixture,
    make_token: Callable[[LocalIssuer], str],
    reason: str | tuple[str, ...],
) -> None:
    allowed = (reason,) if isinstance(reason, str) else reason
    assert set(allowed) <= set(REASONS)
    token = make_token(auth_issuer)
    response = client.get("/bearer", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"] == (
        'Bearer realm="chassis-service", error="invalid_token"'
    )
    body = response.json()
    # The client learns nothing about why: one detail for every reason.
    assert body["detail"] == "The access token is malformed, invalid or expired."
    assert body["request_id"] == response.headers["x-request-id"]
    assert set(body) == {"type", "title", "status", "detail", "request_id"}
    # ... while the log says why, on the request's own line.
    refused = [r for r in caplog.records if hasattr(r, "auth_reason")]
    assert len(refused) == 1
    assert refused[0].auth_reason in allowed
    assert refused[0].request_id == response.headers["x-request-id"]


def test_auth_valid_token_reaches_the_view_and_the_context(
    client: Any, auth_issuer: LocalIssuer
) -> None:
    response = client.get(
        "/bearer", headers=auth_issuer.auth_header(["items:read"], roles=["admin"], team="blue")
    )

    assert response.status_code == 200
    body = response.json()
    assert body["user"] == "test-user"  # Connexion's `user` argument: the token's sub
    assert body["context_user"] == "test-user"  # chassis.current_context.user
    assert body["context_sub"] == "test-user"  # chassis.current_context.token_info
    assert body["scopes"] == ["items:read"]
    assert body["roles"] == ["admin"]
    assert {"iss", "aud", "exp", "iat", "sub", "team"} <= set(body["claims"])


def test_auth_expired_within_leeway_is_accepted(client: Any, auth_issuer: LocalIssuer) -> None:
    headers = auth_issuer.auth_header(exp=int(time.time()) - 5)  # leeway: 30 s by default

    assert client.get("/bearer", headers=headers).status_code == 200


def test_auth_numeric_dates_may_be_fractional(client: Any, auth_issuer: LocalIssuer) -> None:
    now = time.time()
    headers = auth_issuer.auth_header(exp=now + 300.25, nbf=now - 0.5, iat=now - 0.5)

    assert client.get("/bearer", headers=headers).status_code == 200


def test_auth_leeway_is_configurable(auth_app: Any, auth_issuer: LocalIssuer) -> None:
    headers = auth_issuer.auth_header(exp=int(time.time()) - 5)

    with auth_app(leeway=0).test_client() as client:
        assert client.get("/bearer", headers=headers).status_code == 401


def test_auth_any_configured_audience_is_accepted(auth_app: Any, auth_issuer: LocalIssuer) -> None:
    with auth_app(audience=["other-api", "test-api"]).test_client() as client:
        assert client.get("/bearer", headers=auth_issuer.auth_header()).status_code == 200
        headers = auth_issuer.auth_header(aud=["unrelated", "other-api"])
        assert client.get("/bearer", headers=headers).status_code == 200


def test_auth_required_claims_are_configurable(auth_app: Any, auth_issuer: LocalIssuer) -> None:
    with auth_app(required_claims=["exp", "azp"]).test_client() as client:
        assert client.get("/bearer", headers=auth_issuer.auth_header()).status_code == 401
        headers = auth_issuer.auth_header(azp="frontend")
        assert client.get("/bearer", headers=headers).status_code == 200


@pytest.mark.parametrize("alg", ["PS256", "ES256", "ES384", "EdDSA"])
def test_auth_asymmetric_algorithms(make_chassis_app: Any, alg: str) -> None:
    import chassis_auth
    from auth_spec import SPEC

    with LocalIssuer(alg=alg) as issuer:
        app = make_chassis_app(spec=SPEC, settings=issuer.settings(), plugins=[chassis_auth])
        with app.test_client() as client:
            assert client.get("/bearer", headers=issuer.auth_header()).status_code == 200


def test_auth_algorithm_allowlist(auth_app: Any, auth_issuer: LocalIssuer) -> None:
    with auth_app(algorithms=["ES256"]).test_client() as client:
        response = client.get("/bearer", headers=auth_issuer.auth_header())  # RS256

    assert response.status_code == 401


def test_auth_malformed_authorization_header(client: Any) -> None:
    for value in ("Bearer", "Bearer    "):
        response = client.get("/bearer", headers={"Authorization": value})
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_auth_no_credentials_is_401_without_error_code(client: Any) -> None:
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}):
        response = client.get("/bearer", headers=headers)

        assert response.status_code == 401
        # RFC 6750 3.1: no error code when the request carried no token at all.
        assert response.headers["www-authenticate"] == 'Bearer realm="chassis-service"'
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["detail"] == "No credentials were provided."


def test_auth_realm_is_configurable(auth_app: Any) -> None:
    with auth_app(realm="directmail").test_client() as client:
        response = client.get("/bearer")

    assert response.headers["www-authenticate"] == 'Bearer realm="directmail"'


def test_auth_open_route_needs_nothing(client: Any) -> None:
    assert client.get("/open").json() == {"open": True}


def test_auth_key_confusion_refused_even_with_hmac_allowed(
    auth_app: Any, auth_issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    """HS256 on the allow-list still never verifies with an RSA key of the set."""
    with auth_app(algorithms=["RS256", "HS256"]).test_client() as client:
        token = hs256_with_public_key(auth_issuer)
        response = client.get("/bearer", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert [r.auth_reason for r in caplog.records if hasattr(r, "auth_reason")] == ["bad_algorithm"]


def test_auth_hmac_with_a_symmetric_key_when_allowed(make_chassis_app: Any) -> None:
    import chassis_auth
    from auth_spec import SPEC

    with LocalIssuer(alg="HS256") as issuer:
        for algorithms, status in ((None, 401), (["HS256"], 200)):
            extra = {"algorithms": algorithms} if algorithms else {}
            app = make_chassis_app(
                spec=SPEC, settings=issuer.settings(**extra), plugins=[chassis_auth]
            )
            with app.test_client() as client:
                assert client.get("/bearer", headers=issuer.auth_header()).status_code == status


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_auth_weak_rsa_key_is_refused(
    auth_app: Any, auth_issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    kid = auth_issuer.add_key(private_key=weak)

    with auth_app().test_client() as client:
        response = client.get("/bearer", headers=auth_issuer.auth_header(kid=kid))

    assert response.status_code == 401
    assert [r.auth_reason for r in caplog.records if hasattr(r, "auth_reason")] == ["bad_key"]


def test_auth_token_without_kid_is_checked_against_the_set(
    auth_app: Any, auth_issuer: LocalIssuer
) -> None:
    auth_issuer.add_key()  # two keys in the set; the token names neither
    with auth_app().test_client() as client:
        ok = client.get("/bearer", headers=auth_issuer.auth_header(headers={"kid": None}))
        forged = client.get(
            "/bearer",
            headers={"Authorization": f"Bearer {tampered(auth_issuer)}"},
        )

    assert ok.status_code == 200
    assert forged.status_code == 401
