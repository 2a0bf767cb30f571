"""The scheduler inside ``civicbot run``: APScheduler (asyncio, memory job store) that only ticks.

All state is in the database; the one job calls ``run_once(now)`` every ``TICK_SECONDS``, exactly
what ``civicbot reminders run-once`` does, so nothing is lost when the process restarts. The tick also
drops de-duplication keys and unsent replies older than ``CIVICBOT_HANDLED_RETENTION_DAYS``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.app import App
from bot.reminders import RunResult, run_once
from bot.sending import Sender
from store.conversations import forget_handled_before
from store.db import transaction

log = logging.getLogger(__name__)

TICK_SECONDS = 60
JOB_ID = "civicbot.tick"


def utcnow() -> datetime:
    return datetime.now(UTC)


async def forget_handled(app: App, now: datetime) -> int:
    """Drop what turns kept that is past its retention (how many rows went): each tick deletes the rows
    that crossed the line since the last one."""
    cutoff = now - timedelta(days=app.settings.handled_retention_days)
    async with transaction(app.sessions) as session:
        return await forget_handled_before(session, cutoff)


async def tick(app: App, sender: Sender | None, clock: Callable[[], datetime] = utcnow) -> RunResult | None:
    """One scheduled run; a failure is logged and the next tick tries again."""
    try:
        await forget_handled(app, clock())
    except Exception:
        log.exception("dropping old handled-message keys failed")
    try:
        result = await run_once(app, sender, clock())
    except Exception:
        log.exception("reminder/outbox tick failed")
        return None
    counts = result.as_json()
    if any(counts[k] for k in ("queued", "sent", "failed", "dead", "deferred")):
        log.info("tick: %s", counts)
    return result


def start_scheduler(
    app: App, sender: Sender | None, *, interval: float = TICK_SECONDS, clock: Callable[[], datetime] = utcnow
) -> AsyncIOScheduler:
    """Start ticking on the running event loop (the first tick right away); ``shutdown()`` it on exit."""
    scheduler = AsyncIOScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": AsyncIOExecutor()},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": int(interval)},
        timezone=UTC,
    )
    scheduler.add_job(
        tick, "interval", seconds=interval, args=(app, sender, clock), id=JOB_ID, next_run_time=clock(),
    )
    scheduler.start()
    return scheduler
