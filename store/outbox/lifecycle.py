"""Claiming and settling: due rows claimed for sending under a lease (``claim``, ``renew``), then sent,
failed, dead or cancelled by their claimer alone; rows a stopped process left are recovered."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    and_,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import affected
from store.models import Identity, OutboxMessage
from store.notices import Notice, decode

WAITING = ("pending", "failed")  # states a claim takes rows from
INTERRUPTED = "interrupted while sending (process stopped); retried"

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
