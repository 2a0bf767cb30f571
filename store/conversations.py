"""Identities and their conversation rows: get-or-create, lock for a turn, de-duplicate, save; a turn's
replies kept until sent (``TurnConnection.claim_and_keep``, ``unsent_replies``, ``mark_replies_sent``).

The conversation row lock (``FOR UPDATE``; SQLite's write lock) is what orders one person's turns across
processes, and ``handled_incoming`` is the one record of incoming messages already handled (the turn claims
the key, ``already_handled`` asks ahead), kept ``CIVICBOT_HANDLED_RETENTION_DAYS`` (``forget_handled_before``,
run by the scheduler's tick): see ``bot.channels.contract``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, exists, literal, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from store.db import Connection, affected, connection
from store.inserts import InsertIgnore, insert_ignore
from store.models import Conversation, HandledIncoming, Identity, TurnReply
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
_conversations = cast(Table, Conversation.__table__)  # mapped classes type it as the general FromClause
_identities = Identity.__table__
_IDENTITY_COLUMNS = [c.key for c in _identities.c]
_handled = HandledIncoming.__table__
_OPEN_TURN = (
    select(*_identities.c, _conversations.c.id, _conversations.c.flow, _conversations.c.step,
           _conversations.c.slots, exists().where(_handled.c.key == bindparam("key")))
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
_CLAIM = (
    InsertIgnore(_handled)
    .values(key=bindparam("claim_key", type_=_handled.c.key.type),
            handled_at=bindparam("claimed_at", type_=_handled.c.handled_at.type))
    .returning(_handled.c.key)
)
_turn_replies = cast(Table, TurnReply.__table__)
_reply_channel = bindparam("reply_channel", type_=_turn_replies.c.channel.type)
_reply_user = bindparam("reply_user", type_=_turn_replies.c.user_id.type)
_reply_values = bindparam("reply_values", type_=_turn_replies.c.replies.type)
_reply_at = bindparam("reply_at", type_=_turn_replies.c.created_at.type)
_KEEP_REPLIES = (
    _turn_replies.insert()
    .values(channel=_reply_channel, user_id=_reply_user,
            incoming_key=bindparam("claim_key", type_=_turn_replies.c.incoming_key.type),
            replies=_reply_values, created_at=_reply_at)
    .returning(_turn_replies.c.id)
)
# where a WITH clause can write (PostgreSQL): the claim and the replies in one round trip; no row when the
# key was claimed already
_claimed = _CLAIM.cte("claimed")
_CLAIM_AND_KEEP = (
    _turn_replies.insert()
    .from_select(["channel", "user_id", "incoming_key", "replies", "created_at"],
                 select(_reply_channel, _reply_user, _claimed.c.key, _reply_values, _reply_at))
    .returning(_turn_replies.c.id)
)
_UNSENT_OF_INCOMING = (
    select(_turn_replies.c.id, _turn_replies.c.replies, _turn_replies.c.created_at)
    .where(_turn_replies.c.channel == bindparam("reply_channel"), _turn_replies.c.user_id == bindparam("reply_user"),
           _turn_replies.c.incoming_key == bindparam("claim_key"))
)
# a first contact: the identity (a resident) and its empty conversation, each unless it exists
_NEW_IDENTITY = InsertIgnore(_identities).values(**{
    column: bindparam(f"new_{column}", type_=_identities.c[column].type)
    for column in ("channel", "external_id", "role", "display_name", "created_at", "unreachable")
})
_NEW_CONVERSATION = InsertIgnore(_conversations).from_select(
    ["identity_id", "slots", "version", "updated_at"],
    select(_identities.c.id, literal({}, _conversations.c.slots.type), literal(0), bindparam("now", type_=UTCDateTime()))
    .where(_identities.c.channel == bindparam("channel"), _identities.c.external_id == bindparam("external_id")),
)


class TurnConnection:
    """One turn's transaction, on a connection of its own: the bookkeeping every turn does (identity and
    conversation, the incoming's de-duplication key, the state saved) in statements built once (run by
    ``store.db.Connection.rows``), and an ORM session joined to the same transaction for what the flow
    does (``conn``).

    The key is claimed when the turn ends (``claim``, ``claim_and_keep``), with its replies: ``open`` says
    whether it was handled before, and a turn that finds it claimed at the end (the same message handled at
    the same moment elsewhere, which the conversation row lock let through after it) is rolled back."""

    def __init__(self, connection: Connection) -> None:
        self.conn = connection.conn
        self._rows = connection.rows
        self._writing_with = connection.capabilities.writing_with

    async def open(
        self, channel: str, external_id: str, key: str, now: datetime, display_name: str | None = None
    ) -> tuple[Identity, OpenConversation, bool]:
        """The identity (an object not yet in any session: ``session`` adds it) and its conversation,
        locked, and whether ``key`` was handled before: one statement for a returning user, four for a new
        one."""
        who = {"channel": channel, "external_id": external_id, "key": key}
        found = await self._rows(_OPEN_TURN, who)
        if not found:
            await self._rows(_NEW_IDENTITY, {
                "new_channel": channel, "new_external_id": external_id, "new_role": "resident",
                "new_display_name": display_name, "new_created_at": now, "new_unreachable": False,
            })
            await self._rows(_NEW_CONVERSATION, {**who, "now": now})
            found = await self._rows(_OPEN_TURN, who)
        row = found[0]
        width = len(_IDENTITY_COLUMNS)
        identity = Identity(**dict(zip(_IDENTITY_COLUMNS, row[:width], strict=True)))
        make_transient_to_detached(identity)  # as if loaded: no pending changes
        conversation_id, flow, step, slots, handled = row[width:]
        return identity, OpenConversation(conversation_id, flow, step, slots or {}), bool(handled)

    async def claim(self, key: str, now: datetime) -> bool:
        """Record that ``key`` is handled; False when it was handled before (a re-delivery)."""
        return bool(await self._rows(_CLAIM, {"claim_key": key, "claimed_at": now}))

    async def claim_and_keep(self, channel: str, user_id: str, key: str, replies: list[Any], now: datetime) -> int | None:
        """Claim ``key`` (as ``claim``) and write the turn's replies (JSON values) with the turn: the id
        ``mark_replies_sent`` takes once they are sent; None, writing nothing, when ``key`` was claimed."""
        values = {"reply_channel": channel, "reply_user": user_id, "claim_key": key, "reply_values": replies,
                  "reply_at": now, "claimed_at": now}
        if self._writing_with:
            found = await self._rows(_CLAIM_AND_KEEP, values)
        elif await self.claim(key, now):
            found = await self._rows(_KEEP_REPLIES, values)
        else:
            return None
        return int(found[0][0]) if found else None

    async def unsent_of(self, channel: str, user_id: str, key: str) -> tuple[int, list[Any], datetime] | None:
        """The replies of the turn that handled ``key``, if they were never marked sent: its id, values, and
        when they were kept."""
        found = await self._rows(_UNSENT_OF_INCOMING, {"reply_channel": channel, "reply_user": user_id, "claim_key": key})
        return (int(found[0][0]), found[0][1], found[0][2]) if found else None

    async def save(self, conversation: OpenConversation, flow: str | None, step: str | None,
                   slots: dict[str, Any], now: datetime) -> None:
        await self._rows(_SAVE, {"conversation_id": conversation.id, "new_flow": flow, "new_step": step,
                                 "new_slots": slots, "now": now})


@asynccontextmanager
async def turn_connection(engine: AsyncEngine) -> AsyncIterator[TurnConnection]:
    """A turn's transaction: committed when the block ends, rolled back on an error."""
    async with connection(engine) as conn:
        yield TurnConnection(conn)


