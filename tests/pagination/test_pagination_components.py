"""The OpenAPI components shipped with the package, referenced from specs the ways Connexion 3
supports; the plugin's packaging (entry point, no SQLAlchemy needed for sequences)."""

from __future__ import annotations

import shutil
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import chassis_pagination
import pytest
from chassis_pagination import components, components_path, paginate, with_components
from chassis_test_support import run_python
from connexion.resolver import Resolver
from pagination_support import links

NUMBERS = list(range(1, 1001))


def numbers(**_: Any) -> Any:
    return paginate(NUMBERS)


RESOLVER = Resolver(function_resolver=lambda operation_id: numbers)


def _document(parameters: list[Any]) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "components", "version": "1"},
        "paths": {
            "/numbers": {
                "get": {
                    "operationId": "numbers",
                    "parameters": parameters,
                    "responses": {"200": {"description": "numbers"}},
                }
            }
        },
    }


def _served_parameters(client: Any) -> dict[str, Any]:
    served = client.get("/openapi.json").json()
    return {p["name"]: p for p in served["paths"]["/numbers"]["get"]["parameters"]}


def test_the_components() -> None:
    shipped = components()
    assert set(shipped["parameters"]) == {"offset", "limit", "cursor"}
    assert shipped["parameters"]["limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
    }
    assert shipped["parameters"]["offset"]["schema"]["minimum"] == 0
    assert set(shipped["headers"]) == {"Link", "X-Total-Count"}
    assert "PaginationMeta" in shipped["schemas"]
    assert components_path().is_file()


def test_absolute_ref_to_the_components_file(make_chassis_app: Any) -> None:
    """A spec referencing the file by its absolute path: Connexion validates the parameters
    (here without the plugin, so with Connexion's own messages)."""
    path = components_path().as_posix()
    document = _document(
        [
            {"$ref": f"{path}#/components/parameters/offset"},
            {"$ref": f"{path}#/components/parameters/limit"},
        ]
    )
    app = make_chassis_app(spec=document, api_options={"resolver": RESOLVER})
    with app.test_client() as client:
        assert client.get("/numbers?limit=3").json() == [1, 2, 3]
        assert client.get("/numbers?limit=abc").status_code == 400
        assert client.get("/numbers?limit=101").status_code == 400
        assert client.get("/numbers?offset=-1").status_code == 400
        served = _served_parameters(client)
    assert served["limit"]["schema"]["maximum"] == 100  # resolved in the served spec


SPEC_FILE = """\
openapi: 3.0.3
info: {title: components, version: "1"}
paths:
  /numbers:
    get:
      operationId: numbers
      parameters:
        - $ref: "REF#/components/parameters/offset"
        - $ref: "REF#/components/parameters/limit"
      responses:
        "200": {description: numbers}
"""


def test_jinja_argument_in_a_spec_file(make_chassis_app: Any, tmp_path: Path) -> None:
    """The portable way for a spec file: Connexion renders it with ``arguments``."""
    spec_file = tmp_path / "openapi.yaml"
    spec_file.write_text(SPEC_FILE.replace("REF", "{{ pagination }}"))
    app = make_chassis_app(
        spec=spec_file,
        plugins={"pagination": chassis_pagination},
        api_options={
            "resolver": RESOLVER,
            "arguments": {"pagination": components_path().as_posix()},
        },
    )
    with app.test_client() as client:
        response = client.get("/numbers?offset=10&limit=2")
        assert response.json() == [11, 12]
        assert links(response)["next"] == "http://testserver/numbers?offset=12&limit=2"
        # With the plugin on, its message (naming the parameter) comes before Connexion's.
        bad = client.get("/numbers?limit=abc").json()
        assert bad["detail"] == "query parameter 'limit' must be an integer (got 'abc')"
        assert set(_served_parameters(client)) == {"offset", "limit"}


def test_relative_ref_to_a_copy_beside_the_spec(make_chassis_app: Any, tmp_path: Path) -> None:
    shutil.copy(components_path(), tmp_path / "pagination.yaml")
    spec_file = tmp_path / "openapi.yaml"
    spec_file.write_text(SPEC_FILE.replace("REF", "pagination.yaml"))
    app = make_chassis_app(spec=spec_file, api_options={"resolver": RESOLVER})
    with app.test_client() as client:
        assert client.get("/numbers?limit=2").json() == [1, 2]
        assert client.get("/numbers?limit=0").status_code == 400


def test_with_components_merges_them_into_a_spec(make_chassis_app: Any) -> None:
    document = _document(
        [{"$ref": "#/components/parameters/offset"}, {"$ref": "#/components/parameters/limit"}]
    )
    merged = with_components(document)
    assert "components" not in document  # the given spec is not changed
    assert set(merged["components"]["parameters"]) == {"offset", "limit", "cursor"}
    app = make_chassis_app(
        spec=merged,
        plugins={"pagination": chassis_pagination},
        api_options={"resolver": RESOLVER},
    )
    with app.test_client() as client:
        assert client.get("/numbers?offset=998").json() == [999, 1000]
        assert client.get("/numbers?limit=101").status_code == 400


def test_with_components_keeps_the_specs_own_definitions() -> None:
    own_limit = {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 7}}
    document = _document([])
    document["components"] = {"parameters": {"limit": own_limit}}
    merged = with_components(document)
    assert merged["components"]["parameters"]["limit"] == own_limit
    assert merged["components"]["parameters"]["offset"]["name"] == "offset"


def test_with_components_for_another_max_limit(make_chassis_app: Any, tmp_path: Path) -> None:
    spec_file = tmp_path / "openapi.yaml"
    spec_file.write_text(SPEC_FILE.replace("REF", ""))
    merged = with_components(spec_file, max_limit=500)
    assert merged["components"]["parameters"]["limit"]["schema"]["maximum"] == 500
    app = make_chassis_app(
        spec=merged,
        settings={"pagination": {"max_limit": 500}},
        plugins={"pagination": chassis_pagination},
        api_options={"resolver": RESOLVER},
    )
    with app.test_client() as client:
        assert len(client.get("/numbers?limit=500").json()) == 500
        assert client.get("/numbers?limit=501").status_code == 400


def test_with_components_needs_openapi_3() -> None:
    with pytest.raises(ValueError, match="OpenAPI 3"):
        with_components({"swagger": "2.0", "paths": {}})


def test_the_plugin_is_found_by_its_entry_point(make_chassis_app: Any) -> None:
    (found,) = [ep for ep in entry_points(group="chassis.plugins") if ep.name == "pagination"]
    assert found.value == "chassis_pagination"
    app = make_chassis_app(settings={"plugins": ["pagination"]}, autoload=True)
    assert [info.name for info in app.active_plugins] == ["pagination"]
    assert app.settings.pagination.default_limit == 25  # type: ignore[attr-defined]


def test_importing_the_plugin_does_not_import_sqlalchemy() -> None:
    result = run_python(
        """
        import sys
        import chassis_pagination
        assert "sqlalchemy" not in sys.modules, "sqlalchemy imported"
        print("ok")
        """
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_sequences_need_no_sqlalchemy() -> None:
    result = run_python(
        """
        import sys
        sys.modules["sqlalchemy"] = None  # as if it were not installed
        from chassis_pagination import paginate
        page = paginate(list(range(100)), offset=90, limit=5)
        assert page == [90, 91, 92, 93, 94] and page.has_next and page.has_prev, page
        page = paginate(("a", "b", "c"), offset=2, total=True)
        assert page == ["c"] and not page.has_next and page.total == 3, page
        print("ok")
        """
    )
    assert result.stdout.strip() == "ok", result.stderr
