"""The 400 problem+json sent for a bad ``offset``, ``limit`` or ``cursor``."""

from __future__ import annotations

from connexion.exceptions import ProblemException

_SHOWN = 40


class InvalidPageParameter(ProblemException):
    """A pagination query parameter is invalid: a 400 problem+json naming it and saying why.

    The body carries RFC 9457's ``invalid-params`` extension:
    ``[{"name": "limit", "in": "query", "reason": "must be at most 100"}]``.
    """

    def __init__(self, name: str, reason: str, given: str | None = None) -> None:
        detail = f"query parameter '{name}' {reason}"
        if given is not None:
            shown = given if len(given) <= _SHOWN else given[:_SHOWN] + "..."
            detail += f" (got {shown!r})"
        super().__init__(
            status=400,
            title="Bad Request",
            detail=detail,
            ext={"invalid-params": [{"name": name, "in": "query", "reason": reason}]},
        )
        self.parameter = name
        self.reason = reason
