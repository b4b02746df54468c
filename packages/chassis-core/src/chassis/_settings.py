"""Settings: pydantic-settings models for the kernel, and the loader that adds plugin sections.

Sources, highest first: keyword arguments -> environment -> ``.env`` (or the file named by
``CHASSIS_ENV_FILE``) -> the TOML file named by ``CHASSIS_CONFIG`` -> defaults. Prefix
``CHASSIS_``, nested delimiter ``__``.
"""

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveFloat,
    SecretStr,
    ValidationError,
    create_model,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ._listing import split_list
from ._management_settings import InfoSettings, LoggersSettings, ManagementSettings
from ._origins import Overrides, origin_of
from ._redact import redact_credentials

_GROUP_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")

ENV_PREFIX = "CHASSIS_"
NESTED_DELIMITER = "__"
CONFIG_FILE_VARIABLE = "CHASSIS_CONFIG"
ENV_FILE_VARIABLE = "CHASSIS_ENV_FILE"

# First-party plugins, so that settings for a missing one come with the right ``pip install``.
FIRST_PARTY_PLUGINS = {
    "tracing": "chassis-tracing",
    "metrics": "chassis-metrics",
    "optimizer": "chassis-optimizer",
    "pagination": "chassis-pagination",
    "auth": "chassis-auth",
    "ratelimit": "chassis-ratelimit",
    "client": "chassis-client",
    "idempotency": "chassis-idempotency",
    "sqlalchemy": "chassis-sqlalchemy",
}


class SettingsError(ValueError):
    """Settings are invalid: raised at start-up with one line per problem, naming the variable."""


def _none_when_blank(value: Any) -> Any:
    """``''``, ``none`` and ``null`` from the environment or TOML (which has no null): unset."""
    if isinstance(value, str) and value.strip().lower() in ("", "none", "null"):
        return None
    return value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


CommaList = Annotated[list[str], NoDecode, BeforeValidator(split_list)]
"""A list that environment variables give as ``a,b,c`` or as a JSON list (TOML and keywords
give real lists)."""


class PluginSettings(BaseModel):
    """Base class for a plugin's settings model (see the ``settings_model`` hook).

    Every plugin section has ``enabled`` (``CHASSIS_<NAME>__ENABLED``); unknown keys are errors.
    """

    model_config = ConfigDict(extra="forbid", validate_default=True)

    enabled: bool = True


class HealthSettings(BaseModel):
    """Liveness and readiness probes."""

    model_config = ConfigDict(extra="forbid")

    liveness_path: str = "/healthz"
    readiness_path: str = "/readyz"
    startup_path: str = Field("/startupz", description="Kubernetes startupProbe: group startup.")
    groups_path: str = Field(
        "/health", description="GET <path>/<group>: a group's checks with durations and errors."
    )
    groups: dict[str, CommaList] = Field(
        default={},
        description='Checks (or plugins) added to groups: {"liveness": ["deadlock"]}.',
    )

    @field_validator("groups")
    @classmethod
    def _group_names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name in value:
            if not _GROUP_NAME.fullmatch(name):
                raise ValueError(f"group name {name!r}: use lower case letters, digits, - and _")
        return value

    timeout: PositiveFloat = Field(2.0, description="Seconds each readiness check may take.")
    database_url: SecretStr | None = Field(
        None,
        description="Deprecated: CHASSIS_SQLALCHEMY__URL (chassis-sqlalchemy). SQLAlchemy URL "
        "checked by /readyz (connectivity and alembic revision).",
    )


