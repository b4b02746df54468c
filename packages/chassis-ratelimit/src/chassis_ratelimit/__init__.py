"""chassis-ratelimit: rate limits for chassis services (plugin ``ratelimit``).

* Limits per operation from the OpenAPI document (``x-chassis-ratelimit: {limit: 100, per:
  1m}``, or several), with defaults and overrides in the settings.
* Counted per authenticated subject, API key or client address (``X-Forwarded-For`` only
  from ``trusted_proxies``), in a moving window of the ``limits`` package: in memory for one
  process, or atomically in Redis for every worker and replica.
* A refused request gets 429 application/problem+json with the request id, ``Retry-After``
  and the ``RateLimit-Policy`` / ``RateLimit`` fields of draft-ietf-httpapi-ratelimit-headers;
  allowed requests carry them too (``headers`` setting).
* Redis unreachable: requests are served unchecked (readiness says degraded, a counter counts
  them) or refused with 503 (``fail_open = false``); the limiter recovers by itself.

See the package README for every setting.
"""

from __future__ import annotations

from typing import Any

from ._errors import QUOTA_EXCEEDED, RateLimitExceeded, RateLimitUnavailable
from ._plugin import HEALTH_CHECK, configure_app, health_info, settings_model, shutdown, startup
from ._policy import Policy, parse_policies
from ._settings import RateLimitSettings

__all__ = [
    "HEALTH_CHECK",
    "QUOTA_EXCEEDED",
    "Policy",
    "RateLimitExceeded",
    "RateLimitSettings",
    "RateLimitUnavailable",
    "get_limiter",
    "parse_policies",
]

chassis_plugin_name = "ratelimit"
"""The plugin's name when passed as an object: ``App(plugins=[chassis_ratelimit])``."""

# Hook implementations, found by the plugin manager on this module.
_HOOKS = (configure_app, health_info, settings_model, shutdown, startup)


def get_limiter(app: Any) -> Any:
    """The app's :class:`~chassis_ratelimit._limiter.Limiter` (its storage, settings,
    metrics), or ``None`` when the plugin is not active for it."""
    find = getattr(app, "plugin_context", None)
    context = find(__name__) if find is not None else None
    return context.state if context is not None else None
