"""Applications (申报书) to a call and their budget lines."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, one_of

APPLICATION_STATUSES = (
    "draft", "submitted", "eligible", "eligibility_failed", "under_review", "approved", "rejected", "withdrawn",
)
BUDGET_LINE_KINDS = ("personnel", "activities", "materials", "administration", "other")


class Application(Base):
    """A project application (申报书); its form answers live in ``content`` until submission."""

    __tablename__ = "applications"
    __table_args__ = (
        CheckConstraint(one_of("status", APPLICATION_STATUSES), name="status"),
        CheckConstraint("total_fen IS NULL OR total_fen >= 0", name="total_nonnegative"),
        CheckConstraint("granted_fen IS NULL OR granted_fen >= 0", name="granted_nonnegative"),
        CheckConstraint("end_on IS NULL OR start_on IS NULL OR end_on >= start_on", name="term"),
        Index(
            "uq_applications_one_draft",
            "organization_id",
            "call_id",
            unique=True,
            sqlite_where=text("status = 'draft'"),
            postgresql_where=text("status = 'draft'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(32), unique=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    catalog_item_id: Mapped[int | None] = mapped_column(ForeignKey("catalog_items.id"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    status: Mapped[str] = mapped_column(String(24), default="draft")
    title: Mapped[str | None] = mapped_column(String(200))
    start_on: Mapped[date | None] = mapped_column(Date)
    end_on: Mapped[date | None] = mapped_column(Date)
    total_fen: Mapped[int | None] = mapped_column(BigInteger)
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    granted_fen: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    submitted_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]


class BudgetLine(Base):
    __tablename__ = "budget_lines"
    __table_args__ = (
        UniqueConstraint("application_id", "kind"),
        CheckConstraint(one_of("kind", BUDGET_LINE_KINDS), name="kind"),
        CheckConstraint("amount_fen >= 0", name="amount_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
