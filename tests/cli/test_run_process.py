"""``civicbot run`` as a real process against the Telegram fake, killed (SIGKILL) or stopped (SIGTERM) in
the middle of dispatching the outbox: nothing is lost, a message in flight reaches its chat at most twice,
the dead process's claims are taken back at the restart, and a stop exits cleanly with nothing left in
``sending``. Every wait is bounded."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.outbox import RetryPolicy
from dialogs.notices import queue_notice
from store import models as m
from store.conversations import ensure_identity
from store.db import create_engine, sessionmaker, transaction
from testing.telegram_api import DEFAULT_TOKEN, FakeTelegram

CHATS = 120
FIRST_CHAT = 910_000


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        fake.faults.latency_by_method["sendMessage"] = 0.3  # as slow as in the field report
        yield fake


async def queue_notices(url: str) -> None:
    db = create_engine(url)
    at = datetime.now(UTC)
    async with transaction(sessionmaker(db)) as s:
        for n in range(CHATS):
            person = await ensure_identity(s, "telegram", str(FIRST_CHAT + n), at)
            await queue_notice(s, person.id, "notify.publicized", f"crash:{n}", at, code=f"C{n}", title=f"T{n}")
    await db.dispose()


async def outbox_states(url: str) -> dict[str, int]:
    db = create_engine(url)
    async with sessionmaker(db)() as s:
        found = {state: n for state, n in (await s.execute(
            select(m.OutboxMessage.state, func.count()).group_by(m.OutboxMessage.state))).all()}
    await db.dispose()
    return found


class Service:
    """One ``civicbot run`` process; its log goes to a file."""

    def __init__(self, url: str, tg: FakeTelegram, tmp_path: Path, name: str, *args: str) -> None:
        self.args = args
        self.env = {
            **os.environ, "CIVICBOT_DATABASE_URL": url, "CIVICBOT_TELEGRAM_TOKEN": DEFAULT_TOKEN,
            "CIVICBOT_TELEGRAM_API_URL": tg.base_url, "CIVICBOT_QUIET_HOURS": "", "CIVICBOT_MEDIA_DIR": str(tmp_path),
            "CIVICBOT_TELEGRAM_WEBHOOK_URL": "",
        }
        self.log = tmp_path / f"{name}.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("wb") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", *self.args, env=self.env, stdout=out, stderr=out,
            )

    async def signal(self, sig: int, timeout: float = 20.0) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return await asyncio.wait_for(self.process.wait(), timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


async def until(condition, timeout: float, what: str, service: Service) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; the service said:\n{service.output()}")
        await asyncio.sleep(0.05)


def received(tg: FakeTelegram) -> Counter[int]:
    return Counter(s.chat_id for s in tg.sent if s.chat_id >= FIRST_CHAT)


def mid_dispatch(tg: FakeTelegram) -> bool:
    """Some messages delivered, and sends in flight (asked for, not yet answered)."""
    delivered = len(received(tg))
    asked = sum(1 for chat in tg.stats.attempts if chat >= FIRST_CHAT)
    return delivered >= 20 and asked > delivered


async def test_a_killed_dispatcher_loses_nothing_and_repeats_at_most_the_messages_in_flight(
    sqlite_url: str, tg: FakeTelegram, tmp_path: Path
) -> None:
    await queue_notices(sqlite_url)
    first = Service(sqlite_url, tg, tmp_path, "first")
    await first.start()
    try:
        await until(lambda: mid_dispatch(tg), 60, "sends in flight", first)
        await first.signal(signal.SIGKILL)
    finally:
        if first.process is not None and first.process.returncode is None:
            first.process.kill()
    before = received(tg)
    assert 0 < sum(before.values()) < CHATS  # killed in the middle of dispatching
    assert (await outbox_states(sqlite_url)).get("sending", 0) > 0  # claims the dead process held

    second = Service(sqlite_url, tg, tmp_path, "second")
    await second.start()
    try:
        await until(lambda: len(received(tg)) == CHATS, 60, "every chat's message after the restart", second)
        assert await second.signal(signal.SIGTERM) == 0
    finally:
        if second.process is not None and second.process.returncode is None:
            second.process.kill()
    after = received(tg)
    repeats = sum(n - 1 for n in after.values())
    assert set(after) == {FIRST_CHAT + n for n in range(CHATS)}  # none lost
    assert max(after.values()) <= 2 and repeats <= RetryPolicy().concurrency  # only those in flight, once
    # the dead process's claims were taken back by the restarted one's first pass, not after a lease
    first_pass = re.search(r"outbox: DispatchCounts\(.*recovered=(\d+)", second.output())
    assert first_pass is not None and int(first_pass.group(1)) > 0
    assert await outbox_states(sqlite_url) == {"sent": CHATS}


async def test_sigterm_during_dispatch_gives_back_the_claims_and_exits_cleanly(
    sqlite_url: str, tg: FakeTelegram, tmp_path: Path
) -> None:
    await queue_notices(sqlite_url)
    service = Service(sqlite_url, tg, tmp_path, "service")
    await service.start()
    try:
        await until(lambda: mid_dispatch(tg), 60, "sends in flight", service)
        code = await service.signal(signal.SIGTERM)
    finally:
        if service.process is not None and service.process.returncode is None:
            service.process.kill()
    log = service.output()
    assert code == 0, log
    assert "Traceback" not in log and "CancelledError" not in log and "raised an exception" not in log, log
    states = await outbox_states(sqlite_url)
    delivered = received(tg)
    assert "sending" not in states and states.get("pending", 0) > 0
    assert states["sent"] + states["pending"] == CHATS
    assert sum(delivered.values()) == states["sent"] and max(delivered.values()) == 1  # exactly what it says
