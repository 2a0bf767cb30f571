"""Identities and their conversation rows: get-or-create, lock for a turn, de-duplicate, save."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.inserts import InsertIgnore, insert_ignore
from store.models import Conversation, HandledIncoming, Identity


async def get_identity(session: AsyncSession, channel: str, external_id: str) -> Identity | None:
    return (
        await session.execute(
            select(Identity).where(Identity.channel == channel, Identity.external_id == external_id)
        )
    ).scalar_one_or_none()


async def ensure_identity(
    session: AsyncSession, channel: str, external_id: str, now: datetime, display_name: str | None = None
) -> Identity:
    """The identity for (channel, external_id), created as a resident on first contact."""
    identity = await get_identity(session, channel, external_id)
    if identity is not None:
        return identity
    await session.execute(
        insert_ignore(Identity, channel=channel, external_id=external_id, role="resident",
            display_name=display_name, created_at=now, unreachable=False,
        )
    )
    identity = await get_identity(session, channel, external_id)
    assert identity is not None
    return identity


async def lock_conversation(session: AsyncSession, identity_id: int, now: datetime) -> Conversation:
    """The identity's conversation row, created if missing, locked for this transaction.

    On PostgreSQL ``FOR UPDATE`` serializes turns of one user across processes; inserting first
    (ON CONFLICT DO NOTHING) avoids the race on a first message. SQLite turns already hold the
    database write lock (BEGIN IMMEDIATE).
    """
    await session.execute(
        insert_ignore(Conversation, identity_id=identity_id, slots={}, version=0, updated_at=now)
    )
    return (
        await session.execute(
            select(Conversation)
            .where(Conversation.identity_id == identity_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()


# The three statements of every turn, built once: a turn binds values and runs the cached SQL.
_OPEN_TURN = (
    select(Identity, Conversation)
    .join(Conversation, Conversation.identity_id == Identity.id)
    .where(Identity.channel == bindparam("channel"), Identity.external_id == bindparam("external_id"))
    .with_for_update(of=Conversation)
)
_SAVE = (
    update(Conversation.__table__)
    .where(Conversation.__table__.c.id == bindparam("conversation_id"))
    .values(flow=bindparam("new_flow"), step=bindparam("new_step"), slots=bindparam("new_slots"),
            version=Conversation.__table__.c.version + 1, updated_at=bindparam("now"))
)
_CLAIM = InsertIgnore(HandledIncoming.__table__).returning(HandledIncoming.__table__.c.key)


async def open_turn(
    session: AsyncSession, channel: str, external_id: str, now: datetime, display_name: str | None = None
) -> tuple[Identity, Conversation]:
    """The identity and its locked conversation row: one query for a returning user."""
    found = (await session.execute(_OPEN_TURN, {"channel": channel, "external_id": external_id})).first()
    if found is not None:
        return found[0], found[1]
    identity = await ensure_identity(session, channel, external_id, now, display_name)
    return identity, await lock_conversation(session, identity.id, now)


async def claim_incoming(session: AsyncSession, key: str, now: datetime) -> bool:
    """Record that ``key`` is being handled; False when it was handled before (a re-delivery)."""
    result = await session.execute(_CLAIM, {"key": key, "handled_at": now})
    return result.first() is not None


async def save_conversation(
    session: AsyncSession, conversation: Conversation, flow: str | None, step: str | None,
    slots: dict[str, Any], now: datetime,
) -> None:
    await session.execute(
        _SAVE, {"conversation_id": conversation.id, "new_flow": flow, "new_step": step, "new_slots": slots, "now": now}
    )


async def forget_handled_before(session: AsyncSession, cutoff: datetime) -> int:
    """Drop de-duplication keys older than ``cutoff`` (channels re-deliver within hours, not weeks)."""
    result = await session.execute(delete(HandledIncoming).where(HandledIncoming.handled_at < cutoff))
    return result.rowcount or 0


HANDLED_RETENTION = timedelta(days=7)
