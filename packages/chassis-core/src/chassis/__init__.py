"""chassis: a pluggable microservice chassis on Connexion 3 (Flask 3 or natively async)."""

import warnings

# Connexion imports Starlette's test client at start-up, which warns that it prefers httpx2;
# installing httpx2 beside Connexion's httpx would cost every service ~60 ms of start-up.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

from typing import TYPE_CHECKING, Any

from ._app import App, __version__
from ._base import BaseApp
from ._context import RequestContext, current_context, get_context
from ._listing import split_list
from ._management import probe_paths
from ._management_settings import InfoSettings, LoggersSettings, ManagementSettings
from ._markers import hookimpl, hookspec
from ._paths import app_path
from ._patterns import PathPatternList, PathPatterns
from ._plugins import ENTRY_POINT_GROUP, PluginError, PluginInfo
from ._problem import problem_response
from ._redact import redact_credentials
from ._responses import OperationResult
from ._runtime import PluginContext
from ._settings import (
    CommaList,
    CorsSettings,
    EnvelopeSettings,
    HealthSettings,
    PluginSettings,
    Settings,
    SettingsError,
)

if TYPE_CHECKING:
    from ._async_app import AsyncApp
    from ._database import DatabaseCheck
    from ._endpoints import HttpEndpoint, parse_headers
    from ._outage import Outage
    from ._outgoing import outgoing_headers
    from ._per_loop import PerLoop
    from ._registry import register_metrics
    from ._resolver import MultipleResourceResolver

# Imported on first use: a service that does not use them does not pay for them at start-up.
_LAZY = {
    "AsyncApp": "_async_app",
    "DatabaseCheck": "_database",
    "HttpEndpoint": "_endpoints",
    "parse_headers": "_endpoints",
    "Outage": "_outage",
    "outgoing_headers": "_outgoing",
    "PerLoop": "_per_loop",
    "register_metrics": "_registry",
    "MultipleResourceResolver": "_resolver",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'chassis' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "ENTRY_POINT_GROUP",
    "App",
    "AsyncApp",
    "BaseApp",
    "CommaList",
    "CorsSettings",
    "DatabaseCheck",
    "EnvelopeSettings",
    "HealthSettings",
    "HttpEndpoint",
    "InfoSettings",
    "LoggersSettings",
    "ManagementSettings",
    "MultipleResourceResolver",
    "OperationResult",
    "Outage",
    "PathPatternList",
    "PathPatterns",
    "PerLoop",
    "PluginContext",
    "PluginError",
    "PluginInfo",
    "PluginSettings",
    "RequestContext",
    "Settings",
    "SettingsError",
    "__version__",
    "app_path",
    "current_context",
    "get_context",
    "hookimpl",
    "hookspec",
    "outgoing_headers",
    "parse_headers",
    "probe_paths",
    "problem_response",
    "redact_credentials",
    "register_metrics",
    "split_list",
]
