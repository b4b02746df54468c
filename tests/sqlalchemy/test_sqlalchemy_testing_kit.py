"""The testing kit: sessions in a transaction rolled back after each test (sync, async, and
the app's request sessions joining it), migrations once per session, chassis_contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import chassis_sqlalchemy
import pytest
from chassis_sqlalchemy.testing import bind_app
from sqlalchemy import func, select, text

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def chassis_db_migrations() -> str:
    return "directmail:migrations"  # the example's: the premises table and 500 rows


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _count(session: Any) -> int:
    from directmail.models import Premises

    return int(session.scalar(select(func.count()).select_from(Premises)))


def test_kit_a_test_writes_and_commits(chassis_db: Any) -> None:
    from directmail.models import Premises

    chassis_db.add(
        Premises(
            id=9001,
            address="1 Kit Lane",
            postcode="GL1 1AA",
            community="Kit",
            rfs=False,
            business=False,
            bduk=False,
            segment="S1",
        )
    )
    chassis_db.commit()  # a savepoint: the test's transaction still holds it
    assert _count(chassis_db) == 501


def test_kit_the_next_test_starts_from_the_migrated_database(chassis_db: Any) -> None:
    assert _count(chassis_db) == 500


def test_kit_requests_join_the_test_transaction(
    chassis_db: Any, chassis_db_connection: Any, chassis_db_migrated: str, make_chassis_app: Any
) -> None:
    from directmail.service import create_app

    make_chassis_app()  # clears CHASSIS_* from the environment
    app = create_app(
        settings={
            "plugins": [],
            "sqlalchemy": {"url": chassis_db_migrated},
            "directmail": {"upgrade_on_start": False},
        }
    )
    chassis_db.execute(text("UPDATE premises SET address = 'seen by the app' WHERE id = 1"))
    with bind_app(app, chassis_db_connection), app.test_client() as client:
        assert client.get("/premises/1").json()["address"] == "seen by the app"


def test_kit_the_update_was_rolled_back(chassis_db: Any) -> None:
    assert chassis_db.scalar(text("SELECT address FROM premises WHERE id = 1")) != (
        "seen by the app"
    )


@pytest.mark.anyio
async def test_kit_async_sessions_roll_back_too(chassis_async_db: Any) -> None:
    await chassis_async_db.execute(text("DELETE FROM premises"))
    await chassis_async_db.commit()
    assert await chassis_async_db.scalar(text("SELECT count(*) FROM premises")) == 0


def test_kit_after_the_async_test_the_rows_are_back(chassis_db: Any) -> None:
    assert _count(chassis_db) == 500


def test_contract_passes_for_an_app_that_keeps_it(
    chassis_contract: Any, notes_app: Any, sqlite_urls: Any, make_chassis_app: Any
) -> None:
    app = make_chassis_app(
        spec=HERE / "contract_spec.yaml",
        settings={"sqlalchemy": {"url": sqlite_urls["url"]}},
        plugins=[chassis_sqlalchemy],
    )
    with pytest.raises(pytest.fail.Exception) as caught:
        chassis_contract(app, examples=5)
    report = str(caught.value)
    # /broken answers 500: the contract names it; /notes keeps it.
    assert "GET /broken" in report
    assert "GET /notes" not in report


def test_contract_reports_statuses(
    chassis_contract: Any, sqlite_urls: Any, make_chassis_app: Any
) -> None:
    spec = (HERE / "contract_spec.yaml").read_text().split("  /broken:")[0]
    path = HERE / "contract_only_notes.yaml"
    path.write_text(spec)
    try:
        app = make_chassis_app(
            spec=path,
            settings={"sqlalchemy": {"url": sqlite_urls["url"]}},
            plugins=[chassis_sqlalchemy],
        )
        seen = chassis_contract(app, examples=5)
    finally:
        path.unlink()
    assert seen["GET /notes"].get(200, 0) > 0
