"""Several processes on one PostgreSQL database: roles of ``civicbot run`` and the cross-process wake-up."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import open_app
from bot.channels.telegram import serve
from bot.cli import build_parser
from bot.config import Settings
from bot.dispatching import CommitWakeup, DispatchLoop, NotifyWakeup, wakeup_for
from bot.reminders import dispatcher
from dialogs.notices import queue_notice
from store.conversations import ensure_identity
from store.db import create_engine, transaction
from store.outbox import NOTIFY_CHANNEL, listen_queued, notify_queued
from testing.reminder_world import app_for, build_calendar_world
from testing.sender import FakeSender
from testing.telegram_api import DEFAULT_TOKEN, FakeTelegram

DAYTIME = datetime(2026, 10, 12, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, a Monday: no quiet hours


def now() -> datetime:
    return datetime.now(UTC)


def test_run_accepts_the_four_roles_and_defaults_to_all() -> None:
    parser = build_parser()
    assert parser.parse_args(["run"]).role == "all"
    for role in ("all", "web", "worker", "scheduler"):
        assert parser.parse_args(["run", "--role", role]).role == role
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--role", "everything"])


@pytest.mark.postgres
async def test_a_notice_queued_through_one_engine_wakes_the_loop_of_another_within_two_seconds(
    pg_url: str,
) -> None:
    """Two engines stand for two processes: only PostgreSQL's NOTIFY can tell the second one."""
    with time_machine.travel(DAYTIME, tick=True):  # outside the quiet hours, whenever the test runs
        await _notice_wakes_another_engine(pg_url)


async def _notice_wakes_another_engine(pg_url: str) -> None:
    queuing, working = create_engine(pg_url), create_engine(pg_url)
    stop_notifying = notify_queued(queuing)
    app = app_for(working)
    await build_calendar_world(app.sessions)
    sender = FakeSender(clock=now)
    wakeup = await wakeup_for(working)
    assert isinstance(wakeup, NotifyWakeup)
    loop = DispatchLoop(dispatcher(app, sender, clock=now), wakeup, clock=now)
    loop.start()
    try:
        await asyncio.sleep(0.3)  # the loop's first pass found nothing: it sleeps for the fallback minute
        async with transaction(app_for(queuing).sessions) as s:
            person = await ensure_identity(s, "test", "r1", now())
            await queue_notice(s, person.id, "notify.publicized", "x:1", now(), code="C1", title="T")
        queued = time.monotonic()
        while not sender.delivered and time.monotonic() - queued < 2:
            await asyncio.sleep(0.02)
        assert [d.external_id for d in sender.delivered] == ["r1"]
    finally:
        await loop.stop()
        stop_notifying()
        await queuing.dispose()
        await working.dispose()


async def test_on_sqlite_the_wakeup_stays_in_process(sqlite_url: str) -> None:
    db = create_engine(sqlite_url)
    try:
        wakeup = await wakeup_for(db)
        assert type(wakeup) is CommitWakeup
        wakeup.close()
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_a_web_process_answers_and_a_worker_process_dispatches_what_its_turns_queue(
    pg_url: str, tmp_path: Path
) -> None:
    """``--role web`` and ``--role worker`` side by side: the web one answers updates and sends no outbox
    message; the worker one dispatches a notice the web one's engine queued, within 2 s."""
    async with FakeTelegram() as tg:
        settings = Settings(database_url=pg_url, telegram_token=DEFAULT_TOKEN, telegram_api_url=tg.base_url,
                            media_dir=tmp_path, quiet_hours="")
        web_app, worker_app = await open_app(settings), await open_app(settings, migrate=False)
        chat = 871_001
        stop_web, stop_worker = asyncio.Event(), asyncio.Event()
        try:
            async with transaction(web_app.sessions) as s:
                person = await ensure_identity(s, "telegram", str(chat), now())
                await queue_notice(s, person.id, "common.welcome", "before", now())
            web = asyncio.create_task(serve(web_app, settings, stop_web, role="web"))
            user = tg.user(872_001)
            await user.send_text("/start")
            await user.wait_for_messages(1)
            await asyncio.sleep(0.5)
            assert tg.messages_to(chat) == []  # the web process dispatches nothing
            worker = asyncio.create_task(serve(worker_app, settings, stop_worker, role="worker"))
            await tg.wait_for_messages(chat, 1, timeout=10)  # its first pass
            await asyncio.sleep(0.3)
            async with transaction(web_app.sessions) as s:
                await queue_notice(s, person.id, "common.welcome", "while", now())
            queued = time.monotonic()
            [_, second] = await tg.wait_for_messages(chat, 2, timeout=2)
            stop_web.set()
            stop_worker.set()
            await asyncio.wait_for(asyncio.gather(web, worker), 10)
        finally:
            await web_app.close()
            await worker_app.close()
    assert second.at - queued < 2


async def _listening_backends(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND query LIKE 'LISTEN%'"))).scalars())


@pytest.mark.postgres
async def test_a_lost_listen_connection_is_opened_again_and_wakes_up_keep_coming(pg_url: str) -> None:
    """The LISTEN connection's backend terminated (as a PostgreSQL restart or a failover would): the listener
    connects again, wakes its loop once for what was queued while it was away, and later notices wake it."""
    admin = create_engine(pg_url)
    woken = asyncio.Event()
    close = await listen_queued(admin, woken.set)
    try:
        [first] = await _listening_backends(admin)
        async with admin.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        await asyncio.wait_for(woken.wait(), 5)  # listening again: a pass for what may have been missed
        woken.clear()
        again = await _listening_backends(admin)
        assert len(again) == 1 and again != [first]
        async with admin.connect() as conn:
            await conn.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
            await conn.commit()
        await asyncio.wait_for(woken.wait(), 2)
    finally:
        await close()
        await admin.dispose()
