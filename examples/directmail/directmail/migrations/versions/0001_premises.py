"""The premises table and its 500 sample rows.

Revision ID: 0001
Revises:
Create Date: 2026-12-05
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMMUNITIES = ["Winson", "Bibury", "Ablington", "Coln St Aldwyns", "Quenington", "Hatherop"]
SEGMENTS = ["S1", "S2", "S3", "S4"]
STREETS = ["Church Lane", "Mill Road", "The Street", "High Street", "Back Lane", "Green End"]
SEED_ROWS = 500


def sample_rows(count: int, seed: int = 42) -> list[dict[str, object]]:
    """Deterministic sample data: the same rows on every machine (kept here, not imported
    from the models, so the migration stays what it was when it ran)."""
    rng = random.Random(seed)
    start = datetime.date(2015, 1, 1)
    rows: list[dict[str, object]] = []
    for number in range(1, count + 1):
        rfs = rng.random() < 0.6
        rows.append(
            {
                "id": number,
                "address": f"{rng.randint(1, 120)} {rng.choice(STREETS)}",
                "postcode": f"GL{rng.randint(1, 56)} {rng.randint(1, 9)}{rng.choice('ABDEFGHJ')}"
                f"{rng.choice('LNPQRSTUWXYZ')}",
                "community": rng.choice(COMMUNITIES),
                "rfs": rfs,
                "rfs_date": start + datetime.timedelta(days=rng.randint(0, 4000)) if rfs else None,
                "business": rng.random() < 0.15,
                "bduk": rng.random() < 0.3,
                "segment": rng.choice(SEGMENTS),
            }
        )
    return rows


def upgrade() -> None:
    premises = op.create_table(
        "premises",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("address", sa.String(200), nullable=False),
        sa.Column("postcode", sa.String(10), nullable=False),
        sa.Column("community", sa.String(100), nullable=False),
        sa.Column("rfs", sa.Boolean, nullable=False),
        sa.Column("rfs_date", sa.Date, nullable=True),
        sa.Column("business", sa.Boolean, nullable=False),
        sa.Column("bduk", sa.Boolean, nullable=False),
        sa.Column("segment", sa.String(10), nullable=False),
    )
    op.create_index("ix_premises_community", "premises", ["community"])
    op.create_index("ix_premises_rfs", "premises", ["rfs"])
    op.bulk_insert(premises, sample_rows(SEED_ROWS))
    if op.get_bind().dialect.name == "postgresql":
        # Rows were inserted with their ids: new ones continue after them.
        op.execute("SELECT setval(pg_get_serial_sequence('premises', 'id'), max(id)) FROM premises")


def downgrade() -> None:
    op.drop_table("premises")
