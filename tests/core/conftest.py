from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent
SPEC = HERE / "spec.yaml"


@pytest.fixture
def spec() -> Path:
    return SPEC
