"""Satisfaction surveys: a project's survey, its single-use invitations, the anonymous responses."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base


class Survey(Base):
    """A satisfaction survey of one project, open between two moments."""

    __tablename__ = "surveys"
    __table_args__ = (CheckConstraint("closes_at > opens_at", name="window"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    template: Mapped[str] = mapped_column(String(48), default="standard")
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    created_at: Mapped[datetime]


class SurveyInvitation(Base):
    """A single-use survey token (hash only). Once used it keeps only the day, never who or when."""

    __tablename__ = "survey_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime]


class SurveyResponse(Base):
    """One anonymous satisfaction response: no identity, no token, a date without a time."""

    __tablename__ = "survey_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    response_key: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    # None for responses imported from paper or phone surveys (they count as one closed survey)
    survey_id: Mapped[int | None] = mapped_column(ForeignKey("surveys.id", ondelete="SET NULL"), index=True)
    submitted_on: Mapped[date] = mapped_column(Date)


class SurveyAnswer(Base):
    __tablename__ = "survey_answers"
    __table_args__ = (
        UniqueConstraint("response_id", "item"),
        # covers the results queries: SQLite answers them from the index alone
        Index("ix_survey_answers_item_value", "item", "value_int", "response_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("survey_responses.id", ondelete="CASCADE"))
    item: Mapped[str] = mapped_column(String(32))
    value_int: Mapped[int | None] = mapped_column(Integer)
    value_text: Mapped[str | None] = mapped_column(Text)
