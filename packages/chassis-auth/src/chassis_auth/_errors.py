"""Why a request was refused: exceptions that carry a reason for logs and metrics only.

The client sees a generic problem+json detail; the reason (``expired``, ``wrong_issuer``, ...)
and PyJWT's message go to the log line of the request and label the rejection counter.
"""

from __future__ import annotations

from collections.abc import Sequence

from connexion.exceptions import OAuthProblem, OAuthScopeProblem, ProblemException

INVALID_TOKEN_DETAIL = "The access token is malformed, invalid or expired."
INVALID_API_KEY_DETAIL = "The API key is not valid."
INSUFFICIENT_SCOPE_DETAIL = "The credentials do not grant a scope this operation requires."
UNAVAILABLE_DETAIL = "Credentials cannot be verified at the moment; retry later."

# The reasons a credential is refused: a closed set, so it can label a metric.
REASONS = (
    "missing",  # no credentials for any scheme the operation accepts
    "malformed_header",  # an Authorization header that is not "<scheme> <credentials>"
    "malformed",  # not a JWS compact serialization, or undecodable header or claims
    "oversized",  # longer than max_token_length
    "bad_algorithm",  # alg not allowed, `none`, or not matching the key type (key confusion)
    "unknown_kid",  # no key with that kid, even after refetching the JWKS
    "bad_key",  # the matching key is unusable (too short, wrong curve)
    "bad_signature",
    "expired",
    "not_yet_valid",  # nbf or iat in the future (beyond the leeway)
    "wrong_issuer",
    "wrong_audience",
    "missing_claim",
    "invalid_claim",  # a claim of the wrong type (exp/nbf/iat not a JSON number, sub not a string)
    "invalid_api_key",
    "rejected",  # a user-supplied x-*InfoFunc returned None
    "insufficient_scope",
    "jwks_unavailable",  # no keys: the JWKS could not be loaded
    "not_configured",  # a bearer scheme but no issuer or jwks_url
)


class InvalidToken(OAuthProblem):
    """401: the credentials are missing or invalid; ``reason`` says why (never sent)."""

    def __init__(self, reason: str, message: str = "", *, api_key: bool = False) -> None:
        super().__init__(detail=INVALID_API_KEY_DETAIL if api_key else INVALID_TOKEN_DETAIL)
        self.reason = reason
        self.message = message
        self.api_key = api_key

    def __repr__(self) -> str:
        return f"InvalidToken({self.reason!r}, {self.message!r})"


class InsufficientScope(OAuthScopeProblem):
    """403: valid credentials that lack a scope the operation requires."""

    reason = "insufficient_scope"

    def __init__(self, required_scopes: Sequence[str], token_scopes: Sequence[str]) -> None:
        super().__init__(token_scopes=list(token_scopes), required_scopes=list(required_scopes))


class AuthUnavailable(ProblemException):
    """503: credentials cannot be checked (no signing keys could be loaded, or none configured).

    Not a 401: the client's token may be perfectly good, and a 401 would send it to fetch
    another one in a loop. A 503 with ``Retry-After`` says "the server's problem, try later".
    """

    def __init__(self, reason: str, message: str, retry_after: float) -> None:
        super().__init__(
            status=503,
            title="Service Unavailable",
            detail=UNAVAILABLE_DETAIL,
            headers={"Retry-After": str(max(1, round(retry_after)))},
        )
        self.reason = reason
        self.message = message
