"""Identities and their conversation rows: get-or-create, lock for a turn, de-duplicate, save."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from store.inserts import InsertIgnore, insert_ignore
from store.models import Conversation, HandledIncoming, Identity
from store.types import UTCDateTime


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


@dataclass
class OpenConversation:
    """A turn's conversation: what the flows continue from (the row itself stays in the database)."""

    id: int
    flow: str | None
    step: str | None
    slots: dict[str, Any]


# The statements of every turn, built once: a turn binds values and runs the cached SQL. Only the
# identity is loaded as an object (flows read and change it); the conversation is four columns.
_conversations = Conversation.__table__
_identities = Identity.__table__
_IDENTITY_COLUMNS = [c.key for c in _identities.c]
_OPEN_TURN = (
    select(*_identities.c, _conversations.c.id, _conversations.c.flow, _conversations.c.step,
           _conversations.c.slots)
    .join(_conversations, _conversations.c.identity_id == _identities.c.id)
    .where(_identities.c.channel == bindparam("channel"), _identities.c.external_id == bindparam("external_id"))
    .with_for_update(of=_conversations)
)
_SAVE = (
    update(_conversations)
    .where(_conversations.c.id == bindparam("conversation_id"))
    .values(flow=bindparam("new_flow"), step=bindparam("new_step"), slots=bindparam("new_slots"),
            version=_conversations.c.version + 1, updated_at=bindparam("now"))
)
_CLAIM = InsertIgnore(HandledIncoming.__table__).returning(HandledIncoming.__table__.c.key)
# a first contact: the identity (a resident) and its empty conversation, each unless it exists
_NEW_IDENTITY = InsertIgnore(_identities)
_NEW_CONVERSATION = InsertIgnore(_conversations).from_select(
    ["identity_id", "slots", "version", "updated_at"],
    select(_identities.c.id, literal({}, _conversations.c.slots.type), literal(0), bindparam("now", type_=UTCDateTime()))
    .where(_identities.c.channel == bindparam("channel"), _identities.c.external_id == bindparam("external_id")),
)


async def open_turn(
    session: AsyncSession, channel: str, external_id: str, now: datetime, display_name: str | None = None
) -> tuple[Identity, OpenConversation]:
    """The identity and its locked conversation: one query for a returning user, four for a new one."""
    found = (await session.execute(_OPEN_TURN, {"channel": channel, "external_id": external_id})).first()
    if found is None:
        await session.execute(_NEW_IDENTITY, {
            "channel": channel, "external_id": external_id, "role": "resident", "display_name": display_name,
            "created_at": now, "unreachable": False,
        })
        await session.execute(_NEW_CONVERSATION, {"channel": channel, "external_id": external_id, "now": now})
        found = (await session.execute(_OPEN_TURN, {"channel": channel, "external_id": external_id})).one()
    width = len(_IDENTITY_COLUMNS)
    identity = _attach(session, Identity, dict(zip(_IDENTITY_COLUMNS, found[:width], strict=True)))
    conversation_id, flow, step, slots = found[width:]
    return identity, OpenConversation(conversation_id, flow, step, slots or {})


def _attach(session: AsyncSession, model: type[Identity], values: dict[str, Any]) -> Identity:
    """The row ``values`` as a persistent object of the session — what an ORM query would have loaded,
    made from a plain row at a fraction of the cost (the turn's most frequent statement). Changes to it
    are flushed as usual; one the session holds already is returned as it is."""
    key = session.sync_session.identity_key(model, values["id"])
    held = session.sync_session.identity_map.get(key)
    if held is not None:
        return held  # type: ignore[no-any-return]
    row = model(**values)
    make_transient_to_detached(row)  # loaded state: no pending changes
    session.add(row)
    return row


async def claim_incoming(session: AsyncSession, key: str, now: datetime) -> bool:
    """Record that ``key`` is being handled; False when it was handled before (a re-delivery)."""
    result = await session.execute(_CLAIM, {"key": key, "handled_at": now})
    return result.first() is not None


async def save_conversation(
    session: AsyncSession, conversation: Conversation | OpenConversation, flow: str | None, step: str | None,
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
