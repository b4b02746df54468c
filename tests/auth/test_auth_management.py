"""The auth plugin protects the kernel's management operations (CHASSIS_MANAGEMENT__SCOPE)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from chassis_auth.testing import LocalIssuer


@pytest.fixture
def chassis_app_class(app_class: Any) -> Any:
    return app_class


def test_a_jwt_with_the_management_scope_changes_a_log_level(
    auth_app: Any, auth_issuer: LocalIssuer
) -> None:
    app = auth_app(
        settings={
            "loggers": {"enabled": True},
            "management": {"write_enabled": True, "scope": "ops:loggers"},
        }
    )
    try:
        with app.test_client() as client:
            granted = client.put(
                "/loggers/audit.trail",
                json={"level": "DEBUG"},
                headers=auth_issuer.auth_header(scopes=["ops:loggers"]),
            )
            lacking = client.put(
                "/loggers/audit.trail",
                json={"level": "ERROR"},
                headers=auth_issuer.auth_header(scopes=["read"]),
            )
            forged = client.put(
                "/loggers/audit.trail",
                json={"level": "ERROR"},
                headers={"Authorization": "Bearer not.a.jwt"},
            )
        assert granted.status_code == 200
        assert granted.json()["configured_level"] == "DEBUG"
        assert lacking.status_code == 403
        assert forged.status_code == 401
        assert logging.getLogger("audit.trail").level == logging.DEBUG
    finally:
        logging.getLogger("audit.trail").setLevel(logging.NOTSET)
