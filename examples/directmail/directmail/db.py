"""The premises table, created and seeded on first start."""

from __future__ import annotations

import datetime
import random

from sqlalchemy import Boolean, Date, Integer, String, create_engine, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

COMMUNITIES = ["Winson", "Bibury", "Ablington", "Coln St Aldwyns", "Quenington", "Hatherop"]
SEGMENTS = ["S1", "S2", "S3", "S4"]
STREETS = ["Church Lane", "Mill Road", "The Street", "High Street", "Back Lane", "Green End"]


class Base(DeclarativeBase):
    pass


class Premises(Base):
    __tablename__ = "premises"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(200))
    postcode: Mapped[str] = mapped_column(String(10))
    community: Mapped[str] = mapped_column(String(100), index=True)
    rfs: Mapped[bool] = mapped_column(Boolean, index=True)
    rfs_date: Mapped[datetime.date | None] = mapped_column(Date, nullable=True)
    business: Mapped[bool] = mapped_column(Boolean)
    bduk: Mapped[bool] = mapped_column(Boolean)
    segment: Mapped[str] = mapped_column(String(10))

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "address": self.address,
            "postcode": self.postcode,
            "community": self.community,
            "rfs": self.rfs,
            "rfs_date": self.rfs_date.isoformat() if self.rfs_date else None,
            "business": self.business,
            "bduk": self.bduk,
            "segment": self.segment,
        }


def make_premises(count: int, seed: int = 42) -> list[Premises]:
    """Deterministic sample data: the same rows on every machine."""
    rng = random.Random(seed)
    start = datetime.date(2015, 1, 1)
    rows = []
    for number in range(1, count + 1):
        rfs = rng.random() < 0.6
        rows.append(
            Premises(
                id=number,
                address=f"{rng.randint(1, 120)} {rng.choice(STREETS)}",
                postcode=f"GL{rng.randint(1, 56)} {rng.randint(1, 9)}{rng.choice('ABDEFGHJ')}"
                f"{rng.choice('LNPQRSTUWXYZ')}",
                community=rng.choice(COMMUNITIES),
                rfs=rfs,
                rfs_date=start + datetime.timedelta(days=rng.randint(0, 4000)) if rfs else None,
                business=rng.random() < 0.15,
                bduk=rng.random() < 0.3,
                segment=rng.choice(SEGMENTS),
            )
        )
    return rows


def connect(url: str, seed_rows: int) -> Engine:
    """Create the engine, the table and the sample rows when the table is empty."""
    # A database that stops answering must not hold a view thread for ever.
    connect_args = {"connect_timeout": 5} if url.startswith("postgresql") else {}
    engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    try:
        Base.metadata.create_all(engine)
        with Session(engine) as session, session.begin():
            if session.scalar(select(func.count()).select_from(Premises)) == 0:
                session.add_all(make_premises(seed_rows))
    except (IntegrityError, ProgrammingError):
        # Several workers starting on an empty database race to create and seed it; the
        # first one wins and the others find it done.
        pass
    return engine
