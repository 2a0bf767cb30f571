"""The channel contract: how every channel (``console``, ``telegram``, the ``web`` chat) carries a message.

    receive ─→ Incoming ─→ engine.turn ─→ Turn(replies, reply_id) ─→ render ─→ send ─→ replies marked sent

receive
    The channel takes what its platform delivers (a typed line, a Telegram update, a page's frame) and
    makes it an ``Incoming`` (``dialogs.types``): channel, the person's id there, and an id of the message
    that stays the same when the platform delivers it again.
engine
    ``Engine.turn`` runs one turn in one transaction and returns a ``Turn``: the replies, kept with the turn
    until the channel marks them sent (``store.conversations.mark_replies_sent``). A channel that has
    nothing to recover after a crash may use ``Engine.handle`` (the replies only, not kept).
render and send
    ``Channel.deliver(to, replies)`` renders each ``Reply`` for the platform (``telegram.rendering``,
    ``web.render``, ``console.render``) and sends them in order; it never raises for one reply.
notices
    The outbox reaches a channel's people through its ``bot.sending.Sender`` (``TelegramSender``,
    ``ConsoleSender``); the web chat pushes them to open pages itself (``web.socket.Hub.push_notices``).

Per-user ordering, once. The guarantee is that a turn ends only on the conversation it read
(``store.conversations.TurnConnection.end``: the conversation's version checked on PostgreSQL; the write lock
of ``BEGIN IMMEDIATE`` held from the first statement on SQLite): one person's turns take effect one after the
other, in one process or many — a turn another one overtook writes nothing and runs again on what that one
left. The only in-process ordering is an
optimisation of the channel that needs it: Telegram's per-user queues (``telegram.ordering``), which also
keep one person's replies in the order of their messages. The console reads one line at a time; a web page
sends its next message after the answer to the last. (Telegram's sending middleware also sends to one chat
one call at a time, so that a reply in several parts is not overtaken by an outbox notice: that orders
API calls, not turns.)

De-duplication, once. ``handled_incoming`` (``store.conversations``) records the key of every message a
turn handled, claimed in the turn's own transaction: a message delivered again is not run again (its turn's
unsent replies, if any, are returned instead). The turn reads the key when it opens and claims it when it
ends; a turn that finds it claimed then (the same message, delivered twice at once, handled beside it) writes
nothing and returns the first turn's replies. Keys are kept ``CIVICBOT_HANDLED_RETENTION_DAYS`` (30) and
then dropped by the scheduler's tick (``bot.scheduler.forget_handled``); platforms re-deliver within a day.
Telegram's inbox (``store.channel_updates``) is not a second record of what was handled: it holds an update
only from its receipt until it is handled, so that a crash in between loses nothing.

Crash safety. An update is acknowledged only once it is safe (recorded, or handled); replies a crash left
unsent are sent when the channel starts, each chat's in order, before anything new from that chat.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.types import Reply
from store.db import capabilities


class Channel(Protocol):
    """What every channel has: its name (``Identity.channel``) and the way its replies go out."""

    name: str

    async def deliver(self, to: Any, replies: Iterable[Reply]) -> None:
        """Render ``replies`` for the platform and send them to ``to`` (a chat, a person's pages, the
        terminal) in order; an error is logged, never raised."""


def database_slots(sessions: async_sessionmaker[AsyncSession], concurrency: int) -> int:
    """Transactions a channel lets at the database at once: ``concurrency``, but no more than the database
    can write at once (SQLite: one; queueing here beats its busy handler's sleeps by far)."""
    return capabilities(sessions).write_slots(concurrency)


def sqlite_gate(sessions: async_sessionmaker[AsyncSession], concurrency: int) -> asyncio.Semaphore:
    """The channel's database gate (``database_slots``). Not an ordering: turns of different people queue
    here alike."""
    return asyncio.Semaphore(database_slots(sessions, concurrency))
