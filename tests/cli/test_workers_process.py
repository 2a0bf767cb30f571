"""Two ``civicbot run --role worker`` processes on one PostgreSQL outbox, one of them killed (SIGKILL) and
restarted in the middle: no message is lost, and a message reaches its chat at most once more per crash
(only the sends of the dead process's batch not yet recorded can be repeated; counted and printed)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from bot.outbox import RetryPolicy
from dialogs.notices import queue_notice
from store import models as m
from store.db import create_engine, sessionmaker, transaction
from testing.telegram_api import FakeTelegram
from tests.cli.test_run_process import Service, outbox_states, until

MESSAGES = 3_000
FIRST_CHAT = 950_000


async def queue_many(url: str) -> None:
    db = create_engine(url)
    at = datetime.now(UTC)
    async with transaction(sessionmaker(db)) as s:
        await s.execute(insert(m.Identity), [
            {"channel": "telegram", "external_id": str(FIRST_CHAT + n), "role": "resident", "created_at": at}
            for n in range(MESSAGES)])
        people = (await s.execute(select(m.Identity.id, m.Identity.external_id)
                                  .where(m.Identity.channel == "telegram"))).all()
        for person_id, chat in people:
            await queue_notice(s, person_id, "notify.publicized", f"crash:{chat}", at, code=f"C{chat}", title="T")
    await db.dispose()


def received(tg: FakeTelegram) -> Counter[int]:
    return Counter(s.chat_id for s in tg.sent if s.chat_id >= FIRST_CHAT)


def worker(url: str, tg: FakeTelegram, tmp_path: Path, name: str) -> Service:
    service = Service(url, tg, tmp_path, name, "--role", "worker")
    service.env["CIVICBOT_TELEGRAM_MESSAGES_PER_SECOND"] = "1000"  # the fake enforces no limit here
    return service


@pytest.mark.postgres
async def test_3000_messages_two_workers_one_killed_and_restarted_none_lost(pg_url: str, tmp_path: Path) -> None:
    started = time.monotonic()
    await queue_many(pg_url)
    crashes = 1
    async with FakeTelegram() as tg:
        a, b = worker(pg_url, tg, tmp_path, "a"), worker(pg_url, tg, tmp_path, "b")
        services = [a, b]
        try:
            await a.start()
            await b.start()
            await until(lambda: sum(received(tg).values()) >= MESSAGES // 3, 120, "a third sent", a)
            await a.signal(signal.SIGKILL)
            at_crash = sum(received(tg).values())
            assert at_crash < MESSAGES, "everything was sent before the crash: nothing was proved"
            restarted = worker(pg_url, tg, tmp_path, "a-again")
            services.append(restarted)
            await restarted.start()
            await until(lambda: len(received(tg)) == MESSAGES, 120, "every chat's message", b)
            # and recorded: a send answered a moment ago is marked sent just after (a stop before that
            # would give it back, and it would go again)
            recorded = time.monotonic() + 30
            while await outbox_states(pg_url) != {"sent": MESSAGES} and time.monotonic() < recorded:
                await asyncio.sleep(0.2)
            for service in (b, restarted):
                assert await service.signal(signal.SIGTERM) == 0, service.output()
        finally:
            for service in services:
                if service.process is not None and service.process.returncode is None:
                    service.process.kill()
        after = received(tg)
    duplicates = sum(n - 1 for n in after.values())
    print(f"\n{MESSAGES} messages, {crashes} crash (SIGKILL at {at_crash} sent): {duplicates} duplicates, "
          f"{time.monotonic() - started:.1f} s")
    assert set(after) == {FIRST_CHAT + n for n in range(MESSAGES)}  # none lost
    assert max(after.values()) <= 1 + crashes  # a message repeated at most once per crash
    # only what the dead process had sent and not yet recorded: its batch (a send's record is written after
    # the send, outside the limit on sends at once, so on a busy machine a whole batch can be sent, unrecorded)
    assert duplicates <= crashes * RetryPolicy().batch
    assert await outbox_states(pg_url) == {"sent": MESSAGES}
