"""What the engine and the channels keep of a conversation: its state, the incoming messages handled,
replies not yet sent, raw channel updates and long button data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base
from store.types import JSONType


class Conversation(Base):
    """What a flow needs to continue with one identity: flow, step, slots, a version."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), unique=True)
    flow: Mapped[str | None] = mapped_column(String(48))
    step: Mapped[str | None] = mapped_column(String(48))
    slots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class HandledIncoming(Base):
    """Ids of incoming messages already handled, so a re-delivered one is skipped."""

    __tablename__ = "handled_incoming"

    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    handled_at: Mapped[datetime] = mapped_column(index=True)


class TurnReply(Base):
    """A turn's replies, written in the turn's transaction and deleted once the channel has sent them:
    a process that dies between the commit and the send leaves them here, and the channel sends them
    when it starts again (at least once: a reply in flight at the crash may go out twice)."""

    __tablename__ = "turn_replies"
    # No index but the key: a row lives from a turn's commit until its replies are sent (milliseconds), so
    # the table holds the turns in flight; every turn writes and deletes a row, and reads are rare (start-up,
    # a re-delivery, the retention's sweep).

    id: Mapped[int] = mapped_column(primary_key=True)  # a chat's replies go out in this order
    channel: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(64))  # the identity's external id in ``channel``
    incoming_key: Mapped[str] = mapped_column(String(96))  # the handled incoming's key
    replies: Mapped[list[Any]] = mapped_column(JSONType)  # ``Reply.to_json()`` of each, in order
    created_at: Mapped[datetime]


class ChannelUpdate(Base):
    """A raw update recorded before the channel acknowledges it, so none is lost or handled twice."""

    __tablename__ = "channel_updates"
    __table_args__ = (Index("ix_channel_updates_pending", "channel", "handled_at", "update_id"),)

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_key: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime]
    handled_at: Mapped[datetime | None]


class ButtonToken(Base):
    """Button data too long for a channel's limit (Telegram: 64 bytes), kept server-side."""

    __tablename__ = "button_tokens"

    token: Mapped[str] = mapped_column(String(32), primary_key=True)
    data: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(index=True)
