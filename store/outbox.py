"""The outbox: every message that is not a direct answer is queued here, once per de-duplication key.

States: ``pending → sending → sent``; ``failed`` (retried at ``next_attempt_at``), ``dead`` (final,
reason in ``last_error``) and ``cancelled``. A claim moves due rows to ``sending`` atomically
(PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite ``UPDATE … RETURNING`` under its single write lock)
and stamps them with the claimer, the moment and a short lease that the claimer renews while it works;
a row left in ``sending`` by a killed process is retried once its lease has run out (or at once, when
its claimer is known to be dead). Only the claimer settles a row it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Select,
    and_,
    bindparam,
    event,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from store.db import affected
from store.inserts import InsertIgnore, insert_ignore
from store.models import Application, CatalogItem, Identity, OutboxMessage, Project
from store.notices import AboutMilestone, Notice, decode, encode

log = logging.getLogger(__name__)

WAITING = ("pending", "failed")  # states a claim takes rows from
INTERRUPTED = "interrupted while sending (process stopped); retried"


@dataclass(frozen=True)
class Outgoing:
    """A notice for one recipient, queued once per ``dedup_key``; not sent before ``not_before`` if given."""

    identity_id: int
    dedup_key: str
    notice: Notice
    not_before: datetime | None = None


async def enqueue(session: AsyncSession, messages: Outgoing | Sequence[Outgoing], now: datetime) -> int:
    """Queue one message or many (in few round trips: a Core executemany, which SQLAlchemy batches into
    multi-row INSERTs of one cached statement); returns how many were new — a message whose
    ``dedup_key`` was queued before is skipped."""
    batch = [messages] if isinstance(messages, Outgoing) else list(messages)
    if not batch:
        return 0
    rows = [
        {"dedup_key": m.dedup_key, "identity_id": m.identity_id, "kind": m.notice.row_kind,
         "payload": encode(m.notice), "milestone_id": _milestone(m.notice), "state": "pending", "attempts": 0,
         "next_attempt_at": m.not_before or now, "created_at": now}
        for m in batch
    ]
    stmt = insert_ignore(OutboxMessage).returning(OutboxMessage.__table__.c.id)
    if len(rows) == 1:
        return len((await session.execute(stmt.values(rows[0]))).all())
    return len((await session.execute(stmt, rows)).all())


def _milestone(notice: Notice) -> int | None:
    if isinstance(notice.about, AboutMilestone) and notice.about.milestone is None:
        raise ValueError("a notice about a milestone needs the milestone (None only in enqueue_selected's template)")
    return notice.milestone


def insert_selected(rows: Select[Any]) -> InsertIgnore:
    """``INSERT … SELECT`` of one notice for every row ``rows`` selects — columns (dedup_key, identity_id,
    milestone_id) — as pending messages: the notice is the bind parameters ``notice_kind`` and
    ``notice_payload``, one constant for all rows, each about its row's milestone (None: about none).
    Build it once (it is cached by identity) and run it with ``enqueue_selected``: the rows never come into
    Python, and the database joins no strings and builds no JSON per row."""
    table = OutboxMessage.__table__
    moment = bindparam("queued_at", type_=table.c.created_at.type)
    selected = rows.add_columns(
        bindparam("notice_kind", type_=table.c.kind.type), bindparam("notice_payload", type_=table.c.payload.type),
        literal("pending"), literal(0), moment, moment,
    # SQLite reads "… JOIN y ON … ON CONFLICT" ambiguously unless the SELECT has a WHERE clause
    ).where(true())
    return InsertIgnore(table).from_select(
        ["dedup_key", "identity_id", "milestone_id", "kind", "payload", "state", "attempts", "next_attempt_at",
         "created_at"], selected,
    )


async def enqueue_selected(
    session: AsyncSession, stmt: InsertIgnore, template: Notice, params: Mapping[str, Any], now: datetime
) -> int:
    """Queue ``template`` for every row an ``insert_selected`` statement selects with ``params``; a template
    about a milestone (``AboutMilestone(None, due, open)``) is about each row's own. Returns how many
    messages were new."""
    if isinstance(template.about, AboutMilestone) and template.about.milestone is not None:
        raise ValueError("the template of enqueue_selected is about each row's milestone: give None")
    values = {**params, "notice_kind": template.row_kind, "notice_payload": encode(template), "queued_at": now}
    result = await session.execute(stmt, values)
    return max(affected(result), 0)  # SQLite may not count an INSERT … SELECT: -1


async def queued_keys(session: AsyncSession, keys: Iterable[str]) -> set[str]:
    """Which of ``keys`` were queued already (in any state)."""
    wanted = list(keys)
    if not wanted:
        return set()
    stmt = select(OutboxMessage.dedup_key).where(OutboxMessage.dedup_key.in_(wanted))
    return set((await session.execute(stmt)).scalars())


# --- telling a dispatcher that messages were queued ---------------------------------------------

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


# --- claiming and settling ---------------------------------------------------------------------

@dataclass(frozen=True)
class Claimed:
    """A row claimed for sending, with what the dispatcher needs to reach and address the recipient."""

    id: int
    identity_id: int
    kind: str
    payload: dict[str, Any]
    milestone_id: int | None
    attempts: int
    channel: str
    external_id: str
    locale: str | None
    unreachable: bool

    def notice(self) -> Notice:
        """The notice it holds (``store.notices.UnreadableNotice`` when it holds none this version reads)."""
        return decode(self.kind, self.payload, self.milestone_id)


async def claim(
    session: AsyncSession, now: datetime, lease_until: datetime, channels: Iterable[str], limit: int, by: str
) -> list[Claimed]:
    """Move up to ``limit`` due rows for recipients on ``channels`` to ``sending``, oldest due first, held by
    the claimer ``by`` until ``lease_until`` (``renew`` extends it)."""
    wanted = sorted(set(channels))
    if not wanted or limit <= 0:
        return []
    due = (
        select(OutboxMessage.id)
        .join(Identity, Identity.id == OutboxMessage.identity_id)
        .where(OutboxMessage.state.in_(WAITING), OutboxMessage.next_attempt_at <= now, Identity.channel.in_(wanted))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=OutboxMessage)
    )
    stmt = (
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(due.scalar_subquery()), OutboxMessage.state.in_(WAITING))
        .values(state="sending", claimed_by=by, claimed_at=now, lease_until=lease_until)
        .returning(OutboxMessage.id, OutboxMessage.identity_id, OutboxMessage.kind, OutboxMessage.payload,
                   OutboxMessage.milestone_id, OutboxMessage.attempts)
        .execution_options(synchronize_session=False)
    )
    rows = (await session.execute(stmt)).all()
    if not rows:
        return []
    identities = {
        row.id: row
        for row in (
            await session.execute(
                select(Identity.id, Identity.channel, Identity.external_id, Identity.locale, Identity.unreachable)
                .where(Identity.id.in_({r.identity_id for r in rows}))
            )
        ).all()
    }
    claimed = [
        Claimed(r.id, r.identity_id, r.kind, r.payload or {}, r.milestone_id, r.attempts,
                identities[r.identity_id].channel,
                identities[r.identity_id].external_id, identities[r.identity_id].locale,
                identities[r.identity_id].unreachable)
        for r in rows
    ]
    return sorted(claimed, key=lambda c: c.id)


async def renew(session: AsyncSession, by: str, lease_until: datetime) -> int:
    """Extend the lease of every row the claimer ``by`` holds (its heartbeat)."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.state == "sending", OutboxMessage.claimed_by == by)
        .values(lease_until=lease_until)
        .execution_options(synchronize_session=False)
    )
    return affected(result)


