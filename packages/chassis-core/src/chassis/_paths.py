"""The request's path as the application sees it, whatever prefix the server adds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def app_path(scope: Mapping[str, Any]) -> str:
    """The request's path relative to the app, as Flask's ``request.path`` gives it.

    ASGI servers include their ``root_path`` (uvicorn ``--root-path``, a path-prefix proxy)
    in ``scope["path"]``; this is the path without it (an API's base path stays). Middleware
    that matches fixed paths (``/healthz``, ``/metrics``) or keys by path uses it.
    """
    path: str = scope["path"]
    root: str = scope.get("root_path") or ""
    if root and path.startswith(root):
        rest = path[len(root) :]
        if not rest or rest.startswith("/"):
            return rest or "/"
    return path
