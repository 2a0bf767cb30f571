"""Telling a dispatcher that messages were queued: after a commit in this process (``watch_queued``),
and, on PostgreSQL, to every process (``notify_queued``, ``listen_queued``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import (
    event,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from store.models import OutboxMessage

log = logging.getLogger(__name__)

def watch_queued(engine: AsyncEngine, on_queued: Callable[[], None]) -> Callable[[], None]:
    """Call ``on_queued`` after every commit on ``engine`` of a transaction that queued outbox messages,
    whoever queued them (a chat turn, the rules, a command); returns the function that stops watching.

    It is called once the connection is back in the pool, after the commit has completed, so a
    dispatcher it wakes sees the rows. Only this process's commits are seen: other processes' need a
    signal through the database (PostgreSQL NOTIFY) behind the same callback.
    """
    sync_engine = engine.sync_engine
    queued, committed = object(), object()  # this watcher's marks in the connection's info

    def after_cursor_execute(conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: Any) -> None:
        if _queues_outbox(context):
            conn.info[queued] = True

    def on_commit(conn: Any) -> None:
        if conn.info.pop(queued, False):
            conn.info[committed] = True

    def on_rollback(conn: Any) -> None:
        if not conn.invalidated:  # reading an invalidated connection's info would hide the error rolled back
            conn.info.pop(queued, None)

    def on_checkin(dbapi_connection: Any, record: Any) -> None:
        if record is not None and record.info.pop(committed, False):
            on_queued()

    listeners: list[tuple[Any, str, Callable[..., Any]]] = [
        (sync_engine, "after_cursor_execute", after_cursor_execute), (sync_engine, "commit", on_commit),
        (sync_engine, "rollback", on_rollback), (sync_engine.pool, "checkin", on_checkin)]
    for target, name, fn in listeners:
        event.listen(target, name, fn)

    def unwatch() -> None:
        for target, name, fn in listeners:
            if event.contains(target, name, fn):
                event.remove(target, name, fn)

    return unwatch


def _queues_outbox(context: Any) -> bool:
    compiled = getattr(context, "compiled", None)
    return bool(context.isinsert and compiled is not None
                and getattr(compiled.statement, "table", None) is OutboxMessage.__table__)


NOTIFY_CHANNEL = "civicbot_outbox"


def notify_queued(engine: AsyncEngine) -> Callable[[], None]:
    """On PostgreSQL, make every transaction on ``engine`` that queues outbox messages send ``NOTIFY`` on
    ``NOTIFY_CHANNEL``, so dispatchers in other processes wake (``listen_queued``); returns the function
    that stops it. PostgreSQL delivers the notification when, and only if, the transaction commits, and
    folds a transaction's repeated notifications into one."""
    sync_engine = engine.sync_engine
    sent = object()  # this transaction has notified already

    def after_cursor_execute(conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: Any) -> None:
        if _queues_outbox(context) and not conn.info.get(sent):
            conn.info[sent] = True
            # a cursor of its own: the INSERT's cursor still holds the row count its caller reads
            notifier = conn.connection.cursor()
            try:
                notifier.execute(f"NOTIFY {NOTIFY_CHANNEL}")
            finally:
                notifier.close()

    def on_end(conn: Any) -> None:
        if not conn.invalidated:  # an invalidated connection's info cannot be read (and its marks die with it)
            conn.info.pop(sent, None)

    listeners: list[tuple[Any, str, Callable[..., Any]]] = [
        (sync_engine, "after_cursor_execute", after_cursor_execute), (sync_engine, "commit", on_end),
        (sync_engine, "rollback", on_end)]
    for target, name, fn in listeners:
        event.listen(target, name, fn)

    def stop() -> None:
        for target, name, fn in listeners:
            if event.contains(target, name, fn):
                event.remove(target, name, fn)

    return stop


LISTEN_CHECK_SECONDS = 30.0  # how often a quiet listening connection is asked whether it still answers
LISTEN_RETRY_SECONDS = (0.1, 5.0)  # reconnecting: the first pause, doubled up to the last


async def listen_queued(
    engine: AsyncEngine, on_queued: Callable[[], None], *, check_every: float = LISTEN_CHECK_SECONDS
) -> Callable[[], Awaitable[None]]:
    """``LISTEN`` on a PostgreSQL connection of its own (outside ``engine``'s pool, which must not lose a
    connection for good) and call ``on_queued`` for every ``notify_queued`` notification, from whichever
    process committed; returns the coroutine function that closes it.

    The connection is kept: when it is lost (the server restarted, the backend terminated, or it stopped
    answering the check made every ``check_every`` seconds) it is opened again, with growing pauses while the
    server is away, and ``on_queued`` is called once it listens again, for what was queued meanwhile."""
    import asyncpg

    dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    lost = asyncio.Event()

    async def connect() -> Any:
        conn = await asyncpg.connect(dsn)
        conn.add_termination_listener(lambda *_: lost.set())
        await conn.add_listener(NOTIFY_CHANNEL, lambda *_: on_queued())
        return conn

    conn = await connect()  # the first time, a database that cannot be reached is the caller's error

    async def still_answers() -> bool:
        try:
            await asyncio.wait_for(conn.fetchval("SELECT 1"), check_every / 3)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False
        return True

    async def keep() -> None:
        nonlocal conn
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), check_every)
            if not lost.is_set() and not conn.is_closed() and await still_answers():
                continue
            log.warning("the outbox's LISTEN connection was lost: opening it again")
            conn.terminate()
            pause = LISTEN_RETRY_SECONDS[0]
            while True:
                lost.clear()
                try:
                    conn = await connect()
                    break
                except Exception as exc:  # the server away, restarting, refusing: try again
                    log.warning("LISTEN again failed (%s): retrying in %.1f s", exc, pause)
                    await asyncio.sleep(pause)
                    pause = min(LISTEN_RETRY_SECONDS[1], pause * 2)
            on_queued()

    keeper = asyncio.create_task(keep(), name="outbox-listen")

    async def close() -> None:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
        await conn.close()

    return close
