"""The problems a rate-limited request can get: 429 (quota exceeded) and 503 (limits cannot be
checked and ``fail_open`` is off). Raised in the request path and turned into
application/problem+json with the request id by the kernel's error handler (an application's
own ``add_error_handler`` for these classes wins)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from connexion.exceptions import ProblemException

QUOTA_EXCEEDED = "https://iana.org/assignments/http-problem-types#quota-exceeded"
"""The problem type draft-ietf-httpapi-ratelimit-headers registers for a 429."""


class RateLimitExceeded(ProblemException):
    """429 Too Many Requests: ``Retry-After``, ``RateLimit-Policy`` and ``RateLimit`` fields,
    and the names of the violated policies in ``violated-policies``."""

    def __init__(
        self,
        detail: str,
        *,
        retry_after: int,
        violated: Sequence[str],
        headers: Mapping[str, str],
    ) -> None:
        super().__init__(
            status=429,
            title="Too Many Requests",
            detail=detail,
            type=QUOTA_EXCEEDED,
            headers={"Retry-After": str(retry_after), **headers},
            ext={"violated-policies": list(violated)},
        )
        self.retry_after = retry_after


class RateLimitUnavailable(ProblemException):
    """503: the rate-limit storage cannot be reached and ``fail_open`` is off."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            status=503,
            title="Service Unavailable",
            detail="The rate limits of this operation cannot be checked right now.",
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after
