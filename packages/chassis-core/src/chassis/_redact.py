"""Credentials out of text that leaves the process or reaches a log: ``user:password@`` in URLs."""

from __future__ import annotations

import re
from typing import Any

_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]*@")


def redact_credentials(text: str) -> str:
    """``text`` with the ``user:password@`` part of every URL replaced by ``***@``."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


def redact_values(data: Any) -> Any:
    """``data`` (JSON-like) with :func:`redact_credentials` applied to every string in it."""
    if isinstance(data, str):
        return redact_credentials(data)
    if isinstance(data, dict):
        return {key: redact_values(value) for key, value in data.items()}
    if isinstance(data, list):
        return [redact_values(value) for value in data]
    return data