async def claimers(session: AsyncSession) -> list[str]:
    """Who holds rows in ``sending`` now."""
    stmt = select(OutboxMessage.claimed_by).where(OutboxMessage.state == "sending").distinct()
    return [who for who in (await session.execute(stmt)).scalars() if who is not None]


async def _settle(session: AsyncSession, message_id: int, by: str, **values: Any) -> bool:
    # Only a row its claimer still holds is settled: one recovered (the lease ran out) and perhaps
    # claimed again meanwhile is not ours any more.
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.state == "sending", OutboxMessage.claimed_by == by)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return affected(result) == 1


def _without_secret(session: AsyncSession) -> Any:
    """The payload minus its ``secret`` part (e.g. a survey token): kept only until the message is final."""
    if session.get_bind().dialect.name == "sqlite":
        return func.json_remove(OutboxMessage.payload, "$.secret")
    return OutboxMessage.payload.op("-")(literal("secret"))


async def mark_sent(session: AsyncSession, message_id: int, now: datetime, *, by: str) -> bool:
    return await _settle(session, message_id, by, state="sent", sent_at=now, attempts=OutboxMessage.attempts + 1,
                         last_error=None, payload=_without_secret(session))


async def mark_failed(
    session: AsyncSession, message_id: int, next_attempt_at: datetime, error: str, *, by: str,
    count_attempt: bool = True,
) -> bool:
    """Back to the queue for a retry at ``next_attempt_at``; a rate limit (429) does not count as an attempt."""
    attempts = OutboxMessage.attempts + 1 if count_attempt else OutboxMessage.attempts
    return await _settle(session, message_id, by, state="failed", next_attempt_at=next_attempt_at,
                         attempts=attempts, last_error=error[:1000])


