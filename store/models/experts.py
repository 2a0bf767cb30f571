"""The experts who review applications and projects, their declared conflicts and unavailable periods."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, one_of

EXPERT_FIELDS = ("business", "finance", "management", "law")


class Expert(Base):
    __tablename__ = "experts"
    __table_args__ = (CheckConstraint(one_of("field", EXPERT_FIELDS), name="field"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    field: Mapped[str] = mapped_column(String(16))
    affiliation_uscc: Mapped[str | None] = mapped_column(String(18))


class ExpertConflict(Base):
    """A standing conflict an expert declared with an organization: never drawn for its batches."""

    __tablename__ = "expert_conflicts"

    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime]


class ExpertUnavailability(Base):
    """A period staff marked an expert unavailable (both days included)."""

    __tablename__ = "expert_unavailability"
    __table_args__ = (CheckConstraint("ends_on >= starts_on", name="period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"), index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
