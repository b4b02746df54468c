"""problem+json answers for refused credentials, with RFC 6750 ``WWW-Authenticate`` challenges.

The reason goes to the log (with the request id, which every chassis log line carries) and to
the rejection counter; the client gets a generic detail that tells an attacker nothing.

The challenges follow the operation's schemes: ``Bearer`` (RFC 6750) for bearer, oauth2 and
openIdConnect schemes, ``ApiKey`` for apiKey schemes. An API key is not an HTTP
authentication scheme and has no registered challenge, but RFC 7235 section 3.1 wants a
challenge on every 401, and a ``Bearer`` one would send the client off to fetch an OAuth
token the operation does not take; ``ApiKey realm="..."`` (the challenge of a wrong key too)
says which kind of credentials the operation wants.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from chassis import problem_response
from connexion.exceptions import OAuthProblem, OAuthResponseProblem, OAuthScopeProblem
from connexion.lifecycle import ConnexionRequest, ConnexionResponse

from ._authenticator import BEARER, absent_challenges
from ._errors import (
    INSUFFICIENT_SCOPE_DETAIL,
    INVALID_API_KEY_DETAIL,
    INVALID_TOKEN_DETAIL,
    AuthUnavailable,
    InvalidToken,
)

if TYPE_CHECKING:
    from chassis import App

    from ._authenticator import Authenticator

logger = logging.getLogger("chassis.auth")

MISSING_DETAIL = "No credentials were provided."

# Connexion's own OAuthProblem details, and what they mean.
_CONNEXION_REASONS = {
    "No authorization token provided": "missing",
    "Invalid authorization header": "malformed_header",
}

_UNSAFE_IN_QUOTES = re.compile(r'["\\\x00-\x1f\x7f]')


def _quoted(value: str) -> str:
    return '"' + _UNSAFE_IN_QUOTES.sub("", value) + '"'


def _classify(exc: OAuthProblem) -> tuple[str, str]:
    if isinstance(exc, InvalidToken):
        return exc.reason, exc.message
    detail = str(exc.detail or "")
    if isinstance(exc, OAuthResponseProblem):
        return "rejected", detail
    return _CONNEXION_REASONS.get(detail, "rejected"), detail


class AuthErrorHandlers:
    """The handlers of one app (they need its realm and its counters)."""

    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator
        self.realm = f"realm={_quoted(authenticator.realm)}"

    async def unauthorized(self, request: ConnexionRequest, exc: OAuthProblem) -> ConnexionResponse:
        """401 with ``WWW-Authenticate``; ``error="invalid_token"`` unless nothing was sent
        (RFC 6750 section 3.1: no error code when the request had no credentials).

        With nothing sent, one challenge per kind of scheme the operation accepts, in the
        order of its ``security`` list (``Bearer`` when no scheme of the plugin's was tried:
        a user's own ``security_map`` handler)."""
        reason, message = _classify(exc)
        self._refused(request, 401, reason, message)
        if reason == "missing":
            schemes = absent_challenges(request) or [BEARER]
            challenge = ", ".join(f"{scheme} {self.realm}" for scheme in schemes)
            detail = MISSING_DETAIL
        elif getattr(exc, "api_key", False):
            challenge, detail = f"ApiKey {self.realm}", INVALID_API_KEY_DETAIL
        else:
            challenge = f'Bearer {self.realm}, error="invalid_token"'
            detail = INVALID_TOKEN_DETAIL
        return problem_response(
            401, "Unauthorized", detail, headers={"WWW-Authenticate": challenge}
        )

    async def forbidden(
        self, request: ConnexionRequest, exc: OAuthScopeProblem
    ) -> ConnexionResponse:
        """403 with ``WWW-Authenticate: Bearer error="insufficient_scope", scope="..."``."""
        required: Sequence[str] = getattr(exc, "required_scopes", None) or ()
        granted: Sequence[str] = getattr(exc, "token_scopes", None) or ()
        missing = [scope for scope in required if scope not in set(granted)]
        self._refused(request, 403, "insufficient_scope", f"missing scope(s) {missing}")
        challenge = f'Bearer {self.realm}, error="insufficient_scope"'
        if required:
            challenge += f", scope={_quoted(' '.join(required))}"
        return problem_response(
            403, "Forbidden", INSUFFICIENT_SCOPE_DETAIL, headers={"WWW-Authenticate": challenge}
        )

    async def unavailable(
        self, request: ConnexionRequest, exc: AuthUnavailable
    ) -> ConnexionResponse:
        """503 with ``Retry-After``: the credentials cannot be checked right now."""
        self._refused(request, 503, exc.reason, exc.message)
        return problem_response(503, "Service Unavailable", exc.detail, headers=exc.headers)

    def _refused(self, request: ConnexionRequest, status: int, reason: str, message: str) -> None:
        level = logging.INFO if status < 500 else logging.ERROR
        if reason == "jwks_unavailable":
            level = logging.WARNING
        logger.log(
            level,
            "%s %s -> %d refused (%s)%s",
            request.method,
            request.url.path,
            status,
            reason,
            f": {message[:300]}" if message else "",
            extra={"auth_reason": reason},
        )
        try:
            self.authenticator.metrics.rejected(reason)
        except Exception:  # counting must never change the answer
            logger.debug("could not count a refusal", exc_info=True)


def register(app: App, authenticator: Authenticator) -> None:
    """Register the 401, 403 and 503 handlers on ``app`` (they replace the kernel's)."""
    handlers = AuthErrorHandlers(authenticator)
    app.add_error_handler(OAuthProblem, handlers.unauthorized)
    app.add_error_handler(OAuthScopeProblem, handlers.forbidden)
    app.add_error_handler(AuthUnavailable, handlers.unavailable)
