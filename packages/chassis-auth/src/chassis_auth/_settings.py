"""The ``[auth]`` settings section (``CHASSIS_AUTH__*``)."""

from __future__ import annotations

from typing import Annotated

import chassis
from chassis import CommaList, PluginSettings
from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

# Asymmetric algorithms only: HMAC needs a shared secret, never something a JWKS URL publishes.
DEFAULT_ALGORITHMS = [
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
]

# The algorithms PyJWT implements (with ``cryptography``), ``none`` excluded on purpose.
KNOWN_ALGORITHMS = frozenset([*DEFAULT_ALGORITHMS, "HS256", "HS384", "HS512", "ES256K", "ES521"])


SecretList = Annotated[list[SecretStr], NoDecode, BeforeValidator(chassis.split_list)]
"""Secrets that environment variables give as ``a,b,c``; masked wherever settings print."""


class AuthSettings(PluginSettings):
    """Settings of the ``auth`` plugin: ``settings.auth``, ``CHASSIS_AUTH__<FIELD>``."""

    issuer: str | None = Field(
        None,
        description="Expected `iss` of tokens; OpenID Connect discovery runs on it when "
        "jwks_url is not set.",
    )
    jwks_url: str | None = Field(
        None, description="URL of the JSON Web Key Set; when unset, found by OIDC discovery."
    )
    discovery_url: str | None = Field(
        None,
        description="OIDC discovery document; default <issuer>/.well-known/openid-configuration.",
    )
    audience: CommaList = Field(
        default_factory=list, description="Accepted `aud` values (a token needs one of them)."
    )
    verify_audience: bool = Field(
        True, description="Check `aud`. Turning it off accepts tokens meant for other services."
    )
    algorithms: CommaList = Field(
        default_factory=lambda: list(DEFAULT_ALGORITHMS),
        description="Accepted signature algorithms; `none` is never accepted and HMAC ones "
        "only with symmetric (`oct`) keys.",
    )
    leeway: float = Field(30.0, ge=0, le=600, description="Clock skew allowed, in seconds.")
    required_claims: CommaList = Field(
        default_factory=lambda: ["exp"], description="Claims a token must carry."
    )
    jwks_ttl: float = Field(
        300.0, gt=0, description="Seconds before cached keys are refreshed (in the background)."
    )
    jwks_min_refetch_interval: float = Field(
        10.0,
        ge=0,
        description="At most one JWKS fetch per this many seconds (unknown `kid`, failures).",
    )
    jwks_timeout: float = Field(5.0, gt=0, le=60, description="HTTP timeout of a JWKS fetch.")
    token_cache_size: int = Field(
        4096, ge=0, description="Validated tokens remembered (by SHA-256); 0 turns it off."
    )
    token_cache_ttl: float = Field(
        60.0, ge=0, description="Seconds a validated token is remembered (never past `exp`)."
    )
    max_token_length: int = Field(
        8192, ge=256, description="Longer bearer tokens are rejected before any parsing."
    )
    scope_claims: CommaList = Field(
        default_factory=lambda: ["scope", "scp"],
        description="Claims holding granted scopes (space-separated or a list); first found.",
    )
    roles_claim: str = Field(
        "roles", description="Claim holding roles; a dotted path reaches nested claims."
    )
    roles_as_scopes: bool = Field(
        False, description="Roles also satisfy the scopes an operation requires."
    )
    api_keys: SecretList = Field(
        default_factory=list, description="Keys accepted by `apiKey` security schemes."
    )
    realm: str | None = Field(
        None, description="Realm of WWW-Authenticate challenges; default: the service name."
    )
    swagger_client_id: str | None = Field(
        None,
        description="OAuth client id of Swagger UI (a public client: no secret): its Authorize "
        "button then signs in at the issuer with the authorization code flow and PKCE.",
    )
    swagger_scopes: CommaList = Field(
        default_factory=list,
        description="Scopes ticked in Swagger UI's Authorize dialog (e.g. openid,items:read).",
    )
    swagger_redirect_url: str | None = Field(
        None,
        description="Redirect URL registered for the client; default: Swagger UI's own "
        "<ui path>/oauth2-redirect.html on the host it is served from.",
    )
    swagger_authorization_url: str | None = Field(
        None,
        description="The issuer's authorization endpoint; default: from OIDC discovery.",
    )
    swagger_token_url: str | None = Field(
        None, description="The issuer's token endpoint; default: from OIDC discovery."
    )

    @field_validator("algorithms")
    @classmethod
    def _check_algorithms(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one algorithm is needed")
        for name in value:
            if name.lower() == "none":
                raise ValueError("'none' is not an algorithm a token may be signed with")
            if name not in KNOWN_ALGORITHMS:
                known = ", ".join(sorted(KNOWN_ALGORITHMS))
                raise ValueError(f"unknown algorithm {name!r} (known: {known})")
        return value

    @field_validator(
        "issuer",
        "jwks_url",
        "discovery_url",
        "swagger_redirect_url",
        "swagger_authorization_url",
        "swagger_token_url",
    )
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _check_audience(self) -> AuthSettings:
        if self.jwt_configured and self.verify_audience and not self.audience:
            raise ValueError(
                "CHASSIS_AUTH__AUDIENCE is not set: name the audience this service accepts "
                "(or set CHASSIS_AUTH__VERIFY_AUDIENCE=false to accept any)"
            )
        return self

    @model_validator(mode="after")
    def _check_swagger(self) -> AuthSettings:
        if (
            self.swagger_client_id
            and not (self.swagger_authorization_url and self.swagger_token_url)
            and self.discovery_document_url is None
        ):
            raise ValueError(
                "CHASSIS_AUTH__SWAGGER_CLIENT_ID is set, but Swagger UI cannot find where to "
                "sign in: set CHASSIS_AUTH__ISSUER (or CHASSIS_AUTH__DISCOVERY_URL) for OIDC "
                "discovery, or CHASSIS_AUTH__SWAGGER_AUTHORIZATION_URL and "
                "CHASSIS_AUTH__SWAGGER_TOKEN_URL"
            )
        return self

    @property
    def discovery_document_url(self) -> str | None:
        """The issuer's OIDC discovery document, when there is one to read."""
        if self.discovery_url:
            return self.discovery_url
        if self.issuer:
            return self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        return None

    @property
    def jwt_configured(self) -> bool:
        """Whether bearer tokens can be validated: an issuer or a JWKS URL is set."""
        return bool(self.issuer or self.jwks_url or self.discovery_url)

    @property
    def jwks_source(self) -> str | None:
        """Where keys come from: the JWKS URL, else the discovery document."""
        if self.jwks_url:
            return self.jwks_url
        if self.discovery_url:
            return self.discovery_url
        if self.issuer:
            return self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        return None
