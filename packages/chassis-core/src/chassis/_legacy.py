"""connexion-plus's ``use_*`` keywords, mapped onto settings so moving over is one import."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any


def connexion_plus_overrides(
    extras: dict[str, Any],
    origins: dict[str, str],
    *,
    use_tracer: Any,
    use_metric: Any,
    use_optimizer: Any,
    use_cors: Any,
    use_default_handler: Any,
    use_logging_level: Any,
) -> dict[str, Any]:
    """Settings for the keywords given; objects settings cannot hold go into ``extras``, and
    ``origins`` learns which keyword set which setting (for error messages)."""
    mapped: dict[str, Any] = {}
    if use_tracer is not None:
        mapped["tracing"] = {"enabled": bool(use_tracer)}
        if not isinstance(use_tracer, bool):
            extras["tracer"] = use_tracer
    if use_metric is not None:
        mapped["metrics"] = {"enabled": bool(use_metric)}
        if not isinstance(use_metric, bool):
            extras["metrics"] = use_metric
    if use_optimizer is not None:
        if isinstance(use_optimizer, Mapping):
            mapped["optimizer"] = {**use_optimizer, "enabled": True}
        else:
            mapped["optimizer"] = {"enabled": bool(use_optimizer)}
    if use_cors is not None:
        # Only the switch: the origins of a policy set elsewhere are kept (see BaseApp).
        mapped["cors"] = {"enabled": bool(use_cors)}
    if callable(use_default_handler):
        extras["error_handler"] = use_default_handler
    if use_logging_level is not None:
        level = (
            logging.getLevelName(use_logging_level)
            if isinstance(use_logging_level, int)
            else str(use_logging_level).upper()
        )
        mapped.setdefault("tracing", {})["log_level"] = level
    given = {
        "tracing.enabled": ("use_tracer", use_tracer),
        "metrics.enabled": ("use_metric", use_metric),
        "optimizer": ("use_optimizer", use_optimizer),
        "cors.enabled": ("use_cors", use_cors),
        "tracing.log_level": ("use_logging_level", use_logging_level),
    }
    for key, (keyword, value) in given.items():
        if value is not None:
            origins[key] = (
                f"{keyword}={value!r}" if isinstance(value, (bool, int, str)) else keyword
            )
    return mapped
