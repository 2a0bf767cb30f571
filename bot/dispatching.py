"""The outbox dispatcher as a service: one loop per process that dispatches as soon as it is woken.

It is woken after every commit that queued messages (a chat turn's notice, the rules' tick, a command
run in this process), and otherwise sleeps until the next message falls due or a claim's lease runs
out — never past it, and never longer than ``fallback`` (which catches what other processes queue).
The wake-up comes through a ``Wakeup``: in-process (``CommitWakeup``) on SQLite, and on PostgreSQL also
fed by LISTEN/NOTIFY (``NotifyWakeup``), so any process's commit wakes any process's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.outbox import Dispatcher
from store.db import capabilities
from store.outbox import listen_queued, watch_queued

log = logging.getLogger(__name__)

FALLBACK_SECONDS = 60.0
STOP_GRACE_SECONDS = 5.0  # a stop waits this long for sends in flight before cutting them short


def utcnow() -> datetime:
    return datetime.now(UTC)


class Wakeup(Protocol):
    """What tells the loop that there may be something to send."""

    def wake(self) -> None:
        """Something was queued (or the caller wants a pass now)."""

    async def wait(self, timeout: float) -> None:
        """Return when woken since the last return, or after ``timeout`` seconds."""

    def close(self) -> None:
        """Stop listening."""


class CommitWakeup:
    """Woken by this process's commits that queued outbox messages (``store.outbox.watch_queued``)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._event = asyncio.Event()
        self._unwatch = watch_queued(engine, self.wake)

    def wake(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
        self._event.clear()

    def close(self) -> None:
        self._unwatch()


class NotifyWakeup(CommitWakeup):
    """Woken by this process's commits and, through PostgreSQL ``LISTEN``, by every other process's
    (``store.outbox.notify_queued``): a notice queued by a turn in a ``web`` process reaches a ``worker``."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self._engine = engine
        self._close_listener: Callable[[], Awaitable[None]] | None = None

    async def listen(self) -> None:
        self._close_listener = await listen_queued(self._engine, self.wake)

    def close(self) -> None:
        super().close()
        if self._close_listener is not None:
            closing = self._close_listener
            self._close_listener = None
            _closing.add(task := asyncio.ensure_future(closing()))
            task.add_done_callback(_closing.discard)


_closing: set[asyncio.Future[None]] = set()  # listener connections being closed (kept from the collector)


async def wakeup_for(engine: AsyncEngine) -> Wakeup:
    """The wake-up of a dispatch loop on ``engine``: across processes on PostgreSQL, in-process on SQLite
    (one SQLite file is served by one process)."""
    if not capabilities(engine).notifications:
        return CommitWakeup(engine)
    wakeup = NotifyWakeup(engine)
    await wakeup.listen()
    return wakeup


class DispatchLoop:
    """Runs ``dispatcher`` whenever ``wakeup`` says so, and when something falls due; ``stop`` ends it cleanly
    (what was claimed and not sent goes back to ``pending``)."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        wakeup: Wakeup,
        *,
        fallback: float = FALLBACK_SECONDS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.dispatcher = dispatcher
        self.wakeup = wakeup
        self.fallback = fallback
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="outbox-dispatch")

    def wake(self) -> None:
        self.wakeup.wake()

    async def run(self) -> None:
        while not self._stopping:
            try:
                counts = await self.dispatcher.dispatch(self.clock())
                if counts.sent or counts.failed or counts.dead or counts.deferred or counts.recovered:
                    log.info("outbox: %s", counts)
                pause = await self._until_due()
            except Exception:
                log.exception("outbox dispatch failed: trying again in %.0f s", self.fallback)
                pause = self.fallback
            if self._stopping:
                return
            await self.wakeup.wait(pause)

    async def _until_due(self) -> float:
        """Seconds until the next message falls due or a lease runs out (at most ``fallback``)."""
        now = self.clock()
        due = await self.dispatcher.next_due(now)
        if due is None:
            return self.fallback
        return min(self.fallback, max(0.0, (due - now).total_seconds()))

    def halt(self) -> None:
        """Claim nothing more, and end ``run`` once the sends in flight are settled."""
        self._stopping = True
        self.dispatcher.stop()
        self.wakeup.wake()

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Finish the sends in flight (at most ``grace`` seconds; then they are cut short and given back too)
        and give back everything claimed and not sent."""
        self.halt()
        task = self._task
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), grace)
            except TimeoutError:
                log.warning("outbox sends still in flight after %.0f s: given back unsent", grace)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self.wakeup.close()
