"""Two ``civicbot run --role scheduler`` processes started at once on one PostgreSQL database: the rules are
evaluated by one of them (the evaluator's advisory lock), and each rule's reminder is queued once."""

from __future__ import annotations

import re
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from bot.app import open_app
from bot.config import Settings
from store import models as m
from store.db import create_engine, sessionmaker, transaction
from testing.reminder_world import ZONE, build_calendar_world
from testing.telegram_api import FakeTelegram
from tests.cli.test_run_process import Service, until

TICK = re.compile(r"tick: Evaluation\(reminders=(\d+), alerts=(\d+), digests=(\d+), events=(\d+), review=(\d+)\)")


async def outbox_rows(url: str) -> tuple[int, int]:
    db = create_engine(url)
    async with sessionmaker(db)() as s:
        rows = await s.scalar(select(func.count()).select_from(m.OutboxMessage))
        keys = await s.scalar(select(func.count(m.OutboxMessage.dedup_key.distinct())))
    await db.dispose()
    return rows or 0, keys or 0


@pytest.mark.postgres
async def test_two_schedulers_started_at_once_queue_each_reminder_once(pg_url: str, tmp_path: Path) -> None:
    # the send hour is a minute ago; two milestones fall due 1 and 3 days from today: their reminders are due now
    sent_at = (datetime.now(UTC) - timedelta(minutes=1)).astimezone(ZONE).replace(second=0, microsecond=0)
    app = await open_app(Settings(database_url=pg_url, quiet_hours=""), migrate=False)
    try:
        world = await build_calendar_world(app.sessions)
        async with transaction(app.sessions) as s:
            for milestone, days in ((world.inspection, 1), (world.report, 3)):
                due = (sent_at + timedelta(days=days)).replace(hour=17, minute=0)
                await s.execute(update(m.Milestone).where(m.Milestone.id == milestone.id).values(due_at=due))
    finally:
        await app.close()
    async with FakeTelegram() as tg:  # unused: the schedulers send nothing; Service wants its address
        schedulers = [Service(pg_url, tg, tmp_path, f"scheduler{n}", "--role", "scheduler") for n in (1, 2)]
        for service in schedulers:
            service.env.update(CIVICBOT_TELEGRAM_TOKEN="", CIVICBOT_SEND_HOUR=sent_at.strftime("%H:%M"))
        try:
            for service in schedulers:
                await service.start()
            logs = lambda: [service.output() for service in schedulers]  # noqa: E731
            await until(lambda: any(TICK.search(log) for log in logs()), 90, "a tick that queued", schedulers[0])
            # the other one's first tick is over too: it found the lock held, or nothing left to queue
            for service in schedulers:
                await until(lambda s=service: "executed successfully" in s.output(), 60, "its first tick", service)
            for service in schedulers:
                assert await service.signal(signal.SIGTERM) == 0, service.output()
        finally:
            for service in schedulers:
                if service.process is not None and service.process.returncode is None:
                    service.process.kill()
    ticks = [[sum(map(int, found.groups())) for found in TICK.finditer(service.output())] for service in schedulers]
    rows, keys = await outbox_rows(pg_url)
    print(f"\nqueued per scheduler: {ticks}; outbox rows {rows}")
    assert sorted(len(t) for t in ticks) == [0, 1]  # one process queued, once
    assert rows == keys == sum(map(sum, ticks)) >= 4  # 2 milestones x 2 members at least, each once