async def mark_dead(
    session: AsyncSession, message_id: int, reason: str, *, by: str, count_attempt: bool = True
) -> bool:
    attempts = OutboxMessage.attempts + 1 if count_attempt else OutboxMessage.attempts
    return await _settle(session, message_id, by, state="dead", attempts=attempts, last_error=reason[:1000],
                         payload=_without_secret(session))


async def mark_cancelled(session: AsyncSession, message_id: int, reason: str, *, by: str) -> bool:
    return await _settle(session, message_id, by, state="cancelled", last_error=reason[:1000],
                         payload=_without_secret(session))


async def release(session: AsyncSession, message_ids: Sequence[int], next_attempt_at: datetime, *, by: str) -> int:
    """Give claimed rows back unsent and unattempted (the dispatcher stopped, or their chat is rate limited,
    before it reached them), due at ``next_attempt_at``."""
    if not message_ids:
        return 0
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(list(message_ids)), OutboxMessage.state == "sending",
               OutboxMessage.claimed_by == by)
        .values(state="pending", next_attempt_at=next_attempt_at, claimed_by=None, claimed_at=None,
                lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return affected(result)


async def recover_stuck(session: AsyncSession, now: datetime, dead: Sequence[str] = ()) -> int:
    """Rows left in ``sending`` by a claimer that is gone — its lease ran out, or it is among ``dead`` —
    become ``failed``, due now.

    The attempt counts: the message may have reached the recipient before the process died, and a
    message that kills its sender every time must end ``dead`` rather than loop.
    """
    # rows claimed before claims had leases carry the lease's end in next_attempt_at
    gone = or_(OutboxMessage.lease_until <= now,
               and_(OutboxMessage.lease_until.is_(None), OutboxMessage.next_attempt_at <= now))
    if dead:
        gone = or_(gone, OutboxMessage.claimed_by.in_(list(dead)))
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.state == "sending", gone)
        .values(state="failed", attempts=OutboxMessage.attempts + 1, next_attempt_at=now, last_error=INTERRUPTED,
                lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return affected(result)


async def next_due(session: AsyncSession, now: datetime) -> datetime | None:
    """The earliest moment after ``now`` at which something waiting falls due or a claim's lease runs out:
    when a dispatcher that has just taken everything it could has something to do next. (What is due
    already and was left is not its to send: a recipient on another channel.)"""
    # one state at a time: each is then a range of ix_outbox_state_next
    firsts = [
        select(OutboxMessage.next_attempt_at)
        .where(OutboxMessage.state == state, OutboxMessage.next_attempt_at > now)
        .order_by(OutboxMessage.next_attempt_at).limit(1)
        for state in WAITING
    ]
    leases = select(func.min(OutboxMessage.lease_until)).where(OutboxMessage.state == "sending",
                                                                OutboxMessage.lease_until > now)
    moments = [*[await session.scalar(stmt) for stmt in firsts], await session.scalar(leases)]
    found = [m for m in moments if m is not None]
    return min(found) if found else None


async def defer_due(session: AsyncSession, now: datetime, until: datetime) -> int:
    """Push every message due by ``now`` to ``until`` (quiet hours): kept, not dropped."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.state.in_(WAITING), OutboxMessage.next_attempt_at <= now)
        .values(next_attempt_at=until)
        .execution_options(synchronize_session=False)
    )
    return affected(result)


async def mark_identity_unreachable(session: AsyncSession, identity_id: int) -> None:
    """The recipient blocked the bot (403); the channel clears this when they write again."""
    await session.execute(
        update(Identity).where(Identity.id == identity_id).values(unreachable=True)
        .execution_options(synchronize_session=False)
    )


# --- looking at the queue ----------------------------------------------------------------------

async def counts(session: AsyncSession, *, department_id: int | None = None) -> dict[str, int]:
    """Rows per state (states without rows are absent); only messages to one department's people if given."""
    stmt = select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
    if department_id is not None:
        stmt = stmt.join(Identity, Identity.id == OutboxMessage.identity_id).where(department_people(department_id))
    return {state: n for state, n in (await session.execute(stmt)).all()}


async def waiting_count(session: AsyncSession) -> int:
    """Messages still to be sent: pending, failed (to retry) and in flight."""
    stmt = select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.state.in_((*WAITING, "sending"))
    )
    return await session.scalar(stmt) or 0


