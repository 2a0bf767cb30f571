"""Identities and their conversation rows: get-or-create, read for a turn, de-duplicate, save; a turn's
replies kept until sent (``TurnConnection.end``, ``unsent_replies``, ``mark_replies_sent``).

A turn ending only on the conversation it read (``TurnConnection.end``) is what orders one person's turns
across processes, and ``handled_incoming`` is the one record of incoming messages already handled (the turn claims
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
from sqlalchemy.exc import IntegrityError
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
    version: int  # as the turn read it: the turn ends only if it is still so (``TurnConnection.end``)


class Overtaken(Exception):
    """A turn could not end (``TurnConnection.end``): another turn changed its conversation or claimed its
    incoming's key since it began. It wrote nothing; a transaction it is in must be rolled back."""


@dataclass(frozen=True)
class Ending:
    """How a turn ends: its state saved (``saved``: flow, step, slots; None when unchanged) and its
    replies kept (``kept``: their JSON values; None when the caller keeps nothing)."""

    saved: tuple[str | None, str | None, dict[str, Any]] | None
    kept: list[Any] | None


# The statements of every turn, built once: a turn binds values and runs the cached SQL. Only the
# identity is loaded as an object (flows read and change it); the conversation is four columns.
_conversations = cast(Table, Conversation.__table__)  # mapped classes type it as the general FromClause
_identities = Identity.__table__
_IDENTITY_COLUMNS = [c.key for c in _identities.c]
_handled = cast(Table, HandledIncoming.__table__)
_OPEN_TURN = (
    select(*_identities.c, _conversations.c.id, _conversations.c.flow, _conversations.c.step,
           _conversations.c.slots, _conversations.c.version, exists().where(_handled.c.key == bindparam("key")))
    .join(_conversations, _conversations.c.identity_id == _identities.c.id)
    .where(_identities.c.channel == bindparam("channel"), _identities.c.external_id == bindparam("external_id"))
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


def _ending(save: bool, keep: bool) -> Any:
    """Where a WITH clause can write (PostgreSQL), a turn's end in one statement: the conversation checked
    unchanged since the turn read it (its version), or saved on that condition (``save``); then the key
    claimed, then the replies kept (``keep``). No row when the conversation changed meanwhile; a unique
    violation when the key was claimed — either way the statement writes nothing."""
    unchanged = _conversations.c.version == bindparam("seen_version")
    current = (
        _SAVE.where(unchanged).returning(_conversations.c.id) if save
        else select(_conversations.c.id).where(_conversations.c.id == bindparam("conversation_id"), unchanged)
    ).cte("current")
    claimed = (  # no ON CONFLICT: a claimed key fails the statement, undoing the save before it
        _handled.insert()
        .from_select(["key", "handled_at"], select(
            bindparam("claim_key", type_=_handled.c.key.type),
            bindparam("claimed_at", type_=_handled.c.handled_at.type)).select_from(current))
        .returning(_handled.c.key)
        .cte("claimed")
    )
    if not keep:
        return select(claimed.c.key)
    return (
        _turn_replies.insert()
        .from_select(["channel", "user_id", "incoming_key", "replies", "created_at"],
                     select(_reply_channel, _reply_user, claimed.c.key, _reply_values, _reply_at))
        .returning(_turn_replies.c.id)
    )


_ENDINGS = {(save, keep): _ending(save, keep) for save in (False, True) for keep in (False, True)}
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
    """One turn's connection: the bookkeeping every turn does (identity and conversation, the incoming's
    de-duplication key, the state saved, the replies kept) in statements built once (run by
    ``store.db.Connection.rows``), and an ORM session joined to the same transaction for what the flow
    does (``conn``).

    A turn reads its conversation (``open``), runs, and ends (``end``) only if nobody has changed the
    conversation or claimed the incoming's key since; otherwise it writes nothing and the engine runs it
    again on what is there now. That is what orders one person's turns across processes. On SQLite the
    turn's transaction holds the database's write lock from its first statement, so nothing can change in
    between. On PostgreSQL nothing is locked while the flow runs: the end is one statement that checks the
    conversation's version, saves, claims and keeps, and a turn that wrote nothing else (a menu, a question,
    a form's answer) runs without BEGIN and COMMIT — two round trips of the four a locked turn takes."""

    def __init__(self, connection: Connection) -> None:
        self.conn = connection.conn
        self._rows = connection.rows
        self._writing_with = connection.capabilities.writing_with

    async def open(
        self, channel: str, external_id: str, key: str, now: datetime, display_name: str | None = None
    ) -> tuple[Identity, OpenConversation, bool]:
        """The identity (an object not yet in any session: ``session`` adds it) and its conversation, and
        whether ``key`` was handled before: one statement for a returning user, four for a new one."""
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
        conversation_id, flow, step, slots, version, handled = row[width:]
        return identity, OpenConversation(conversation_id, flow, step, slots or {}, version), bool(handled)

    async def end(self, conversation: OpenConversation, ending: Ending, channel: str, user_id: str, key: str,
                  now: datetime) -> int | None:
        """End the turn as ``ending`` says, claiming ``key``: the id of the replies kept (which
        ``mark_replies_sent`` takes once they are sent; None when none were to be kept). ``Overtaken``,
        having written nothing, when the conversation changed or ``key`` was claimed since ``open``."""
        values: dict[str, Any] = {"claim_key": key, "claimed_at": now}
        if ending.saved is not None:
            flow, step, slots = ending.saved
            values.update(conversation_id=conversation.id, new_flow=flow, new_step=step, new_slots=slots, now=now)
        if ending.kept is not None:
            values.update(reply_channel=channel, reply_user=user_id, reply_values=ending.kept, reply_at=now)
        if self._writing_with:
            values.update(conversation_id=conversation.id, seen_version=conversation.version)
            try:
                found = await self._rows(_ENDINGS[(ending.saved is not None, ending.kept is not None)], values)
            except IntegrityError as error:  # the key was claimed (by a turn of the same message elsewhere)
                raise Overtaken(key) from error
            if not found:  # the conversation changed
                raise Overtaken(key)
        else:  # the write lock is held: nothing changed since ``open`` but what a claim can tell
            if ending.saved is not None:
                await self._rows(_SAVE, values)
            if not await self._rows(_CLAIM, values):
                raise Overtaken(key)
            found = await self._rows(_KEEP_REPLIES, values) if ending.kept is not None else []
        return int(found[0][0]) if ending.kept is not None else None

    async def unsent_of(self, channel: str, user_id: str, key: str) -> tuple[int, list[Any], datetime] | None:
        """The replies of the turn that handled ``key``, if they were never marked sent: its id, values, and
        when they were kept."""
        found = await self._rows(_UNSENT_OF_INCOMING, {"reply_channel": channel, "reply_user": user_id, "claim_key": key})
        return (int(found[0][0]), found[0][1], found[0][2]) if found else None


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
