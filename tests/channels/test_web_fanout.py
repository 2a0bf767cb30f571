"""Web-chat notices across processes: two ``civicbot run --role web`` processes on one PostgreSQL database. A
notice queued anywhere (a command, another process) reaches the page whose socket another process holds
within 2 s through PostgreSQL's notifications, is shown once when both processes race for it, and waits
for the next visit — on either process — when no page has confirmed it."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from dialogs.notices import queue_notice
from store.db import create_engine, sessionmaker, transaction
from store.models import OutboxMessage
from store.outbox import notify_queued
from testing.factories import build_world
from testing.processes import Page, Process, base_env, until_healthy, web_process

NOTICE_WITHIN = 2.0


def now() -> datetime:
    return datetime.now(UTC)


async def states(url: str) -> dict[int, str]:
    db = create_engine(url)
    try:
        async with sessionmaker(db)() as session:
            return dict((await session.execute(select(OutboxMessage.id, OutboxMessage.state))).all())
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_a_notice_reaches_the_page_another_web_process_holds_once_or_waits_for_the_next_visit(
    pg_url: str, tmp_path: Path
) -> None:
    seeding = create_engine(pg_url)
    async with transaction(sessionmaker(seeding)) as session:
        await build_world(session, now())
    await seeding.dispose()
    (a, base_a), (b, base_b) = web_process("web-a", pg_url, tmp_path), web_process("web-b", pg_url, tmp_path)
    queuing = create_engine(pg_url)  # stands for any other process: a worker's, the scheduler's
    stop_notifying = notify_queued(queuing)
    page, other = Page.new(), Page.new()
    try:
        await asyncio.gather(a.start(), b.start())
        await asyncio.gather(until_healthy(page.http, base_a, a), until_healthy(page.http, base_b, b))
        await page.visit(base_a)
        await page.connect(base_a, fresh=True)
        await page.until("reply")  # the greeting: the page is open on A
        identity_id, external_id = await page.identity(pg_url, base_a)

        # 1. a staff command (a process of its own) queues a survey invitation: A pushes it at once
        command = Process("survey-send", tmp_path, base_env(pg_url, tmp_path),
                          "survey", "send", "LJ-2026-001", "--to", f"web:{external_id}")
        await command.start()
        assert await command.wait(60) == 0, command.output()
        queued = time.monotonic()
        [invitation] = await page.until("notice", 1, timeout=10)
        assert time.monotonic() - queued < NOTICE_WITHIN, "the notice came by polling, not by NOTIFY"
        assert invitation["n"].startswith("o")

        # 2. the same person has a page on B too: both processes hear each notice and race for it
        other.http.cookie_jar.update_cookies({"civicbot_session": page.cookie(base_a)})
        await other.connect(base_b)
        await asyncio.sleep(0.5)  # B's hello has been handled (nothing waits: no notice)
        for n in range(5):
            async with transaction(sessionmaker(queuing)) as session:
                await queue_notice(session, identity_id, "common.intent_thanks", f"race:{n}", now())
        queued = time.monotonic()
        deadline = queued + 10
        while len(page.of("notice")) + len(other.of("notice")) < 6 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        arrived = time.monotonic() - queued
        await asyncio.sleep(1.0)  # time for a second copy, if there were one
        shown = [f["n"] for f in page.of("notice")[1:] + other.of("notice")]
        assert len(shown) == 5 and len(set(shown)) == 5, shown  # each once, on one page or the other
        assert arrived < NOTICE_WITHIN
        assert set((await states(pg_url)).values()) == {"sent"}

        # 3. no page open: the notice waits, and the next visit (on either process) shows it
        await page.disconnect()
        await other.disconnect()
        async with transaction(sessionmaker(queuing)) as session:
            await queue_notice(session, identity_id, "common.intent_thanks", "later", now())
        await asyncio.sleep(1.0)
        [(waiting, state)] = [(i, s) for i, s in (await states(pg_url)).items() if s != "sent"]
        assert state == "pending"
        # a page that goes before confirming it: the row is given back, not marked sent
        hasty = Page(other.http, confirm=False)
        await hasty.connect(base_a)
        [pushed] = await hasty.until("notice")
        assert pushed["n"] == f"o{waiting}"
        await hasty.disconnect()
        await asyncio.sleep(0.5)
        assert (await states(pg_url))[waiting] == "pending"
        before = len(other.of("notice"))
        await other.connect(base_b)  # the next visit lands on the other process
        later = await other.until("notice", before + 1)
        assert later[-1]["n"] == f"o{waiting}"  # the same number: a page that had shown it shows it once
        await asyncio.sleep(0.5)
        assert set((await states(pg_url)).values()) == {"sent"}
        assert len(page.of("notice")) + len(other.of("notice")) == 7
    finally:
        await page.close()
        await other.close()
        stop_notifying()
        await queuing.dispose()
        codes = await asyncio.gather(a.stop(), b.stop())
    for process, code in zip((a, b), codes, strict=True):
        assert code == 0, process.output()[-5000:]
        assert "Traceback" not in process.output(), process.output()[-5000:]
