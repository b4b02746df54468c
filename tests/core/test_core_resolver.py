"""MultipleResourceResolver: /res1/{id}/res2 -> module res1.res2, or res1res2."""

from __future__ import annotations

import sys

import chassis
import pytest

SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "resources", "version": "1"},
    "paths": {
        "/shops/{shop_id}/orders": {
            "get": {
                "parameters": [
                    {
                        "name": "shop_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    }
                ],
                "responses": {"200": {"description": "ok"}},
            },
        },
        "/shops/{shop_id}/orders/{order_id}": {
            "get": {
                "parameters": [
                    {
                        "name": "shop_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    },
                    {
                        "name": "order_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    },
                ],
                "responses": {"200": {"description": "ok"}},
            },
        },
        "/shops": {"get": {"responses": {"200": {"description": "ok"}}}},
    },
}


@pytest.fixture
def api_package(tmp_path, monkeypatch):
    def make(layout: dict[str, str]):
        for relative, source in layout.items():
            path = tmp_path / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(source)
        monkeypatch.syspath_prepend(str(tmp_path))
        yield_names = [name for name in sys.modules if name.startswith("mrr_api")]
        for name in yield_names:
            del sys.modules[name]

    yield make
    for name in [name for name in sys.modules if name.startswith("mrr_api")]:
        del sys.modules[name]


def _serve(make_chassis_app):
    app = make_chassis_app(
        spec=SPEC, api_options={"resolver": chassis.MultipleResourceResolver("mrr_api")}
    )
    with app.test_client() as client:
        return (
            client.get("/shops/1/orders").json(),
            client.get("/shops/1/orders/2").json(),
            client.get("/shops").json(),
        )


SHOPS = "def search():\n    return 'shops'\n"


def test_nested_modules(make_chassis_app, api_package):
    api_package(
        {
            "mrr_api/__init__.py": "",
            "mrr_api/shops/__init__.py": SHOPS,
            "mrr_api/shops/orders.py": (
                "def search(shop_id):\n    return f'nested list {shop_id}'\n"
                "def get(shop_id, order_id):\n    return f'nested {shop_id}/{order_id}'\n"
            ),
        }
    )
    assert _serve(make_chassis_app) == ("nested list 1", "nested 1/2", "shops")


def test_flat_module_named_after_both_resources(make_chassis_app, api_package):
    api_package(
        {
            "mrr_api/__init__.py": "",
            "mrr_api/shops.py": SHOPS,
            "mrr_api/shopsorders.py": (
                "def search(shop_id):\n    return f'flat list {shop_id}'\n"
                "def get(shop_id, order_id):\n    return f'flat {shop_id}/{order_id}'\n"
            ),
        }
    )
    assert _serve(make_chassis_app) == ("flat list 1", "flat 1/2", "shops")