async def save_conversation(
    session: AsyncSession, conversation: Conversation, flow: str | None, step: str | None,
    slots: dict[str, Any], now: datetime,
) -> None:
    await session.execute(
        _SAVE, {"conversation_id": conversation.id, "new_flow": flow, "new_step": step, "new_slots": slots, "now": now}
    )


def handled_key(channel: str, incoming_id: str) -> str:
    """The de-duplication key (``handled_incoming.key``) of an incoming message of ``channel``."""
    return f"{channel}:{incoming_id}"


async def already_handled(session: AsyncSession, keys: Collection[str]) -> set[str]:
    """Those of ``keys`` that a turn has handled, its replies sent: a channel asks before it takes a
    re-delivery in (so that it neither downloads nor answers anything for it). A key whose turn's replies
    are still kept is not among them: the re-delivery goes to the turn, which hands those replies back.
    The turn's claim decides all the same."""
    if not keys:
        return set()
    unsent = select(TurnReply.id).where(TurnReply.incoming_key == HandledIncoming.key).exists()
    found = await session.execute(select(HandledIncoming.key).where(HandledIncoming.key.in_(keys), ~unsent))
    return set(found.scalars())


@dataclass(frozen=True)
class UnsentReplies:
    """One turn's replies that were kept but never marked sent."""

    id: int
    user_id: str
    replies: list[Any]  # JSON values, as the turn kept them


async def unsent_replies(session: AsyncSession, channel: str, user_id: str | None = None) -> list[UnsentReplies]:
    """Every kept, unsent turn's replies of ``channel`` (of one user, if given), oldest first: what a channel
    sends when it starts, each chat's in this order, before it handles anything new from that chat."""
    query = select(TurnReply.id, TurnReply.user_id, TurnReply.replies).where(TurnReply.channel == channel)
    if user_id is not None:
        query = query.where(TurnReply.user_id == user_id)
    rows = await session.execute(query.order_by(TurnReply.id))
    return [UnsentReplies(row.id, row.user_id, row.replies) for row in rows]


async def mark_replies_sent(session: AsyncSession, ids: Sequence[int]) -> None:
    """The channel has sent these turns' replies: forget them (a batch in one statement)."""
    if ids:
        await session.execute(delete(TurnReply).where(TurnReply.id.in_(ids)))


async def forget_handled_before(session: AsyncSession, cutoff: datetime) -> int:
    """Drop de-duplication keys, and replies never sent, older than ``cutoff`` (channels re-deliver within a
    day, not weeks; a reply that old is no answer any more); how many rows went."""
    handled = await session.execute(delete(HandledIncoming).where(HandledIncoming.handled_at < cutoff))
    replies = await session.execute(delete(TurnReply).where(TurnReply.created_at < cutoff))
    return affected(handled) + affected(replies)
