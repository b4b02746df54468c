"""Operation handlers of the auth tests' spec (module name unique across test folders)."""

from __future__ import annotations

from typing import Any

import chassis


def whoami(user: Any = None, token_info: Any = None) -> dict[str, Any]:
    """What Connexion handed the view, and what chassis.current_context says."""
    info = token_info or {}
    context_info = chassis.current_context.token_info or {}
    return {
        "user": user,
        "scopes": info.get("scopes"),
        "roles": info.get("roles"),
        "claims": sorted(info),
        "context_user": chassis.current_context.user,
        "context_sub": context_info.get("sub"),
    }


def open_route() -> dict[str, Any]:
    return {"open": True}


bearer = scoped = oidc = apikey = apikey_query = apikey_cookie = either = custom = custom_key = (
    whoami
)


def mutate(token_info: dict[str, Any]) -> dict[str, Any]:
    """A view that changes its token_info: later requests must not see the changes."""
    token_info["scopes"].append("items:write")
    token_info["roles"].append("admin")
    token_info["sub"] = "mallory"
    if isinstance(token_info.get("realm_access"), dict):
        token_info["realm_access"]["roles"].append("admin")
    context_info = chassis.current_context.token_info
    if context_info is not None:
        context_info["scopes"].append("items:delete")
    return {"scopes": token_info["scopes"]}


def custom_info(token: str) -> dict[str, Any] | None:
    """An x-bearerInfoFunc of the spec's own: the plugin must leave it in charge."""
    return {"sub": "custom-user", "scopes": []} if token == "let-me-in" else None


def custom_key_info(key: str, required_scopes: Any = None) -> dict[str, Any] | None:
    """An x-apikeyInfoFunc of the spec's own."""
    return {"sub": "custom-key-user"} if key == "open-sesame" else None
