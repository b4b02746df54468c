"""The optimizer's settings: ``settings.optimizer``, ``CHASSIS_OPTIMIZER__*``."""

from __future__ import annotations

from typing import Any

from chassis import CommaList, PathPatternList, PluginSettings
from pydantic import Field, PositiveFloat, SecretStr, field_validator

ALGORITHMS = ("zstd", "br", "gzip")
"""The content codings the optimizer produces, in its default order of preference."""

DAY = 24 * 60 * 60

DEFAULT_COMPRESS_TYPES = [
    "text/*",
    "application/json",
    "application/javascript",
    "application/xml",
    "application/yaml",
    "application/x-yaml",
    "application/x-ndjson",
    "application/wasm",
    "application/vnd.ms-fontobject",
    "image/svg+xml",
    "image/x-icon",
    "image/bmp",
    "font/ttf",
    "font/otf",
    "+json",
    "+xml",
]
"""Media types worth compressing: ``type/subtype``, ``type/*`` or a ``+suffix`` (RFC 6839)
such as ``+json`` (``application/problem+json``...). ``text/event-stream`` never is."""


class OptimizerSettings(PluginSettings):
    """Settings of the optimizer plugin (``[optimizer]`` in TOML, ``CHASSIS_OPTIMIZER__*``).

    Levels default to what ``bench/bench_optimizer.py`` showed to be the best trade-off on a
    10 KB JSON list (see the README): zstd 3, brotli 4 and gzip 6.
    """

    # -- compression -----------------------------------------------------------------------
    compress: bool = Field(
        True, description="Compress responses (routes can opt out, or in when this is off)."
    )
    compress_algorithms: CommaList = Field(
        default_factory=lambda: list(ALGORITHMS),
        description="Content codings offered, preferred first when the client rates them equally.",
    )
    compress_min_size: int = Field(500, ge=0, description="Smaller bodies are sent as they are.")
    compress_max_size: int = Field(
        8 * 1024 * 1024,
        ge=0,
        description="Bodies larger than this are passed through unbuffered and uncompressed.",
    )
    compress_types: CommaList = Field(
        default_factory=lambda: list(DEFAULT_COMPRESS_TYPES),
        description="Compressible media types: type/subtype, type/* or +suffix.",
    )
    zstd_level: int = Field(3, ge=1, le=22)
    brotli_level: int = Field(4, ge=0, le=11)
    gzip_level: int = Field(6, ge=1, le=9)
    compress_memo_bytes: int = Field(
        8 * 1024 * 1024,
        ge=0,
        description="Bytes of compressed bodies remembered by a strong ETag of their bytes "
        "(0: off).",
    )

    # -- minify ----------------------------------------------------------------------------
    minify: bool = Field(
        True, description="Compact JSON and minified HTML (routes can opt out, or in)."
    )
    fast_json: bool = Field(
        True, description="Serialize JSON with orjson (Connexion's jsonifier, Flask's provider)."
    )

    # -- HTTP caching ----------------------------------------------------------------------
    etag: bool = Field(
        True,
        description="An ETag on GET/HEAD 200 responses (weak when the body carries the "
        "request id, as enveloped ones do); If-None-Match answers 304.",
    )

    # -- server-side response cache --------------------------------------------------------
    cache_enabled: bool = Field(
        True,
        description="The server-side response cache; false turns it off for every route "
        "(Cache-Control and ETags stay).",
    )
    cache_all: bool = Field(
        False,
        description="Cache every GET operation for cache_ttl seconds (routes can opt out; "
        "when off, routes opt in).",
    )
    cache_ttl: int = Field(
        DAY, ge=1, description="Seconds a response stays fresh when a route gives no number."
    )
    cache_url: SecretStr | None = Field(
        None, description="redis://, rediss:// or unix:// URL of a shared cache; unset: memory."
    )
    cache_max_entries: int = Field(1024, ge=1, description="In-memory cache: most entries.")
    cache_max_bytes: int = Field(
        64 * 1024 * 1024, ge=1, description="In-memory cache: most bytes of bodies and headers."
    )
    cache_max_entry_bytes: int = Field(
        1024 * 1024, ge=1, description="Larger responses are not cached."
    )
    cache_fill_wait: float = Field(
        10.0,
        ge=0,
        description="Seconds a miss waits for a concurrent request filling the same entry "
        "(in this process, or with Redis in any worker) rather than running the view again "
        "(0: never waits).",
    )
    cache_invalidate_writes: bool = Field(
        False,
        description="After a 2xx answer to POST, PUT, PATCH or DELETE of an operation, drop "
        "the cached responses of its path, the paths under it and its parent collection.",
    )
    cache_key_prefix: str | None = Field(
        None,
        description="Prefix of cache keys; default 'chassis:optimizer:<service>:<version>:'.",
    )
    cache_timeout: PositiveFloat = Field(0.25, description="Seconds each Redis call may take.")
    cache_retry_interval: PositiveFloat = Field(
        5.0, description="After a Redis failure, seconds the cache is bypassed before a retry."
    )
    cache_warn_interval: PositiveFloat = Field(
        60.0, description="At most one warning per this many seconds while Redis fails."
    )
    cache_required: bool = Field(
        False, description="Readiness fails (503) while Redis is unreachable."
    )
    cache_status_header: bool = Field(
        True, description="Send RFC 9211 Cache-Status (hit, miss, bypass) on cached routes."
    )
    credential_headers: CommaList = Field(
        default_factory=lambda: ["Authorization", "Cookie"],
        description="Request headers that make a response private to whoever sent them.",
    )

    exclude_paths: PathPatternList = Field(
        default_factory=list,
        description="Paths left untouched: exact paths or glob patterns ('/static/*'), "
        "chassis's path-pattern syntax; the health paths always are.",
    )

    @field_validator("compress_algorithms")
    @classmethod
    def _known_algorithms(cls, value: list[str]) -> list[str]:
        cleaned = [item.strip().lower() for item in value]
        unknown = [item for item in cleaned if item not in ALGORITHMS]
        if unknown:
            raise ValueError(
                f"unknown content coding(s) {', '.join(unknown)}; choose from "
                f"{', '.join(ALGORITHMS)}"
            )
        return list(dict.fromkeys(cleaned))

    @field_validator("compress_types")
    @classmethod
    def _media_types(cls, value: list[str]) -> list[str]:
        cleaned = [item.strip().lower() for item in value if item.strip()]
        for item in cleaned:
            if not item.startswith("+") and "/" not in item:
                raise ValueError(f"{item!r} is not a media type (type/subtype, type/* or +suffix)")
        return cleaned

    @field_validator("cache_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @property
    def redis_url(self) -> str | None:
        """The Redis URL, or ``None`` for the in-memory cache."""
        if self.cache_url is None:
            return None
        url = self.cache_url.get_secret_value()
        return None if url.lower().startswith("memory://") else url