class CorsSettings(BaseModel):
    """CORS through Starlette's CORSMiddleware, outermost, so error responses carry it too."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    allow_origins: CommaList = Field(default=[])
    allow_origin_regex: str | None = None
    allow_methods: CommaList = Field(default=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
    allow_headers: CommaList = Field(default=["*"])
    allow_credentials: bool = False
    expose_headers: CommaList = Field(default=[])
    max_age: int = Field(600, ge=0)


class EnvelopeSettings(BaseModel):
    """The ``{"meta": ..., "data": ...}`` response envelope (cst-micro-chassis's format)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False


class ShutdownSettings(BaseModel):
    """Graceful shutdown on SIGTERM (see ``chassis._shutdown``)."""

    model_config = ConfigDict(extra="forbid")

    drain_seconds: float = Field(
        0.0, ge=0, description="After SIGTERM, seconds readiness answers 503 while serving."
    )
    grace_seconds: float = Field(
        30.0, ge=0, description="Then, seconds in-flight requests get (`chassis run`)."
    )


class _ChassisSources(BaseSettings):
    """Where settings come from, highest first: keywords, environment, ``.env``, then the TOML
    file named by ``CHASSIS_CONFIG``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter=NESTED_DELIMITER)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        chosen: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
        env_file = _env_file()
        if env_file is not None:
            dotenv = DotEnvSettingsSource(settings_cls, env_file=env_file)
            chosen = (*chosen, _KnownKeysOnly(dotenv))
        config_file = _config_file()
        if config_file is None:
            return chosen
        try:
            toml: PydanticBaseSettingsSource = TomlConfigSettingsSource(
                settings_cls, toml_file=config_file
            )
        except ValueError as error:  # tomllib's (or tomli's) TOMLDecodeError
            raise SettingsError(f"{CONFIG_FILE_VARIABLE}={str(config_file)!r}: {error}") from None
        if settings_cls is Settings:
            # A Settings object built by hand has no plugin sections: it leaves those of the
            # file to the App, which validates them with each plugin's model.
            toml = _KnownKeysOnly(toml)
        elif issubclass(settings_cls, Settings) and settings_cls._dormant_sections:
            toml = _KnownKeysOnly(toml, drop=settings_cls._dormant_sections)
        return (*chosen, toml)


class Settings(_ChassisSources):
    """The kernel's settings. Plugin sections are added at start-up under each plugin's name."""

    # Deferred: an App validates a subclass with its plugin sections, built then (building
    # this one too would cost every start-up ~1.5 ms); a Settings made by hand is built at
    # its first use.
    model_config = SettingsConfigDict(extra="forbid", validate_default=True, defer_build=True)

    _dormant_sections: ClassVar[frozenset[str]] = frozenset()
    """Sections of installed plugins that are not loaded: accepted, not validated (only their
    ``enabled`` is, when plugins are selected)."""

    service_name: str = Field("chassis-service", min_length=1)
    service_version: str = "0.0.0"
    plugins: CommaList | None = Field(
        None,
        description="Plugins to load, in order. Unset: every installed plugin. Empty: none.",
    )
    disabled_plugins: CommaList = Field(default=[])
    log_level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)
    ] = "INFO"
    log_format: Literal["text", "json"] = "text"
    request_id_header: str = Field("X-Request-ID", pattern=r"^[A-Za-z0-9-]+$")
    json_indent: int | None = Field(
        None, ge=0, le=8, description="Indent JSON responses (compact when unset)."
    )
    threads: int = Field(10, ge=1, le=512, description="Threads that run Flask views.")
    error_handler: str | None = Field(
        None,
        description="'module:function' replacing the default error handler for exceptions.",
    )
    context_class: str | None = Field(
        None,
        description="'module:Class' built per request; reach it as current_context.custom.",
    )
    max_body_bytes: Annotated[int | None, BeforeValidator(_none_when_blank)] = Field(
        10 * 1024 * 1024,
        ge=0,
        description="Larger request bodies get a 413; 'none' (or empty): no limit.",
    )
    max_path_bytes: int = Field(
        4096, ge=64, le=65536, description="Longer request paths get a 414."
    )
    health: HealthSettings = HealthSettings()
    shutdown: ShutdownSettings = ShutdownSettings()
    cors: CorsSettings = CorsSettings()
    envelope: EnvelopeSettings = EnvelopeSettings()
    info: InfoSettings = InfoSettings()
    loggers: LoggersSettings = LoggersSettings()
    management: ManagementSettings = ManagementSettings()


class _KnownKeysOnly(PydanticBaseSettingsSource):
    """Only the keys the model knows, from a source that may hold others; with ``drop``, all
    keys but those.

    A ``.env`` file is often shared with other tools: its unrelated variables are not ours
    (pydantic-settings reports them as extra keys; unknown ``CHASSIS_*`` ones are still
    reported, by the check of unknown variables).
    """

    def __init__(
        self, inner: PydanticBaseSettingsSource, drop: frozenset[str] | None = None
    ) -> None:
        super().__init__(inner.settings_cls)
        self.inner = inner
        self.drop = drop

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        if self.drop is not None:
            return {key: value for key, value in self.inner().items() if key not in self.drop}
        fields = self.settings_cls.model_fields
        return {key: value for key, value in self.inner().items() if key in fields}


class _PluginToggle(PluginSettings):
    """What is read of a plugin's section before the plugin is imported: only ``enabled``."""

    model_config = ConfigDict(extra="allow")


class _Bootstrap(_ChassisSources):
    """Reads only what decides which plugins load; the rest is validated afterwards, so
    that every invalid setting is reported at once."""

    model_config = SettingsConfigDict(extra="allow", defer_build=True)

    plugins: CommaList | None = None
    disabled_plugins: CommaList = Field(default=[])


_S = TypeVar("_S", bound=BaseSettings)


def _config_file() -> Path | None:
    return _named_file(CONFIG_FILE_VARIABLE, None)


def _env_file() -> Path | None:
    """``.env`` in the working directory if there is one, or the file ``CHASSIS_ENV_FILE``
    names; ``CHASSIS_ENV_FILE=""``: none (the testing kit's isolated apps)."""
    return _named_file(ENV_FILE_VARIABLE, ".env")


def _named_file(variable: str, default: str | None) -> Path | None:
    name = os.environ.get(variable)
    if name is None:
        return Path(default) if default and Path(default).is_file() else None
    if not name:
        return None
    path = Path(name)
    if not path.is_file():
        raise SettingsError(f"{variable}={name!r}: no such file")
    return path


def variable_name(loc: Iterable[Any]) -> str:
    """``("health", "timeout")`` -> ``CHASSIS_HEALTH__TIMEOUT``."""
    return ENV_PREFIX + NESTED_DELIMITER.join(str(part).upper() for part in loc)


def _is_secret(model: type[BaseModel], loc: list[Any]) -> bool:
    """Whether ``loc`` names a ``SecretStr`` field (whose input must never be echoed)."""
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None:
            return False
        annotation = field.annotation
        if "SecretStr" in repr(annotation):
            return True
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return False
        model = annotation
    return False


def _describe(error: ValidationError, model: type[BaseModel], overrides: Mapping[str, Any]) -> str:
    lines = []
    for item in error.errors():
        loc = [part for part in item["loc"] if not isinstance(part, int)]
        key = ".".join(str(part) for part in loc)
        given = item.get("input")
        hidden = given is None or isinstance(given, (dict, SecretStr)) or _is_secret(model, loc)
        shown = "" if hidden else f", got {redact_credentials(repr(given))}"
        if item["type"] == "extra_forbidden" and len(loc) == 1 and loc[0] in FIRST_PARTY_PLUGINS:
            message = (
                f"plugin {loc[0]!r} is not installed (pip install {FIRST_PARTY_PLUGINS[loc[0]]})"
            )
            shown = ""
        elif item["type"] == "extra_forbidden":
            message = "unknown setting"
        else:
            message = redact_credentials(item["msg"])
        where = origin_of(loc, overrides)
        source = f" (from {where})" if where is not None else ""
        lines.append(f"  {variable_name(loc)} ({key}): {message}{shown}{source}")
    return "Invalid settings:\n" + "\n".join(lines)


def _check_unknown_variables(known: set[str]) -> None:
    """pydantic-settings ignores unknown environment variables; a typo should not pass silently."""
    names: set[str] = {name for name in os.environ if name.upper().startswith(ENV_PREFIX)}
    env_file = _env_file()
    if env_file is not None:
        from dotenv import dotenv_values

        names |= {k for k in dotenv_values(env_file) if k.upper().startswith(ENV_PREFIX)}
    unknown = []
    for name in sorted(names):
        if name.upper() in (CONFIG_FILE_VARIABLE, ENV_FILE_VARIABLE):
            continue
        top = name[len(ENV_PREFIX) :].split(NESTED_DELIMITER, 1)[0].lower()
        if top not in known:
            hint = FIRST_PARTY_PLUGINS.get(top)
            unknown.append(
                f"{name}: plugin {top!r} is not installed (pip install {hint})"
                if hint
                else f"{name}: unknown setting"
            )
    if unknown:
        hint = ", ".join(sorted(known))
        raise SettingsError(
            "Invalid settings:\n"
            + "\n".join(f"  {line}" for line in unknown)
            + f"\n  (known sections and settings: {hint})"
        )


def read_bootstrap(overrides: Mapping[str, Any], plugin_names: Iterable[str]) -> _Bootstrap:
    """First pass: the kernel's own settings and each known plugin's ``enabled`` flag."""
    model = create_model(  # type: ignore[call-overload]
        "Settings",
        __base__=_Bootstrap,
        **{name: (_PluginToggle, _PluginToggle()) for name in plugin_names},
    )
    return _validate(model, overrides)


def build_settings(
    overrides: Mapping[str, Any],
    sections: Mapping[str, type[BaseModel] | None],
    dormant: Iterable[str] = (),
) -> Settings:
    """Second pass: the full settings, with a validated section for each loaded plugin.

    ``sections`` maps each loaded plugin to its model (``None``: only ``enabled``); ``dormant``
    names installed plugins that are not loaded, whose sections are accepted but not validated
    (the first pass validated their ``enabled``), and are not in the result.
    """
    fields: dict[str, Any] = {}
    for name, section in sections.items():
        section = section or PluginSettings
        fields[name] = (section, Field(default={}, validate_default=True))
    clash = set(fields) & set(Settings.model_fields)
    if clash:
        raise SettingsError(f"plugin names clash with core settings: {', '.join(sorted(clash))}")
    ignored = frozenset(dormant) - set(fields)
    model = create_model("Settings", __base__=Settings, **fields)
    model._dormant_sections = ignored
    _check_unknown_variables(set(model.model_fields) | ignored)
    given = Overrides(
        {key: value for key, value in overrides.items() if key not in ignored},
        getattr(overrides, "keywords", None),
    )
    return _validate(model, given)


def kernel_settings() -> Settings:
    """The kernel's own settings from the environment, ``.env`` and TOML (no plugin sections)."""
    return _validate(Settings, {})


def _validate(model: type[_S], overrides: Mapping[str, Any]) -> _S:
    try:
        return model(**dict(overrides))
    except ValidationError as error:
        raise SettingsError(_describe(error, model, overrides)) from None
