"""The outbox dispatcher: claims due messages, renders each in its recipient's language, sends it through
the channel's ``Sender`` and settles it — sent, retried later, dead with the reason, or cancelled as stale.

Rules it keeps: nothing is sent in quiet hours (due messages are deferred to the end of the window);
a 429 is honoured for its chat (a short ``retry_after`` is waited out; after a long one the chat's
messages are given back, due when it ends, while the other chats go on); 5xx and timeouts back off
exponentially until ``max_attempts``; 400 and 403 are final (403 also marks the identity unreachable).
Claims carry a short lease that a heartbeat renews while the dispatcher works, so the rows of a killed
process are retried within a minute; ``stop()`` gives back what was claimed and not sent. Every wait
goes through the injected ``sleep`` and every timestamp through the injected ``clock``, so tests move
time instead of waiting.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time as monotonic_time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.sending import PermanentError, RetryAfter, Sender, TransientError, Unreachable
from dialogs.notices import render_notice
from dialogs.notices.complete import complete_notices
from store import outbox
from store.db import transaction
from store.notices import Notice, UnreadableNotice

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], datetime]

STALE = "stale: the milestone was done or re-dated before this could be sent"
UNREACHABLE = "recipient unreachable (blocked the bot or left the channel)"
HOST = socket.gethostname()

# Claimer names of this process's dispatchers at work: a claim in this process's name that is not among
# them was left by an earlier process that had the same pid (a restarted container's pid 1).
_working: set[str] = set()


def claimer_name() -> str:
    """Who holds a claim: host, pid and a per-dispatcher suffix (``host:pid:run``)."""
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def dead_claimers(names: Iterable[str]) -> list[str]:
    """The claimers among ``names`` known to be dead: of this host, and their process gone (or it is this
    process and they are not at work in it). Claimers of other hosts are judged by their lease alone."""
    dead = []
    for name in names:
        host, _, rest = name.partition(":")
        pid = rest.partition(":")[0]
        if host != HOST or not pid.isdigit():
            continue
        if (int(pid) == os.getpid() and name not in _working) or (int(pid) != os.getpid() and not _pid_alive(int(pid))):
            dead.append(name)
    return dead


# a claimed message as it is to be sent: its notice completed, None if it went stale, or why it cannot be read
Ready = Notice | UnreadableNotice | None


async def completed(
    session: AsyncSession, batch: Sequence[outbox.Claimed], zone: ZoneInfo, now: datetime
) -> dict[int, Ready]:
    """Each claimed message's notice as it is to be rendered now (values read at sending filled in), or
    None for one gone stale — about a milestone done or re-dated after it was queued."""
    ready: dict[int, Ready] = {}
    notices: dict[int, Notice] = {}
    for message in batch:
        try:
            notices[message.id] = message.notice()
        except UnreadableNotice as exc:
            ready[message.id] = exc
    done = await complete_notices(session, list(notices.values()), zone, now)
    ready.update(zip(notices.keys(), done, strict=True))
    return ready


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    backoff_base: timedelta = timedelta(seconds=30)
    backoff_cap: timedelta = timedelta(hours=2)
    wait_limit: float = 5.0  # a 429 asking for at most this many seconds is waited out in the same run
    max_waits: int = 3  # … at most this many times for one message
    # a claim holds this long unless renewed; the heartbeat renews it every ``lease / 3`` seconds, so
    # the rows of a dispatcher that died are taken back within the lease
    lease: timedelta = timedelta(seconds=30)
    batch: int = 20
    concurrency: int = 8  # chats sent to at the same time (the channel's sender paces the total rate)

    def backoff(self, attempts: int) -> timedelta:
        """Delay before the next attempt after ``attempts`` failed ones: base, 2×base, 4×base … capped."""
        return min(self.backoff_cap, self.backoff_base * (2.0 ** max(0, attempts - 1)))


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
    released: int = 0  # claimed and given back unsent: a stop, or a chat rate limited for long
    pending: int = 0


def elapsed_clock(start: datetime) -> Clock:
    """``start`` plus the real time elapsed since: a run as of ``--now T`` keeps T's frame."""
    origin = monotonic_time.monotonic()
    return lambda: start + timedelta(seconds=monotonic_time.monotonic() - origin)


@dataclass
class _Pass:
    """What one ``dispatch`` call keeps between its batches."""

    clock: Clock
    counts: DispatchCounts
    blocked: set[int]  # identities found unreachable
    limited: dict[int, datetime]  # identity → nothing may go to it before then (a long 429)


