"""``run_once(now)``: evaluate every rule into the outbox (one evaluator at a time) and dispatch it once.

``civicbot reminders run-once`` calls it; the scheduler's tick in ``civicbot run`` evaluates the same
rules (``evaluate_rules``) and leaves the sending to the dispatch loop. Everything is judged at the
``now`` passed in, never at the database's clock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import App
from bot.config import Settings
from bot.outbox import Clock, DispatchCounts, Dispatcher, QuietHours, RetryPolicy, Sleep
from bot.sending import Sender
from dialogs.reminders import Evaluation, RuleSettings, evaluate, window_start
from store.db import capabilities, transaction
from store.leases import (
    acquire_lease,
    evaluation_settings,
    get_watermark,
    release_lease,
    set_watermark,
    try_advisory_xact_lock,
)
from store.reminders import Schedule
from store.workdays import work_calendar

log = logging.getLogger(__name__)

EVALUATOR = "rules.evaluator"
WATERMARK = "rules.watermark"
# Longer than any evaluation takes; a process killed while holding the lease blocks others this long.
EVALUATOR_LEASE = timedelta(minutes=5)


def process_name() -> str:
    """Who holds a lease: host, pid and a per-call suffix (two tasks of one process are two holders)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def rule_settings(settings: Settings) -> RuleSettings:
    schedule = Schedule(
        zone=settings.zone, send_time=settings.send_time, offsets=settings.reminder_offsets,
        overdue_every=settings.overdue_every_days, overdue_max=settings.overdue_max,
    )
    return RuleSettings(schedule, work_calendar(settings.holidays_file), settings.admin_identities,
                        settings.review_answer_hours)


def quiet_hours(settings: Settings) -> QuietHours | None:
    window = settings.quiet_window
    return QuietHours(window[0], window[1], settings.zone) if window else None


@dataclass
class RunResult:
    """What ``run_once`` did; ``as_json`` is the ``reminders run-once --json`` contract."""

    evaluated: bool
    evaluation: Evaluation
    dispatch: DispatchCounts

    def as_json(self) -> dict[str, object]:
        d = self.dispatch
        return {
            "queued": self.evaluation.queued, "sent": d.sent, "deferred": d.deferred, "failed": d.failed,
            "dead": d.dead, "pending": d.pending, "cancelled": d.cancelled, "evaluated": self.evaluated,
            "rules": asdict(self.evaluation),
        }


async def _evaluate_locked(session: AsyncSession, rules: RuleSettings, now: datetime) -> Evaluation:
    after = window_start(await get_watermark(session, WATERMARK), now)
    result = await evaluate(session, rules, now, after)
    await set_watermark(session, WATERMARK, now)
    return result


async def evaluate_rules(
    sessions: async_sessionmaker[AsyncSession], rules: RuleSettings, now: datetime, holder: str | None = None
) -> Evaluation | None:
    """Evaluate the rules as of ``now`` unless another process is doing so (then None)."""
    holder = holder or process_name()
    if capabilities(sessions).advisory_locks:
        async with transaction(sessions) as session:
            if not await try_advisory_xact_lock(session, EVALUATOR):
                return None
            await evaluation_settings(session)
            return await _evaluate_locked(session, rules, now)
    async with transaction(sessions) as session:
        if not await acquire_lease(session, EVALUATOR, holder, now, EVALUATOR_LEASE):
            return None
    try:
        async with transaction(sessions) as session:
            result = await _evaluate_locked(session, rules, now)
            await release_lease(session, EVALUATOR, holder)
            return result
    except BaseException:
        async with transaction(sessions) as session:
            await release_lease(session, EVALUATOR, holder)
        raise


def dispatcher(
    app: App, sender: Sender | None, *, sleep: Sleep = asyncio.sleep, clock: Clock | None = None,
    policy: RetryPolicy | None = None,
) -> Dispatcher:
    return Dispatcher(
        app.sessions, sender, zone=app.settings.zone, default_locale=app.settings.default_locale,
        quiet=quiet_hours(app.settings), policy=policy, sleep=sleep, clock=clock,
    )


async def run_once(
    app: App,
    sender: Sender | None,
    now: datetime,
    *,
    sleep: Sleep = asyncio.sleep,
    clock: Clock | None = None,
    policy: RetryPolicy | None = None,
    rules: RuleSettings | None = None,
) -> RunResult:
    """Evaluate every rule as of ``now`` into the outbox, then dispatch it once."""
    evaluation = await evaluate_rules(app.sessions, rules or rule_settings(app.settings), now)
    if evaluation is None:
        log.info("another process holds the evaluator lock: rules not evaluated this time")
    counts = await dispatcher(app, sender, sleep=sleep, clock=clock, policy=policy).dispatch(now)
    return RunResult(evaluation is not None, evaluation or Evaluation(), counts)
