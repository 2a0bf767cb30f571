"""Messages sent not as an answer (reminders, notices, invitations), waiting for the dispatcher."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, one_of
from store.notices import Notice, decode

OUTBOX_STATES = ("pending", "sending", "sent", "failed", "dead", "cancelled")


class OutboxMessage(Base):
    """A message sent not as an answer (reminder, notice, invitation); delivered by the dispatcher."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(one_of("state", OUTBOX_STATES), name="state"),
        Index("ix_outbox_state_next", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    # not indexed: nothing looks messages up by recipient (migration 0005), and every row would pay for it
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(48))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)  # a notice: store.notices.encode
    # the milestone the notice is about (store.notices.AboutMilestone): checked and completed when it is
    # sent; no foreign key (a milestone removed makes its notices stale, not anonymous), no index
    milestone_id: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # in ``sending``: which dispatcher run holds the row (host:pid:run), since when, and until when its
    # lease holds unless renewed; a row whose lease ran out is recovered
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    claimed_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]

    @property
    def notice(self) -> Notice:
        """The notice the row holds (``store.notices.UnreadableNotice`` if none this version reads)."""
        return decode(self.kind, self.payload, self.milestone_id)
