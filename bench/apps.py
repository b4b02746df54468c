"""App factories for ``uvicorn --factory``: the same spec and handlers, bare or on chassis.

``bare`` is what a team writes with Connexion alone; ``chassis_app`` reads its settings
(which plugins, their options) from ``CHASSIS_*`` environment variables set per scenario.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SPEC = Path(__file__).with_name("spec.yaml")


def bare() -> Any:
    import connexion

    app = connexion.FlaskApp(__name__)
    app.add_api(SPEC)
    return app


def chassis_app() -> Any:
    import chassis

    app = chassis.App(__name__)
    app.add_api(SPEC)
    return app
