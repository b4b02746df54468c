"""List settings given as text: ``a,b,c`` or a JSON list (``["a", "b"]``)."""

from __future__ import annotations

import json
from typing import Any


def split_list(value: Any) -> Any:
    """``"a, b"`` -> ``["a", "b"]``; ``'["a", "b"]'`` -> ``["a", "b"]``; other values as given.

    Environment variables and ``.env`` files give lists as text; pydantic-settings users
    write JSON lists there, others comma-separated values: both are read.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            raise ValueError("starts with '[' but is not a JSON list") from None
        if not isinstance(parsed, list):  # pragma: no cover - '[' always starts a list
            raise ValueError("not a JSON list")
        return parsed
    return [item.strip() for item in text.split(",") if item.strip()]
