"""The directmail example calls its address-lookup service through chassis-client; the
service is stubbed by name with the testing kit."""

from __future__ import annotations

import chassis_client
import httpx
import pytest
from directmail.service import create_app

MATCH = {"line1": "1 High Street", "town": "Swindon", "uprn": "100121"}


@pytest.fixture
def example(make_chassis_app, tmp_path, app_class):
    """The example as chassis.App (sync handlers, the sync client) and chassis.AsyncApp
    (async handlers, the async client)."""
    make_chassis_app()  # clears CHASSIS_* from the environment

    def build(client_settings=None, *, with_client=True):
        settings = {"plugins": [], "sqlalchemy": {"url": f"sqlite:///{tmp_path / 'dm.db'}"}}
        if with_client:
            settings["client"] = client_settings or {"require": ["address"]}
        plugins = {"client": chassis_client} if with_client else {}
        return create_app(settings=settings, plugins=plugins, app_class=app_class)

    return build


def test_the_address_comes_from_the_address_service(example, stub_service):
    address = stub_service("address")
    route = address.get(path="/addresses").respond(json={"results": [MATCH]})
    with example().test_client() as client:
        premises = client.get("/premises/1").json()
        response = client.get("/premises/1/address", headers={"X-Request-ID": "lookup-1"})
    assert response.status_code == 200
    assert response.json() == {
        "premises_id": 1,
        "address": premises["address"],
        "postcode": premises["postcode"],
        "lookup": MATCH,
    }
    sent = route.calls.last.request
    assert sent.url.params["postcode"] == premises["postcode"]
    assert sent.headers["x-request-id"] == "lookup-1"
    assert int(sent.headers["request-timeout"]) > 0


def test_no_match_leaves_the_lookup_empty(example, stub_service):
    stub_service("address").get(path="/addresses").respond(404, json={"results": []})
    with example().test_client() as client:
        response = client.get("/premises/2/address")
    assert response.status_code == 200
    assert response.json()["lookup"] is None


def test_a_failing_address_service_is_retried_then_refused_by_its_breaker(example, stub_service):
    route = stub_service("address").get(path="/addresses")
    route.side_effect = [httpx.Response(503)] * 4
    app = example(
        {
            "services": {
                "address": {
                    "base_url": "http://address.stub",
                    "retry": {"attempts": 2, "backoff_initial": 0.01, "backoff_max": 0.01},
                    "breaker": {"failure_threshold": 4},
                }
            }
        }
    )
    with app.test_client() as client:
        first = client.get("/premises/1/address")
        second = client.get("/premises/1/address")
        refused = client.get("/premises/1/address")
    assert first.status_code == second.status_code == 502  # the view's answer to a 503
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["service"] == "address"
    assert route.call_count == 4


def test_without_an_address_service_the_lookup_is_left_out(example):
    with example(with_client=False).test_client() as client:
        response = client.get("/premises/1/address")
    assert response.status_code == 200
    assert response.json()["lookup"] is None


def test_the_example_requires_its_address_service(example):
    with pytest.raises(Exception, match="CHASSIS_CLIENT__SERVICES__ADDRESS__BASE_URL"):
        example({"require": ["address"]})
