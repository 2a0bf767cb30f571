"""Queueing messages: one notice per recipient and de-duplication key (``enqueue``), or one notice
for every row a statement selects (``insert_selected`` run by ``enqueue_selected``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Select,
    bindparam,
    literal,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import affected
from store.inserts import InsertIgnore, insert_ignore
from store.models import OutboxMessage
from store.notices import AboutMilestone, Notice, encode


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
