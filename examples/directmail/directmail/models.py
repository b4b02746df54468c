"""The premises table (its schema and sample rows come from the migrations directory)."""

from __future__ import annotations

import datetime

from sqlalchemy import Boolean, Date, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


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
