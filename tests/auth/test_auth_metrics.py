"""Rejections counted by reason on the metrics plugin's registry, when it is active."""

from __future__ import annotations

import re
import time
from typing import Any

import chassis_auth
import pytest
from auth_spec import SPEC
from chassis_auth.testing import LocalIssuer

chassis_metrics = pytest.importorskip("chassis_metrics")


def _sample(text: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    match = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def test_auth_rejections_are_counted_by_reason(
    make_chassis_app: Any, auth_issuer: LocalIssuer
) -> None:
    app = make_chassis_app(
        spec=SPEC,
        settings={**auth_issuer.settings(), "metrics": {"path": "/metrics"}},
        plugins=[chassis_metrics, chassis_auth],
    )
    with app.test_client() as client:
        client.get("/bearer", headers=auth_issuer.auth_header(exp=int(time.time()) - 3600))
        client.get("/bearer", headers=auth_issuer.auth_header(exp=int(time.time()) - 3600))
        client.get("/bearer", headers=auth_issuer.auth_header(aud="elsewhere"))
        client.get("/scoped", headers=auth_issuer.auth_header(["nothing"]))
        client.get("/bearer")
        assert client.get("/bearer", headers=auth_issuer.auth_header()).status_code == 200
        text = client.get("/metrics").text

    name = "chassis_auth_rejected_total"
    assert _sample(text, name, reason="expired") == 2
    assert _sample(text, name, reason="wrong_audience") == 1
    assert _sample(text, name, reason="insufficient_scope") == 1
    assert _sample(text, name, reason="missing") == 1
    assert _sample(text, name, reason="bad_signature") == 0  # every reason exists from the start
    assert _sample(text, "chassis_auth_jwks_fetches_total", outcome="ok") == 1
    assert _sample(text, "chassis_auth_jwks_fetches_total", outcome="error") == 0