class _Stopped(Exception):
    """Raised instead of a send once the dispatcher is stopping: the message is given back."""


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
        self.claimer = claimer_name()
        self._stopping = False

    def stop(self) -> None:
        """Send nothing more: a dispatch in progress gives back what it has not sent and returns."""
        self._stopping = True

    async def dispatch(self, now: datetime) -> DispatchCounts:
        """One pass over the queue as of ``now``: recover abandoned rows, then send (or defer) what is due.

        Each claim is its own short transaction; so is each settlement, so a crash leaves only the
        messages being sent in ``sending``, recovered when their lease runs out (or at once, when their
        process is known to be dead) — each may then reach its recipient a second time.
        """
        run = _Pass(self.clock or elapsed_clock(now), DispatchCounts(), set(), {})
        _working.add(self.claimer)
        try:
            async with self._heartbeat(run.clock):
                await self._passes(now, run)
        finally:
            _working.discard(self.claimer)
        async with self.sessions() as session:
            run.counts.pending = await outbox.waiting_count(session)
        return run.counts

    async def _passes(self, now: datetime, run: _Pass) -> None:
        """Claim and deliver batches until nothing is due. The next batch is claimed (and rendered) while one
        is being delivered, so the sends do not pause for the database between batches; it is delivered once
        this one is over (each chat's messages stay in order). The pass ends when a claim made after the last
        delivery finds nothing."""
        batch, ready = await self._claim(now, run, first=True)
        while batch and not self._stopping:
            assert self.sender is not None
            ahead = asyncio.create_task(self._claim(run.clock(), run, first=False))
            try:
                await self._deliver_batch(self.sender, batch, ready, run)
            except BaseException:
                await self._drop_ahead(ahead, run)
                raise
            batch, ready = await ahead
            if not batch and not self._stopping:
                batch, ready = await self._claim(run.clock(), run, first=False)
        if batch:  # claimed ahead, and then the stop came
            await self._give_back({run.clock(): [m.id for m in batch]}, run)

    async def _claim(
        self, moment: datetime, run: _Pass, *, first: bool
    ) -> tuple[list[outbox.Claimed], dict[int, Ready]]:
        async with transaction(self.sessions) as session:
            if first:
                dead = dead_claimers(await outbox.claimers(session))
                run.counts.recovered = await outbox.recover_stuck(session, moment, dead)
            if self.quiet is not None and self.quiet.contains(moment):
                run.counts.deferred += await outbox.defer_due(session, moment, self.quiet.end_after(moment))
            elif self.sender is not None and not self._stopping:
                batch = await outbox.claim(session, moment, moment + self.policy.lease, self.sender.channels,
                                           self.policy.batch, self.claimer)
                return batch, await self._complete(session, batch, moment)
        return [], {}

    async def _drop_ahead(self, ahead: asyncio.Task[tuple[list[outbox.Claimed], dict[int, Ready]]], run: _Pass) -> None:
        """The batch claimed ahead goes back unsent (the delivery before it failed or was cancelled)."""
        try:
            batch, _ = await asyncio.shield(ahead)
        except BaseException:
            ahead.cancel()
            return
        if batch:
            with suppress(Exception):  # if the database is what failed, the leases run out instead
                await self._give_back({run.clock(): [m.id for m in batch]}, run)

    @asynccontextmanager
    async def _heartbeat(self, clock: Clock) -> AsyncIterator[None]:
        """Renew this dispatcher's claims every third of the lease while the block runs (real time: the
        lease is judged by other processes, whose clocks are not this one's)."""

        async def beat() -> None:
            every = self.policy.lease.total_seconds() / 3
            while True:
                await asyncio.sleep(every)
                try:
                    async with transaction(self.sessions) as session:
                        await outbox.renew(session, self.claimer, clock() + self.policy.lease)
                except Exception:
                    log.exception("could not renew the outbox claims of %s", self.claimer)

        task = asyncio.create_task(beat(), name=f"outbox-heartbeat-{self.claimer}")
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def next_due(self, now: datetime) -> datetime | None:
        """When, after ``now``, there is something to do next: a message falls due, or a claim's lease runs out."""
        async with self.sessions() as session:
            return await outbox.next_due(session, now)

    async def _deliver_batch(
        self, sender: Sender, batch: list[outbox.Claimed], ready: dict[int, Ready], run: _Pass,
    ) -> None:
        """Deliver a claimed batch, several chats at a time and each chat's messages in order. Messages not
        attempted — a stop, or their chat rate limited for longer than is waited out here — are given
        back; so are all unsettled ones when the task is cancelled (a send cut short may have arrived)."""
        chats: dict[int, list[outbox.Claimed]] = {}
        for message in batch:
            chats.setdefault(message.identity_id, []).append(message)
        gate = asyncio.Semaphore(self.policy.concurrency)
        unsettled = {m.id for m in batch}
        given_back: dict[datetime, list[int]] = {}

        def give_back(messages: Sequence[outbox.Claimed], due: datetime) -> None:
            given_back.setdefault(due, []).extend(m.id for m in messages)
            unsettled.difference_update(m.id for m in messages)

        async def one_chat(messages: list[outbox.Claimed]) -> None:
            for index, message in enumerate(messages):
                until = run.limited.get(message.identity_id)
                if until is not None and until > run.clock():
                    give_back(messages[index:], until)
                    return
                try:
                    await self._deliver(sender, message, ready[message.id], gate, run)
                except _Stopped:
                    give_back(messages[index:], run.clock())
                    return
                unsettled.discard(message.id)

        try:
            async with asyncio.TaskGroup() as group:
                for messages in chats.values():
                    group.create_task(one_chat(messages))
        except BaseException:
            given_back.setdefault(run.clock(), []).extend(sorted(unsettled))
            with suppress(Exception):  # if the database is what failed, the leases run out instead
                await self._give_back(given_back, run)
            raise
        await self._give_back(given_back, run)

    async def _give_back(self, due: dict[datetime, list[int]], run: _Pass) -> None:
        if not any(due.values()):
            return
        async with transaction(self.sessions) as session:
            for at, ids in due.items():
                run.counts.released += await outbox.release(session, ids, at, by=self.claimer)

    async def _complete(self, session: AsyncSession, batch: Sequence[outbox.Claimed], now: datetime) -> dict[int, Ready]:
        return await completed(session, batch, self.zone, now)

    async def _settle(self, fn: Callable[..., Awaitable[bool]], *args: object, **kwargs: object) -> None:
        async with transaction(self.sessions) as session:
            await fn(session, *args, by=self.claimer, **kwargs)

    async def _deliver(
        self, sender: Sender, message: outbox.Claimed, notice: Ready, gate: asyncio.Semaphore,
        run: _Pass,
    ) -> None:
        counts, clock = run.counts, run.clock
        if notice is None:
            await self._settle(outbox.mark_cancelled, message.id, STALE)
            counts.cancelled += 1
            return
        if isinstance(notice, UnreadableNotice):
            await self._settle(outbox.mark_dead, message.id, f"cannot be read: {notice}")
            counts.dead += 1
            return
        if message.unreachable or message.identity_id in run.blocked:
            await self._settle(outbox.mark_dead, message.id, UNREACHABLE, count_attempt=False)
            counts.dead += 1
            return
        try:
            reply = render_notice(notice, message.locale or self.default_locale, self.zone)
        except (KeyError, ValueError, IndexError, TypeError) as exc:
            await self._settle(outbox.mark_dead, message.id, f"cannot be rendered: {exc!r}")
            counts.dead += 1
            return
        waits = 0
        while True:
            try:
                async with gate:
                    if self._stopping:
                        raise _Stopped
                    await sender.send(message.channel, message.external_id, reply)
            except RetryAfter as exc:
                if exc.seconds <= self.policy.wait_limit and waits < self.policy.max_waits:
                    waits += 1
                    await self.sleep(exc.seconds)  # outside the gate: other chats go on meanwhile
                    continue
                until = clock() + timedelta(seconds=exc.seconds)
                await self._settle(outbox.mark_failed, message.id, until, str(exc), count_attempt=False)
                run.limited[message.identity_id] = until
                counts.failed += 1
            except PermanentError as exc:
                await self._settle(outbox.mark_dead, message.id, exc.reason)
                counts.dead += 1
            except Unreachable as exc:
                async with transaction(self.sessions) as session:
                    await outbox.mark_dead(session, message.id, exc.reason, by=self.claimer)
                    await outbox.mark_identity_unreachable(session, message.identity_id)
                run.blocked.add(message.identity_id)
                counts.dead += 1
            except _Stopped:
                raise
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
