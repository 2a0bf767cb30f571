"""The scheduler inside ``civicbot run``: APScheduler (asyncio, memory job store) that only ticks.

All state is in the database; the one job evaluates the rules as of ``now`` every ``TICK_SECONDS``
(what ``civicbot reminders run-once`` does before it dispatches), so nothing is lost when the process
restarts. What the rules queue is sent by the process's dispatch loop (``bot.dispatching``), woken by
the evaluation's commit. The tick also drops de-duplication keys and unsent replies older than
``CIVICBOT_HANDLED_RETENTION_DAYS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.app import App
from bot.reminders import evaluate_rules, rule_settings
from dialogs.reminders import Evaluation
from store.conversations import forget_handled_before
from store.db import transaction

log = logging.getLogger(__name__)

TICK_SECONDS = 60
JOB_ID = "civicbot.tick"
STOP_GRACE_SECONDS = 10.0  # a stop lets an evaluation in progress finish this long before cutting it short


def utcnow() -> datetime:
    return datetime.now(UTC)


async def forget_handled(app: App, now: datetime) -> int:
    """Drop what turns kept that is past its retention (how many rows went): each tick deletes the rows
    that crossed the line since the last one."""
    cutoff = now - timedelta(days=app.settings.handled_retention_days)
    async with transaction(app.sessions) as session:
        return await forget_handled_before(session, cutoff)


@dataclass
class Ticker:
    """The scheduler's job: drop what is past its retention and evaluate the rules; ``idle`` is set
    whenever no tick is running."""

    app: App
    clock: Callable[[], datetime] = utcnow
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.idle.set()

    async def tick(self) -> Evaluation | None:
        """One scheduled tick; a failure is logged and the next tick tries again."""
        self.idle.clear()
        try:
            try:
                await forget_handled(self.app, self.clock())
            except Exception:
                log.exception("dropping old handled-message keys failed")
            evaluation = await evaluate_rules(self.app.sessions, rule_settings(self.app.settings), self.clock())
        except asyncio.CancelledError:
            # the stop cut it short: its transaction was rolled back, the next start evaluates again. Not
            # re-raised: the task is the scheduler's, which would log a cancelled job as a failure
            log.info("rule evaluation interrupted by the stop")
            return None
        except Exception:
            log.exception("rule evaluation failed")
            return None
        finally:
            self.idle.set()
        if evaluation is None:
            log.info("another process holds the evaluator lock: rules not evaluated this time")
        elif evaluation.queued:
            log.info("tick: %s", evaluation)
        return evaluation


def start_scheduler(
    ticker: Ticker, *, interval: float = TICK_SECONDS, first: datetime | None = None
) -> AsyncIOScheduler:
    """Start ticking on the running event loop (the first tick at ``first``, default right away);
    ``stop_scheduler`` it on exit."""
    scheduler = AsyncIOScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": AsyncIOExecutor()},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": int(interval)},
        timezone=UTC,
    )
    scheduler.add_job(ticker.tick, "interval", seconds=interval, id=JOB_ID, next_run_time=first or ticker.clock())
    scheduler.start()
    return scheduler


async def stop_scheduler(scheduler: AsyncIOScheduler, ticker: Ticker, grace: float = STOP_GRACE_SECONDS) -> None:
    """No more ticks; an evaluation in progress may finish within ``grace`` seconds, then it is cut short."""
    scheduler.pause()
    await asyncio.sleep(0)  # a tick submitted just now starts, and is waited for below
    try:
        await asyncio.wait_for(ticker.idle.wait(), grace)
    except TimeoutError:
        log.warning("rule evaluation still running after %.0f s: interrupted", grace)
    scheduler.shutdown(wait=False)  # cancels an evaluation still running
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(ticker.idle.wait(), 1.0)  # … which rolls back
