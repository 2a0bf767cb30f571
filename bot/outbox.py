"""The outbox dispatcher: claims due messages, renders each in its recipient's language, sends it through
the channel's ``Sender`` and settles it — sent, retried later, dead with the reason, or cancelled as stale.

Rules it keeps: nothing is sent in quiet hours (due messages are deferred to the end of the window);
a 429 is honoured (a short ``retry_after`` is waited out, a long one ends the run and nothing is sent
before it); 5xx and timeouts back off exponentially until ``max_attempts``; 400 and 403 are final
(403 also marks the identity unreachable). Every wait goes through the injected ``sleep`` and every
timestamp through the injected ``clock``, so tests move time instead of waiting.
"""

from __future__ import annotations

import asyncio
import logging
import time as monotonic_time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.sending import PermanentError, RetryAfter, Sender, TransientError, Unreachable
from dialogs.notices import render_notice
from dialogs.reminders import complete_notices
from store import outbox
from store.db import transaction

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], datetime]

STALE = "stale: the milestone was done or re-dated before this could be sent"
UNREACHABLE = "recipient unreachable (blocked the bot or left the channel)"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    backoff_base: timedelta = timedelta(seconds=30)
    backoff_cap: timedelta = timedelta(hours=2)
    wait_limit: float = 5.0  # a 429 asking for at most this many seconds is waited out in the same run
    max_waits: int = 3  # … at most this many times for one message
    # a row in ``sending`` longer than this was abandoned: well above a batch's worst case (every
    # message waiting out its 429s, or timing out)
    sending_lease: timedelta = timedelta(minutes=15)
    batch: int = 20
    concurrency: int = 8  # chats sent to at the same time (the channel's sender paces the total rate)

    def backoff(self, attempts: int) -> timedelta:
        """Delay before the next attempt after ``attempts`` failed ones: base, 2×base, 4×base … capped."""
        return min(self.backoff_cap, self.backoff_base * (2 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class QuietHours:
    """Local hours ``[start, end)`` in which nothing is sent (the window may span midnight)."""

    start: time
    end: time
    zone: ZoneInfo

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone).time()
        if self.start < self.end:
            return self.start <= local < self.end
        if self.start > self.end:
            return local >= self.start or local < self.end
        return False

    def end_after(self, moment: datetime) -> datetime:
        """The first end of the quiet window after ``moment``."""
        local = moment.astimezone(self.zone)
        day: date = local.date()
        candidate = datetime.combine(day, self.end, tzinfo=self.zone)
        if candidate <= local:
            candidate = datetime.combine(day + timedelta(days=1), self.end, tzinfo=self.zone)
        return candidate.astimezone(moment.tzinfo)


@dataclass
class DispatchCounts:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    dead: int = 0
    cancelled: int = 0
    recovered: int = 0
    pending: int = 0


def elapsed_clock(start: datetime) -> Clock:
    """``start`` plus the real time elapsed since: a run as of ``--now T`` keeps T's frame."""
    origin = monotonic_time.monotonic()
    return lambda: start + timedelta(seconds=monotonic_time.monotonic() - origin)


class _Stop(Exception):
    """A long rate limit: nothing more may be sent in this run before ``until``."""

    def __init__(self, until: datetime) -> None:
        self.until = until


class Dispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sender: Sender | None,
        *,
        zone: ZoneInfo,
        default_locale: str,
        quiet: QuietHours | None = None,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock | None = None,
    ) -> None:
        self.sessions = sessions
        self.sender = sender
        self.zone = zone
        self.default_locale = default_locale
        self.quiet = quiet
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.clock = clock

    async def dispatch(self, now: datetime) -> DispatchCounts:
        """One pass over the queue as of ``now``: recover abandoned rows, then send (or defer) what is due.

        Each claim is its own short transaction; so is each settlement, so a crash loses at most the
        message being sent (it stays in ``sending`` and is recovered when its lease runs out).
        """
        counts = DispatchCounts()
        clock = self.clock or elapsed_clock(now)
        blocked: set[int] = set()  # identities found unreachable during this pass
        first = True
        while True:
            moment = now if first else clock()
            async with transaction(self.sessions) as session:
                if first:
                    counts.recovered = await outbox.recover_stuck(session, moment)
                    first = False
                batch: list[outbox.Claimed] = []
                if self.quiet is not None and self.quiet.contains(moment):
                    counts.deferred += await outbox.defer_due(session, moment, self.quiet.end_after(moment))
                elif self.sender is not None:
                    batch = await outbox.claim(
                        session, moment, moment + self.policy.sending_lease, self.sender.channels, self.policy.batch
                    )
                    ready = await self._complete(session, batch, moment)
                if not batch:
                    counts.pending = await outbox.waiting_count(session)
                    return counts
            assert self.sender is not None
            if await self._deliver_batch(self.sender, batch, ready, blocked, clock, counts):
                async with self.sessions() as session:
                    counts.pending = await outbox.waiting_count(session)
                return counts

    async def _deliver_batch(
        self, sender: Sender, batch: list[outbox.Claimed], ready: dict[int, dict[str, Any] | None],
        blocked: set[int], clock: Clock, counts: DispatchCounts,
    ) -> bool:
        """Deliver a claimed batch, several chats at a time and each chat's messages in order (a chat
        also has its own rate limit). True when a long rate limit stopped it: the messages not yet
        attempted are given back, due when the limit ends."""
        chats: dict[int, list[outbox.Claimed]] = {}
        for message in batch:
            chats.setdefault(message.identity_id, []).append(message)
        gate = asyncio.Semaphore(self.policy.concurrency)
        stops: list[datetime] = []
        unsent: list[int] = []

        async def one_chat(messages: list[outbox.Claimed]) -> None:
            async with gate:
                for index, message in enumerate(messages):
                    if stops:
                        unsent.extend(m.id for m in messages[index:])
                        return
                    try:
                        await self._deliver(sender, message, ready[message.id], blocked, clock, counts)
                    except _Stop as stop:
                        stops.append(stop.until)
                        unsent.extend(m.id for m in messages[index + 1:])
                        return

        async with asyncio.TaskGroup() as group:
            for messages in chats.values():
                group.create_task(one_chat(messages))
        if not stops:
            return False
        async with transaction(self.sessions) as session:
            await outbox.release(session, unsent, max(stops))
        return True

    async def _complete(
        self, session: AsyncSession, batch: Sequence[outbox.Claimed], now: datetime
    ) -> dict[int, dict[str, Any] | None]:
        """Each claimed message's payload as it is to be rendered now (values read at sending filled in),
        or None for one gone stale — about a milestone done or re-dated after it was queued."""
        completed = await complete_notices(session, [m.payload for m in batch], self.zone, now)
        return {m.id: payload for m, payload in zip(batch, completed, strict=True)}

    async def _settle(self, fn: Callable[..., Awaitable[bool]], *args: object, **kwargs: object) -> None:
        async with transaction(self.sessions) as session:
            await fn(session, *args, **kwargs)

    async def _deliver(
        self, sender: Sender, message: outbox.Claimed, payload: dict[str, Any] | None, blocked: set[int],
        clock: Clock, counts: DispatchCounts,
    ) -> None:
        if payload is None:
            await self._settle(outbox.mark_cancelled, message.id, STALE)
            counts.cancelled += 1
            return
        if message.unreachable or message.identity_id in blocked:
            await self._settle(outbox.mark_dead, message.id, UNREACHABLE, count_attempt=False)
            counts.dead += 1
            return
        try:
            reply = render_notice(payload, message.locale or self.default_locale, self.zone)
        except (KeyError, ValueError, IndexError, TypeError) as exc:
            await self._settle(outbox.mark_dead, message.id, f"cannot be rendered: {exc!r}")
            counts.dead += 1
            return
        waits = 0
        while True:
            try:
                await sender.send(message.channel, message.external_id, reply)
            except RetryAfter as exc:
                if exc.seconds <= self.policy.wait_limit and waits < self.policy.max_waits:
                    waits += 1
                    await self.sleep(exc.seconds)
                    continue
                until = clock() + timedelta(seconds=exc.seconds)
                await self._settle(outbox.mark_failed, message.id, until, str(exc), count_attempt=False)
                counts.failed += 1
                raise _Stop(until) from None
            except PermanentError as exc:
                await self._settle(outbox.mark_dead, message.id, exc.reason)
                counts.dead += 1
            except Unreachable as exc:
                async with transaction(self.sessions) as session:
                    await outbox.mark_dead(session, message.id, exc.reason)
                    await outbox.mark_identity_unreachable(session, message.identity_id)
                blocked.add(message.identity_id)
                counts.dead += 1
            except Exception as exc:  # TransientError, or a sender bug: neither may stop the queue
                if not isinstance(exc, TransientError):
                    log.exception("sender failed on outbox message %s", message.id)
                await self._transient(message, str(exc) or type(exc).__name__, clock, counts)
            else:
                await self._settle(outbox.mark_sent, message.id, clock())
                counts.sent += 1
            return

    async def _transient(self, message: outbox.Claimed, error: str, clock: Clock, counts: DispatchCounts) -> None:
        attempts = message.attempts + 1
        if attempts >= self.policy.max_attempts:
            await self._settle(outbox.mark_dead, message.id, f"gave up after {attempts} attempts: {error}")
            counts.dead += 1
            return
        await self._settle(outbox.mark_failed, message.id, clock() + self.policy.backoff(attempts), error)
        counts.failed += 1
