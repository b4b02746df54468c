"""The validated-token cache: what one request does with its token_info never reaches another."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import chassis_auth
from chassis_auth.testing import LocalIssuer


def test_auth_a_view_mutating_token_info_grants_nothing_later(
    auth_app: Any, auth_issuer: LocalIssuer
) -> None:
    """/mutate adds items:write to its token_info (and a role, a nested role, another sub);
    the same token must still be refused where items:write is required, and keep its claims."""
    headers = auth_issuer.auth_header(
        ["items:read"], roles=["viewer"], realm_access={"roles": ["viewer"]}
    )

    with auth_app(roles_as_scopes=True, roles_claim="realm_access.roles").test_client() as client:
        before = client.get("/oidc", headers=headers)  # oidc: [items:write]
        mutated = [client.get("/mutate", headers=headers) for _ in range(2)]
        after = client.get("/oidc", headers=headers)
        seen = client.get("/bearer", headers=headers).json()

    assert before.status_code == 403
    # each request got the token's own claims, not the previous request's changes
    assert mutated[0].json()["scopes"][:2] == ["items:read", "items:write"]
    assert mutated[1].json() == mutated[0].json()
    assert after.status_code == 403
    assert after.headers["www-authenticate"].endswith('scope="items:write"')
    assert (seen["user"], seen["context_user"]) == ("test-user", "test-user")
    assert (seen["scopes"], seen["roles"]) == (["items:read"], ["viewer"])


def test_auth_validate_token_hands_out_independent_copies(
    make_chassis_app: Any, auth_issuer: LocalIssuer
) -> None:
    app = make_chassis_app(settings=auth_issuer.settings(), plugins=[chassis_auth])
    authenticator = chassis_auth.get_authenticator(app)
    assert authenticator is not None
    token = auth_issuer.token(["a"], roles=["r"], groups=[{"name": "g", "tags": ["t"]}])

    async def validate_three_times() -> list[dict[str, Any]]:
        infos = []
        for _ in range(3):
            info = await authenticator.validate_token(token)
            infos.append(info)
            # what a careless caller may do to its copy (the first is a cache miss)
            info["scopes"].append("admin")
            info["roles"].clear()
            info["groups"][0]["tags"].append("admins")
            info["sub"] = "mallory"
            info["extra"] = True
        return infos

    infos = asyncio.run(validate_three_times())

    for info in infos:  # each one saw only its own caller's changes
        assert info["scopes"] == ["a", "admin"]
        assert info["roles"] == []
        assert info["groups"] == [{"name": "g", "tags": ["t", "admins"]}]
    fresh = asyncio.run(authenticator.validate_token(token))
    assert (fresh["sub"], fresh["scopes"], fresh["roles"]) == ("test-user", ["a"], ["r"])
    assert fresh["groups"] == [{"name": "g", "tags": ["t"]}]
    assert "extra" not in fresh
    # still plain JSON types, as PyJWT decoded them: views may treat them as such
    assert type(fresh) is dict and type(fresh["scopes"]) is list
    assert type(fresh["groups"][0]) is dict
    authenticator.check_scopes(fresh, ["a"])


def test_auth_a_string_exp_is_refused_and_never_remembered(
    auth_app: Any, auth_issuer: LocalIssuer, caplog: Any
) -> None:
    """``"exp": "<digits>"`` used to pass (PyJWT reads it with int()) and then stay in the
    cache for token_cache_ttl, past that time, since the cache bounds entries by a numeric exp
    only. RFC 7519 makes NumericDate a JSON number: the token is refused every time."""
    soon = int(time.time()) + 2
    bad = auth_issuer.auth_header(["items:read"], exp=str(soon))
    good = auth_issuer.auth_header(["items:read"], exp=soon)
    app = auth_app(leeway=0, token_cache_ttl=600)
    authenticator = chassis_auth.get_authenticator(app)
    assert authenticator is not None and authenticator.validator is not None
    with app.test_client() as client:
        refused = [client.get("/bearer", headers=bad) for _ in range(2)]
        assert len(authenticator.validator._cache) == 0  # nothing remembered
        accepted = client.get("/bearer", headers=good)
        assert len(authenticator.validator._cache) == 1  # a number exp still is
        # Past exp, the number one stops working at once; the string one never worked.
        while time.time() <= soon:
            time.sleep(0.1)
        later = [client.get("/bearer", headers=headers) for headers in (bad, good)]

    for response in [*refused, *later]:
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == (
            'Bearer realm="chassis-service", error="invalid_token"'
        )
    assert accepted.status_code == 200
    reasons = [r.auth_reason for r in caplog.records if hasattr(r, "auth_reason")]
    assert reasons == ["invalid_claim", "invalid_claim", "invalid_claim", "expired"]
