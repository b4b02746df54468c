"""Settings of the management endpoints: ``/info``, ``/loggers`` and the management port.

Kept beside :mod:`chassis._settings` (which mounts them as ``info``, ``loggers`` and
``management``) so the kernel's main settings module stays small.
"""

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

_PATH = r"^/\S*$"


class InfoSettings(BaseModel):
    """``GET /info``: what runs (service, chassis, plugins, Python, build), since when."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    path: str = Field("/info", pattern=_PATH)
    git_commit: str | None = Field(
        None, description="Commit the service was built from (else the build-info file's)."
    )
    build_time: str | None = Field(
        None, description="When the service was built (else the build-info file's)."
    )
    build_file: str | None = Field(
        None,
        description="JSON file with 'commit' and 'time' (written by `make dist` and the "
        "Dockerfile); unset: ./build-info.json when it exists.",
    )


class LoggersSettings(BaseModel):
    """``GET /loggers`` (and ``PUT /loggers/{name}`` when management changes are on)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    path: str = Field("/loggers", pattern=_PATH)


class ManagementSettings(BaseModel):
    """The management port, and the protection of operations that change state."""

    model_config = ConfigDict(extra="forbid")

    port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Serve probes, /info, /loggers and /metrics only on this port (`chassis "
        "run` listens on it too); unset: on the service's own port.",
    )
    host: str | None = Field(
        None, description="Address `chassis run` binds the port to; unset: its --host."
    )
    write_enabled: bool = Field(
        False,
        description="Allow management operations that change state (PUT /loggers/{name}); "
        "needs `token` or `scope`.",
    )
    token: SecretStr | None = Field(
        None, description="Bearer token those operations require (at least 16 characters)."
    )
    scope: str | None = Field(
        None,
        description="Or: a bearer JWT with this scope, checked by the auth plugin.",
    )

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < 16:
            raise ValueError("must be at least 16 characters (a guessable token is no protection)")
        return value

    @field_validator("scope")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        return value
