"""Approved projects and what follows them: milestones, tranches paid, progress updates, inspections."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
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

PROJECT_STATUSES = ("publicized", "contracted", "in_progress", "midterm_passed", "closing", "closed", "terminated")
GRADES = ("excellent", "good", "pass", "fail")
MILESTONE_KINDS = (
    "contract_signing", "midterm_report", "midterm_inspection", "final_report", "final_acceptance",
    "performance_evaluation",
)
INSPECTION_KINDS = ("midterm", "final", "evaluation")
INSPECTION_RESULTS = ("pass", "rectify", "fail")


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (
        CheckConstraint(one_of("status", PROJECT_STATUSES), name="status"),
        CheckConstraint(f"grade IS NULL OR {one_of('grade', GRADES)}", name="grade"),
        CheckConstraint("amount_fen >= 0", name="amount_nonnegative"),
        CheckConstraint("end_on >= start_on", name="term"),
        CheckConstraint(
            "evaluation_score IS NULL OR (evaluation_score >= 0 AND evaluation_score <= 100)", name="score"
        ),
        CheckConstraint("recipients IS NULL OR recipients >= 0", name="recipients_nonnegative"),
        Index("ix_projects_year_status", "year", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    year: Mapped[int] = mapped_column(Integer)
    title_zh: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str | None] = mapped_column(String(400))
    catalog_item_id: Mapped[int] = mapped_column(ForeignKey("catalog_items.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"), unique=True)
    district: Mapped[str | None] = mapped_column(String(50), index=True)
    recipients: Mapped[int | None] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(24))
    start_on: Mapped[date] = mapped_column(Date)
    end_on: Mapped[date] = mapped_column(Date)
    target_group_zh: Mapped[str | None] = mapped_column(Text)
    target_group_en: Mapped[str | None] = mapped_column(Text)
    summary_zh: Mapped[str | None] = mapped_column(Text)
    summary_en: Mapped[str | None] = mapped_column(Text)
    grade: Mapped[str | None] = mapped_column(String(16))
    evaluation_score: Mapped[int | None] = mapped_column(Integer)
    brand: Mapped[bool] = mapped_column(Boolean, default=False)


class Milestone(Base):
    __tablename__ = "milestones"
    __table_args__ = (
        UniqueConstraint("project_id", "kind"),
        CheckConstraint(one_of("kind", MILESTONE_KINDS), name="kind"),
        # covering: the rules and the digest read project and kind (and whether staff were alerted)
        # without touching the rows
        Index("ix_milestones_open_due", "done_at", "due_at", "project_id", "kind", "alerted_due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    # the due date its department's staff were alerted of as overdue (None: never); one that is re-dated
    # or was overdue before the service knew it is alerted when its organization is reminded
    alerted_due_at: Mapped[datetime | None]


class Disbursement(Base):
    """One tranche (拨付) paid to a project."""

    __tablename__ = "disbursements"
    __table_args__ = (
        UniqueConstraint("project_id", "installment"),
        CheckConstraint("installment >= 1", name="installment_positive"),
        CheckConstraint("amount_fen >= 0", name="amount_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    installment: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    paid_on: Mapped[date] = mapped_column(Date)


class ProgressUpdate(Base):
    """Implementation progress; only rows with ``public`` true are ever shown to the public."""

    __tablename__ = "progress_updates"
    __table_args__ = (UniqueConstraint("project_id", "reported_on", "text_digest"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    reported_on: Mapped[date] = mapped_column(Date)
    text_zh: Mapped[str] = mapped_column(Text)
    text_en: Mapped[str | None] = mapped_column(Text)
    # sha256 of text_zh: part of the natural key without indexing unbounded text
    text_digest: Mapped[str] = mapped_column(String(64))
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    author_identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id", ondelete="SET NULL"))
    media_path: Mapped[str | None] = mapped_column(String(500))
    media_kind: Mapped[str | None] = mapped_column(String(16))


class Inspection(Base):
    __tablename__ = "inspections"
    __table_args__ = (
        UniqueConstraint("project_id", "kind", "held_on"),
        CheckConstraint(one_of("kind", INSPECTION_KINDS), name="kind"),
        CheckConstraint(one_of("result", INSPECTION_RESULTS), name="result"),
        CheckConstraint("score IS NULL OR (score >= 0 AND score <= 100)", name="score"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    held_on: Mapped[date] = mapped_column(Date)
    score: Mapped[int | None] = mapped_column(Integer)
    result: Mapped[str] = mapped_column(String(16))
    summary_zh: Mapped[str | None] = mapped_column(Text)
    summary_en: Mapped[str | None] = mapped_column(Text)
