"""The auth plugin's cost: the same route open and behind a bearer token, in one run.

    .venv/bin/python bench/bench_auth.py [--duration 4 --rounds 3]

Target (issue 7): with the JWKS cached, an authenticated request at least 0.9 of the requests
per second of the same route unauthenticated (both on the app with the auth plugin). The
issuer is a chassis_auth.testing.LocalIssuer in this process (RS256 keys, JWKS over HTTP);
the load generator sends one token for the whole run, as a client reuses its access token.
Informative scenarios: the plugin's validated-token cache off (an RSA signature check per
request), and the open route on an app without the plugin.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

OPEN_PATH = "/items/1"
SECURE_PATH = "/secure/items/1"

_OK = {
    "200": {
        "description": "one item (~210 bytes)",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}
_ITEM_ID = [{"name": "item_id", "in": "path", "required": True, "schema": {"type": "integer"}}]

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "bench auth", "version": "1"},
    "paths": {
        "/items/{item_id}": {
            "get": {
                "operationId": "bench.handlers.get_item",
                "parameters": _ITEM_ID,
                "responses": _OK,
            }
        },
        "/secure/items/{item_id}": {
            "get": {
                "operationId": "bench.bench_auth.get_secure_item",
                "parameters": _ITEM_ID,
                "security": [{"oauth": ["items:read"]}],
                "responses": _OK,
            }
        },
    },
    "components": {
        "securitySchemes": {
            "oauth": {
                "type": "oauth2",
                "flows": {
                    "clientCredentials": {
                        "tokenUrl": "https://login.example.com/token",
                        "scopes": {"items:read": "read items"},
                    }
                },
            }
        }
    },
}


def get_secure_item(item_id: int) -> dict[str, Any]:
    from bench.handlers import get_item

    return get_item(item_id)


def auth_app() -> Any:
    """``uvicorn --factory bench.bench_auth:auth_app``: settings from ``CHASSIS_*``."""
    import chassis

    app = chassis.App(__name__)
    app.add_api(SPEC)
    return app


def main() -> int:
    from chassis_auth.testing import LocalIssuer

    from bench.harness import Scenario, report, run

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    app = "bench.bench_auth:auth_app"
    with LocalIssuer() as issuer:
        auth = {
            "CHASSIS_LOG_LEVEL": "WARNING",
            "CHASSIS_PLUGINS": "auth",
            "CHASSIS_AUTH__ISSUER": issuer.issuer,
            "CHASSIS_AUTH__AUDIENCE": issuer.audience,
        }
        bearer = {"Authorization": f"Bearer {issuer.token(['items:read'], expires_in=3600)}"}
        print(f"\n== GET {OPEN_PATH} open vs GET {SECURE_PATH} with a bearer JWT (RS256)")
        results = run(
            [
                Scenario("open route, auth plugin", app=app, env=auth, path=OPEN_PATH),
                Scenario(
                    "bearer JWT, JWKS cached",
                    app=app,
                    env=auth,
                    path=SECURE_PATH,
                    headers=bearer,
                ),
                Scenario(
                    "bearer JWT, token cache off",
                    app=app,
                    env={**auth, "CHASSIS_AUTH__TOKEN_CACHE_SIZE": "0"},
                    path=SECURE_PATH,
                    headers=bearer,
                ),
                Scenario(
                    "open route, no plugins",
                    app=app,
                    env={"CHASSIS_LOG_LEVEL": "WARNING", "CHASSIS_PLUGINS": ""},
                    path=OPEN_PATH,
                ),
            ],
            duration=args.duration,
            rounds=args.rounds,
        )
        ok = report(
            results,
            baseline="open route, auth plugin",
            targets={"bearer JWT, JWKS cached": 0.9},
        )
        fetches = issuer.fetches
    for result in results.values():
        unexpected = {s: n for s, n in result.statuses.items() if str(s) != "200"}
        if unexpected:
            print(f"{result.scenario.name}: unexpected statuses {unexpected}")
            ok = False
    print(f"JWKS fetches during the whole run (3 servers with the plugin): {fetches}")
    print("\nall targets met" if ok else "\nSOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
