"""Swagger UI's Authorize button signs in at the plugin's issuer (connexion issue 968).

With ``swagger_client_id`` set:

* Swagger UI is started with ``initOAuth`` (client id, scopes, PKCE on; no client secret: the
  browser is a public client) through Connexion's ``SwaggerUIOptions`` template arguments, and
  ``oauth2RedirectUrl`` in its config when ``swagger_redirect_url`` is set;
* every ``oauth2`` security scheme of the app's specs gets an ``authorizationCode`` flow whose
  ``authorizationUrl``/``tokenUrl`` are the issuer's (from settings, else from the issuer's
  OIDC discovery document, read once at start-up), and every ``openIdConnect`` scheme points at
  the issuer's discovery document: the tokens Swagger UI obtains are the ones this service
  validates.

App-wide options are set in ``configure_app`` (so ``add_api`` calls made afterwards get them);
an API given its own ``swagger_ui_options=`` gets ``initOAuth`` added to them at start-up
(its own keys win). The specs are rewritten at start-up; Connexion serves ``/openapi.json``
from the spec object on each request, so the UI reads the rewritten document.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ._settings import AuthSettings

if TYPE_CHECKING:
    import chassis

logger = logging.getLogger("chassis.auth")

FLOW = "authorizationCode"


def init_oauth(settings: AuthSettings, app_name: str) -> dict[str, Any]:
    """Swagger UI's ``initOAuth`` configuration."""
    return {
        "clientId": settings.swagger_client_id,
        "scopes": " ".join(settings.swagger_scopes),
        "usePkceWithAuthorizationCodeGrant": True,
        "appName": app_name,
    }


def _merge_options(options: Any, settings: AuthSettings, app_name: str) -> None:
    """Add the OAuth settings to a ``SwaggerUIOptions`` in place; keys it has win."""
    arguments = options.swagger_ui_template_arguments
    arguments["initOAuth"] = {**init_oauth(settings, app_name), **arguments.get("initOAuth", {})}
    config = options.swagger_ui_config
    # Also in the config: Swagger UI labels the flow "with PKCE" from there.
    config.setdefault("usePkceWithAuthorizationCodeGrant", True)
    if settings.swagger_redirect_url:
        config.setdefault("oauth2RedirectUrl", settings.swagger_redirect_url)


def configure(app: chassis.BaseApp, settings: AuthSettings) -> None:
    """At ``configure_app``: the app-wide Swagger UI options."""
    from connexion.options import SwaggerUIOptions

    options = app.middleware.options
    if options.swagger_ui_options is None:
        options.swagger_ui_options = SwaggerUIOptions()
    _merge_options(options.swagger_ui_options, settings, app.settings.service_name)


async def start(app: chassis.BaseApp, settings: AuthSettings) -> None:
    """At ``startup``: each API's own options, and its specs' OAuth schemes."""
    apis = list(getattr(app.middleware, "apis", []))
    for api in apis:
        own = api.kwargs.get("swagger_ui_options")
        if own is not None:
            _merge_options(own, settings, app.settings.service_name)
    authorization_url, token_url = await _endpoints(settings)
    discovery = settings.discovery_document_url
    for api in apis:
        _rewrite(api.specification.raw, authorization_url, token_url, discovery)
        _rewrite(api.specification.spec, authorization_url, token_url, discovery)
    logger.info(
        "Swagger UI signs in at %s (client %s, PKCE)",
        authorization_url or "(the specs' own authorization URLs)",
        settings.swagger_client_id,
    )


async def _endpoints(settings: AuthSettings) -> tuple[str | None, str | None]:
    """The authorization and token endpoints: settings first, else discovery."""
    authorization_url = settings.swagger_authorization_url
    token_url = settings.swagger_token_url
    source = settings.discovery_document_url
    if (authorization_url and token_url) or source is None:
        return authorization_url, token_url
    import httpx

    from ._jwks import JwksError, _get_json

    try:
        async with httpx.AsyncClient(timeout=settings.jwks_timeout) as client:
            document = await _get_json(client, source)
        if not isinstance(document, dict):
            raise JwksError(f"{source} is not a JSON object")
        authorization_url = authorization_url or _url(document, "authorization_endpoint")
        token_url = token_url or _url(document, "token_endpoint")
        if not (authorization_url and token_url):
            raise JwksError(f"{source} names no authorization_endpoint and token_endpoint")
    except JwksError as error:
        logger.warning(
            "Swagger UI's Authorize button keeps the specs' own OAuth URLs: %s; set "
            "CHASSIS_AUTH__SWAGGER_AUTHORIZATION_URL and CHASSIS_AUTH__SWAGGER_TOKEN_URL",
            error,
        )
        return settings.swagger_authorization_url, settings.swagger_token_url
    return authorization_url, token_url


def _url(document: dict[str, Any], key: str) -> str | None:
    value = document.get(key)
    return value if isinstance(value, str) and value.startswith(("https://", "http://")) else None


def _rewrite(
    spec: dict[str, Any],
    authorization_url: str | None,
    token_url: str | None,
    discovery: str | None,
) -> None:
    """Point the OAuth security schemes of one spec document at the issuer, in place."""
    if "swagger" in spec:  # Swagger 2: one flow per scheme, named accessCode
        schemes = spec.get("securityDefinitions") or {}
        for scheme in schemes.values():
            if (
                isinstance(scheme, dict)
                and scheme.get("type") == "oauth2"
                and scheme.get("flow") == "accessCode"
                and authorization_url
                and token_url
            ):
                scheme["authorizationUrl"] = authorization_url
                scheme["tokenUrl"] = token_url
        return
    schemes = (spec.get("components") or {}).get("securitySchemes") or {}
    for scheme in schemes.values():
        if not isinstance(scheme, dict):
            continue
        if scheme.get("type") == "openIdConnect" and discovery:
            scheme["openIdConnectUrl"] = discovery
        if scheme.get("type") != "oauth2" or not (authorization_url and token_url):
            continue
        flows = scheme.setdefault("flows", {})
        existing = flows.get(FLOW) or {}
        scopes: dict[str, str] = {}
        for flow in flows.values():
            if isinstance(flow, dict):
                scopes.update(flow.get("scopes") or {})
        flows[FLOW] = {
            **existing,
            "authorizationUrl": authorization_url,
            "tokenUrl": token_url,
            "scopes": existing.get("scopes") or scopes,
        }
