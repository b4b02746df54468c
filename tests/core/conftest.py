from __future__ import annotations

from pathlib import Path

import chassis
import pytest

HERE = Path(__file__).parent
SPEC = HERE / "spec.yaml"


@pytest.fixture
def spec() -> Path:
    return SPEC


@pytest.fixture
def chassis_app_class(app_class: type[chassis.BaseApp]) -> type[chassis.BaseApp]:
    """Every kernel test builds both chassis.App and chassis.AsyncApp."""
    return app_class
