"""Residents' voice: service needs they suggest, problems they report (tickets) and how often they may."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, one_of

NEED_STATES = ("new", "taken", "declined")
TICKET_STATES = ("received", "investigating", "resolved", "unfounded")
TICKET_KINDS = ("not_delivered", "quality", "conduct", "funds", "other", "objection")


class Need(Base):
    """A service need suggested by a resident (需求征集); anonymous unless they consented to contact."""

    __tablename__ = "needs"
    __table_args__ = (
        CheckConstraint(one_of("state", NEED_STATES), name="state"),
        CheckConstraint("identity_id IS NULL OR contact_consent", name="identity_needs_consent"),
        Index("ix_needs_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    category: Mapped[str] = mapped_column(String(100))
    district: Mapped[str | None] = mapped_column(String(50))
    target_group: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    media_path: Mapped[str | None] = mapped_column(String(500))
    contact_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    contact: Mapped[str | None] = mapped_column(String(100))
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(16), default="new")
    catalog_year: Mapped[int | None] = mapped_column(Integer)
    decision_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]


class Ticket(Base):
    """A resident's report of a problem with a project (监督投诉). Never shown to the organization."""

    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint(one_of("state", TICKET_STATES), name="state"),
        CheckConstraint(one_of("kind", TICKET_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    media_path: Mapped[str | None] = mapped_column(String(500))
    contact: Mapped[str | None] = mapped_column(String(100))
    # the reporter's chat identity, kept only to tell them of each change; never shown to anyone
    reporter_identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id", ondelete="SET NULL"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="received")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class TicketEvent(Base):
    __tablename__ = "ticket_events"
    __table_args__ = (CheckConstraint(one_of("state", TICKET_STATES), name="state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    staff_identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id", ondelete="SET NULL"))
    at: Mapped[datetime]


class SubmissionCount(Base):
    """How many needs/complaints one identity filed on one day: rate limits without linking content."""

    __tablename__ = "submission_counts"

    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_digest: Mapped[str | None] = mapped_column(String(64))
    last_at: Mapped[datetime | None]