@dataclass(frozen=True)
class Listed:
    id: int
    state: str
    kind: str
    key: str | None
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None
    identity_id: int
    role: str
    channel: str
    claimed_by: str | None
    claimed_at: datetime | None
    lease_until: datetime | None


def department_people(department_id: int) -> ColumnElement[bool]:
    """Identities a department's staff may see messages to: its staff, and members of organizations
    with a project or an application in the department."""
    org_has_project = exists().where(
        Project.organization_id == Identity.organization_id, Project.department_id == department_id
    )
    org_has_application = exists().where(
        Application.organization_id == Identity.organization_id,
        Application.catalog_item_id == CatalogItem.id,
        CatalogItem.department_id == department_id,
    )
    return or_(
        (Identity.role == "staff") & (Identity.department_id == department_id),
        (Identity.role == "org") & (org_has_project | org_has_application),
    )


async def list_messages(
    session: AsyncSession,
    states: Sequence[str],
    *,
    department_id: int | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Listed], int]:
    """Messages in ``states`` (to one department's people, or to anyone with None), most urgent first;
    and how many there are in all."""
    condition = OutboxMessage.state.in_(list(states))
    base = select(OutboxMessage.id).join(Identity, Identity.id == OutboxMessage.identity_id).where(condition)
    if department_id is not None:
        base = base.where(department_people(department_id))
    total = await session.scalar(select(func.count()).select_from(base.subquery())) or 0
    stmt = (
        select(OutboxMessage, Identity.role, Identity.channel)
        .join(Identity, Identity.id == OutboxMessage.identity_id)
        .where(OutboxMessage.id.in_(base.scalar_subquery()))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .offset(offset)
        .limit(limit)
    )
    listed = []
    for message, role, channel in (await session.execute(stmt)).all():
        payload = message.payload or {}
        listed.append(Listed(
            message.id, message.state, message.kind, payload.get("key"), message.attempts, message.next_attempt_at,
            message.created_at, message.sent_at, message.last_error, message.identity_id, role, channel,
            message.claimed_by, message.claimed_at, message.lease_until,
        ))
    return listed, total
