"""Expert review (review.md): committees drawn for a call, their subjects, members, exclusions, sheets and
scores; and the public notice (公示) an approval opens."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, one_of
from store.models.experts import EXPERT_FIELDS

REVIEW_STAGES = ("approval", "acceptance")
COMMITTEE_STATES = ("committed", "active", "redrawn", "published")
MEMBER_STATES = ("reserve", "invited", "accepted", "declined", "timeout", "submitted")
EXCLUSION_REASONS = ("affiliated", "conflict", "unavailable", "unreachable")


class ReviewCommittee(Base):
    """A committee drawn for one call and stage, with what verifies its draw (seed, pool, algorithm).

    ``committed``: only the seed is chosen (its SHA-256 may be published); ``active``: drawn;
    ``redrawn``: replaced by an explicit redraw; ``published``: results made public.
    """

    __tablename__ = "review_committees"
    __table_args__ = (
        CheckConstraint(one_of("stage", REVIEW_STAGES), name="stage"),
        CheckConstraint(one_of("state", COMMITTEE_STATES), name="state"),
        Index("ix_review_committees_call_stage", "call_id", "stage", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"))
    stage: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    seed: Mapped[str] = mapped_column(String(64))
    commitment: Mapped[str] = mapped_column(String(64))
    algorithm: Mapped[str] = mapped_column(String(16))
    # [[code, field], ...] sorted: the experts left after the exclusions
    pool: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # {"members": {field: n}, "reserves": n}
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    drawn_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]


class ReviewSubject(Base):
    """One application (stage approval) or project (stage acceptance) of a committee's batch."""

    __tablename__ = "review_subjects"
    __table_args__ = (
        UniqueConstraint("committee_id", "application_id"),
        UniqueConstraint("committee_id", "project_id"),
        CheckConstraint("(application_id IS NULL) <> (project_id IS NULL)", name="one_subject"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    committee_id: Mapped[int] = mapped_column(ForeignKey("review_committees.id", ondelete="CASCADE"))
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))


class ReviewMember(Base):
    """A drawn expert (member or reserve, in draw order per field) and their invitation's fate."""

    __tablename__ = "review_members"
    __table_args__ = (
        UniqueConstraint("committee_id", "expert_id"),
        CheckConstraint(one_of("state", MEMBER_STATES), name="state"),
        CheckConstraint(one_of("field", EXPERT_FIELDS), name="field"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    committee_id: Mapped[int] = mapped_column(ForeignKey("review_committees.id", ondelete="CASCADE"))
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id"), index=True)
    field: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer)
    reserve: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    invited_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime | None]


class ReviewExclusion(Base):
    __tablename__ = "review_exclusions"
    __table_args__ = (CheckConstraint(one_of("reason", EXCLUSION_REASONS), name="reason"),)

    committee_id: Mapped[int] = mapped_column(ForeignKey("review_committees.id", ondelete="CASCADE"), primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(String(200))


class ReviewSheet(Base):
    """One member's review of one subject: the total of its scores, the comment, or a declared conflict."""

    __tablename__ = "review_sheets"
    __table_args__ = (
        UniqueConstraint("member_id", "subject_id"),
        # covering: the results read a committee's counted sheets from the index alone
        Index("ix_review_sheets_member_cover", "member_id", "conflict", "total", "subject_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("review_members.id", ondelete="CASCADE"))
    subject_id: Mapped[int] = mapped_column(ForeignKey("review_subjects.id", ondelete="CASCADE"))
    conflict: Mapped[bool] = mapped_column(Boolean, default=False)
    total: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class ReviewScore(Base):
    __tablename__ = "review_scores"
    __table_args__ = (
        CheckConstraint("points >= 0", name="points_nonnegative"),
        # covering: per-criterion means without touching the rows
        Index("ix_review_scores_cover", "sheet_id", "criterion", "points"),
    )

    sheet_id: Mapped[int] = mapped_column(ForeignKey("review_sheets.id", ondelete="CASCADE"), primary_key=True)
    criterion: Mapped[str] = mapped_column(String(32), primary_key=True)
    points: Mapped[int] = mapped_column(Integer)


class PublicNotice(Base):
    """The public notice (公示) an approval opens: working days from ``starts_on`` to ``ends_on``."""

    __tablename__ = "public_notices"
    __table_args__ = (CheckConstraint("ends_on >= starts_on", name="period"),)

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date, index=True)
    contract_reminded_at: Mapped[datetime | None]
