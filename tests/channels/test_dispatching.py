"""The outbox after a stop or a crash, and dispatching as soon as something is queued: claims with a
renewed lease, dead claimers' rows recovered at once, a stop that gives back what it has not sent, a
long 429 that holds back only its chat, and the dispatch loop woken by commits (virtual time)."""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import App, open_app
from bot.channels.telegram import serve
from bot.cli import main
from bot.config import Settings
from bot.dispatching import CommitWakeup, DispatchLoop
from bot.outbox import HOST, Dispatcher, RetryPolicy
from bot.reminders import dispatcher
from bot.sending import RetryAfter
from dialogs.notices import queue_notice
from store import models as m
from store import outbox
from store.conversations import ensure_identity
from store.db import create_engine, sessionmaker, transaction
from testing.factories import bind_identity, build_world
from testing.reminder_world import ZONE, World, app_for, build_calendar_world, local, no_sleep
from testing.sender import FakeSender
from testing.telegram_api import DEFAULT_TOKEN, FakeTelegram
from tests.channels.test_telegram import Person, Rig

AT = local(2026, 10, 12, 10, 0)  # a Monday morning: no reminder moment, outside quiet hours


@pytest.fixture
def app(engine: AsyncEngine) -> App:
    return app_for(engine)


@pytest.fixture
async def world(app: App) -> World:
    return await build_calendar_world(app.sessions)


def now() -> datetime:
    return datetime.now(UTC)


async def queue_to_people(app: App, people: int, *, per_person: int = 1, at: datetime = AT) -> list[str]:
    """``people`` residents of the ``test`` channel, each queued ``per_person`` notices; their external ids."""
    ids = [f"r{n:03d}" for n in range(people)]
    async with transaction(app.sessions) as s:
        for external_id in ids:
            person = await ensure_identity(s, "test", external_id, at)
            for k in range(per_person):
                await queue_notice(s, person.id, "notify.publicized", f"t:{external_id}:{k}", at,
                                   code=f"C{k}", title=external_id)
    return ids


async def states(app: App) -> dict[str, int]:
    async with app.sessions() as s:
        return await outbox.counts(s)


async def sending_rows(app: App) -> list[m.OutboxMessage]:
    async with app.sessions() as s:
        return list((await s.execute(select(m.OutboxMessage).where(m.OutboxMessage.state == "sending"))).scalars())


class VirtualWakeup:
    """The loop's wake-up on the travelled clock: waiting moves the clock by the timeout (unless woken)."""

    def __init__(self, traveller: time_machine.Traveller, done) -> None:  # type: ignore[no-untyped-def]
        self.traveller = traveller
        self.done = done
        self.loop: DispatchLoop | None = None
        self.waits: list[float] = []
        self.woken = False

    def wake(self) -> None:
        self.woken = True

    async def wait(self, timeout: float) -> None:
        self.waits.append(timeout)
        if self.woken:
            self.woken = False
        else:
            self.traveller.shift(timedelta(seconds=timeout))
        if self.done() or len(self.waits) > 50:
            assert self.loop is not None
            self.loop.halt()
        await asyncio.sleep(0)

    def close(self) -> None:
        pass


# --- 429s ------------------------------------------------------------------------------------------

async def test_a_long_429_holds_back_its_chat_only_and_the_loop_wakes_when_it_ends(app: App, world: World) -> None:
    people = await queue_to_people(app, 100, per_person=1)
    limited = people[::5]  # 20 % of the sends answered 429 retry_after=10
    async with transaction(app.sessions) as s:  # the first limited chat has a second message, queued after
        person = await ensure_identity(s, "test", limited[0], AT)
        await queue_notice(s, person.id, "notify.publicized", "t:second", AT, code="C9", title="second")
    sender = FakeSender(clock=now)
    for external_id in limited:
        sender.fail(external_id, RetryAfter(10))
    with time_machine.travel(AT, tick=False) as traveller:
        wakeup = VirtualWakeup(traveller, lambda: len(sender.delivered) == 101)
        loop = DispatchLoop(dispatcher(app, sender, sleep=no_sleep, clock=now), wakeup, clock=now)
        wakeup.loop = loop
        await loop.run()
    assert len(sender.delivered) == len({(d.external_id, d.text) for d in sender.delivered}) == 101
    first_pass = [d for d in sender.delivered if d.at == AT]
    assert len(first_pass) == 80  # the other chats were not held up
    for external_id in limited:
        [limited_at] = [at for who, at in sender.attempts if who == external_id][:1]
        delivered = sender.to(external_id)
        assert delivered[0].at == limited_at + timedelta(seconds=10)  # never early, never idling past it
    assert [d.text.count("second") for d in sender.to(limited[0])] == [0, 1]  # the chat's order kept
    assert wakeup.waits[0] == 10  # the loop slept exactly until the limit ended
    assert await states(app) == {"sent": 101}


async def test_run_once_leaves_a_long_429_for_the_next_run_but_sends_the_other_chats(app: App, world: World) -> None:
    people = await queue_to_people(app, 10)
    sender = FakeSender(clock=now)
    sender.fail(people[0], RetryAfter(120))
    with time_machine.travel(AT, tick=False):
        counts = await dispatcher(app, sender, sleep=no_sleep, clock=now).dispatch(now())
    assert (counts.sent, counts.failed, counts.pending) == (9, 1, 1)


# --- stops and crashes -----------------------------------------------------------------------------

class HangingSender(FakeSender):
    """Answers the first ``answered`` sends, then hangs (a Bot API that stopped answering mid-dispatch)."""

    def __init__(self, answered: int) -> None:
        super().__init__(clock=now)
        self.answered = answered
        self.hanging = asyncio.Event()

    async def send(self, identity_channel: str, external_id: str, reply) -> None:  # type: ignore[no-untyped-def]
        if len(self.delivered) >= self.answered:
            self.hanging.set()
            await asyncio.Event().wait()
        await super().send(identity_channel, external_id, reply)


async def test_a_stop_during_dispatch_gives_back_what_was_not_sent(
    app: App, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    with time_machine.travel(AT, tick=True):  # a daytime clock: quiet hours would hold the sends back
        await queue_to_people(app, 30)
        sender = HangingSender(answered=5)
        loop = DispatchLoop(dispatcher(app, sender), CommitWakeup(app.db))
        with caplog.at_level(logging.INFO):
            loop.start()
            await asyncio.wait_for(sender.hanging.wait(), 5)
            await loop.stop(grace=0.2)
    assert await states(app) == {"sent": 5, "pending": 25}  # the sends cut short too: never lost
    async with app.sessions() as s:
        pending = list((await s.execute(select(m.OutboxMessage).where(m.OutboxMessage.state == "pending"))).scalars())
    assert all(r.attempts == 0 and r.claimed_by is None for r in pending)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "CancelledError" not in caplog.text and "Traceback" not in caplog.text


async def test_claims_of_a_dead_process_on_this_host_are_recovered_at_once(app: App, world: World) -> None:
    await queue_to_people(app, 4)
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    dead = f"{HOST}:{finished.stdout.strip()}:0dead000"
    with time_machine.travel(AT, tick=False):
        async with transaction(app.sessions) as s:
            claimed = await outbox.claim(s, now(), now() + timedelta(seconds=30), {"test"}, 2, dead)
            # a claim in this process's name by no dispatcher at work here: a former process with our pid
            await outbox.claim(s, now(), now() + timedelta(seconds=30), {"test"}, 1, dispatcher(app, None).claimer)
        sender = FakeSender(clock=now)
        counts = await dispatcher(app, sender, sleep=no_sleep, clock=now).dispatch(now())
    assert len(claimed) == 2 and counts.recovered == 3 and counts.sent == 4
    assert len(sender.delivered) == 4 and await states(app) == {"sent": 4}


async def test_a_working_dispatcher_renews_its_lease_and_keeps_its_claims(app: App, world: World) -> None:
    await queue_to_people(app, 3)
    release = asyncio.Event()

    class SlowSender(FakeSender):
        async def send(self, identity_channel: str, external_id: str, reply) -> None:  # type: ignore[no-untyped-def]
            await release.wait()
            await super().send(identity_channel, external_id, reply)

    short = RetryPolicy(lease=timedelta(seconds=1.2))
    slow = Dispatcher(app.sessions, SlowSender(), zone=ZONE, default_locale="zh-Hans", policy=short)
    working = asyncio.create_task(slow.dispatch(now()))
    await asyncio.sleep(0.1)
    [first] = (await sending_rows(app))[:1]
    await asyncio.sleep(1.5)  # longer than the lease: renewed meanwhile
    [renewed] = [r for r in await sending_rows(app) if r.id == first.id]
    assert renewed.claimed_by == slow.claimer and renewed.lease_until > first.lease_until > now() - timedelta(seconds=1)
    assert renewed.lease_until > now()
    other = FakeSender()
    counts = await Dispatcher(app.sessions, other, zone=ZONE, default_locale="zh-Hans").dispatch(now())
    assert counts.recovered == 0 and other.delivered == []  # the claims are alive: nothing taken over
    release.set()
    assert (await asyncio.wait_for(working, 5)).sent == 3


async def test_outbox_command_says_who_claimed_a_sending_row_since_when_and_until_when(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CIVICBOT_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("CIVICBOT_TIMEZONE", "Asia/Shanghai")
    db = create_engine(sqlite_url)
    sessions = sessionmaker(db)
    claimed_at = now() - timedelta(minutes=2)
    async with transaction(sessions) as s:
        for n, who in enumerate(("r1", "r2")):
            person = await ensure_identity(s, "test", who, claimed_at)
            await queue_notice(s, person.id, "notify.publicized", f"x:{n}", claimed_at, code="C", title="T")
        await outbox.claim(s, claimed_at, claimed_at + timedelta(seconds=30), {"test"}, 1, "web-2:4242:1a2b3c4d")
        await outbox.claim(s, claimed_at, now() + timedelta(seconds=20), {"test"}, 1, "web-1:77:99aa88bb")
    await db.dispose()
    assert await asyncio.to_thread(main, ["outbox", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    rows = {r["claimed_by"]: r for r in listing["messages"]}
    gone, alive = rows["web-2:4242:1a2b3c4d"], rows["web-1:77:99aa88bb"]
    assert gone["state"] == "sending" and gone["claimed_at"] == claimed_at.astimezone(ZONE).isoformat()
    assert "ran out" in gone["reason"] and "ran out" not in alive["reason"]
    assert alive["lease_until"] > alive["claimed_at"]
    assert await asyncio.to_thread(main, ["outbox", "--state", "sending"]) == 0
    text = capsys.readouterr().out
    assert "being sent by web-2:4242:1a2b3c4d since" in text and "lease until" in text


# --- waking up -----------------------------------------------------------------------------------

async def test_a_commit_that_queued_messages_wakes_the_loop_and_others_do_not(app: App, world: World) -> None:
    calls: list[int] = []
    unwatch = outbox.watch_queued(app.db, lambda: calls.append(len(calls)))
    wakeup = CommitWakeup(app.db)
    try:
        async with transaction(app.sessions) as s:  # a write that queues nothing
            await ensure_identity(s, "test", "quiet", AT)
        with pytest.raises(RuntimeError):
            async with transaction(app.sessions) as s:  # queued, then rolled back
                person = await ensure_identity(s, "test", "quiet", AT)
                await queue_notice(s, person.id, "notify.publicized", "x:rolled-back", AT, code="C", title="T")
                raise RuntimeError
        assert calls == []
        await queue_to_people(app, 1)
        assert calls == [0]
        await asyncio.wait_for(wakeup.wait(60), 1)  # woken: returns at once
    finally:
        unwatch()
        wakeup.close()
    await queue_to_people(app, 1)
    assert calls == [0]  # no longer watched


async def test_woken_in_quiet_hours_the_loop_defers_instead_of_sending(app: App, world: World) -> None:
    evening = local(2026, 10, 12, 22, 0)
    sender = FakeSender(clock=now)
    with time_machine.travel(evening, tick=False) as traveller:
        await queue_to_people(app, 2, at=evening)
        wakeup = VirtualWakeup(traveller, lambda: len(sender.delivered) == 2)
        loop = DispatchLoop(dispatcher(app, sender, sleep=no_sleep, clock=now), wakeup, clock=now, fallback=86_400)
        wakeup.loop = loop
        await loop.run()
    assert {d.at for d in sender.delivered} == {local(2026, 10, 13, 8, 0)}  # at the end of the quiet hours
    assert wakeup.waits[0] == 10 * 3600  # deferred, and slept until then


async def test_a_complaints_notice_reaches_the_staff_within_two_seconds_of_the_turn(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Residents complain one after another through Telegram; each complaint's turn queues the notice to the
    department's staff. From the turn's commit to the staff's chat: p95 ≤ 2 s (the tick is a minute)."""
    db = create_engine(sqlite_url)
    sessions = sessionmaker(db)
    staff_chat = 880_001
    async with transaction(sessions) as s:
        world = await build_world(s)
        await bind_identity(s, "telegram", str(staff_chat), "staff", world.dept.id)
    commits: list[float] = []
    unwatch = outbox.watch_queued(db, lambda: commits.append(time.monotonic()))
    async with FakeTelegram() as tg:
        rig = Rig(tg, sessions, tmp_path / "media")
        channel = await rig.start()
        loop = DispatchLoop(Dispatcher(sessions, channel.sender(), zone=ZONE, default_locale="zh-Hans"),
                            CommitWakeup(db))
        loop.start()
        delays = []
        try:
            for n in range(20):
                person = Person(rig, tg.user(890_000 + n))
                await person.say("/complain")
                await person.say("LJ-2026-001")
                await person.press("服务质量差")
                await person.say(f"第{n}次：约好的上门探访没有来。")
                await person.press("跳过")
                await person.press("跳过")
                await person.press("提交")
                [notice] = (await tg.wait_for_messages(staff_chat, n + 1, timeout=10))[n:]
                assert "LJ-2026-001" in (notice.plain_text or "")
                delays.append(notice.at - commits[-1])
        finally:
            await loop.stop()
            await rig.stop()
            unwatch()
    await db.dispose()
    assert len(delays) == 20 and statistics.quantiles(delays, n=20)[-1] <= 2.0, delays


async def test_run_sends_what_is_queued_while_it_runs_without_waiting_for_the_tick(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with FakeTelegram() as tg:
        settings = Settings(database_url=sqlite_url, telegram_token=DEFAULT_TOKEN, telegram_api_url=tg.base_url,
                            media_dir=tmp_path, quiet_hours="")
        app = await open_app(settings)
        chat = 870_001
        try:
            async with transaction(app.sessions) as s:
                person = await ensure_identity(s, "telegram", str(chat), datetime.now(UTC))
                await queue_notice(s, person.id, "common.welcome", "before", datetime.now(UTC))
            stop = asyncio.Event()
            service = asyncio.create_task(serve(app, settings, stop))
            await tg.wait_for_messages(chat, 1, timeout=10)  # the dispatch loop's first pass
            async with transaction(app.sessions) as s:  # e.g. a command run in this process
                await queue_notice(s, person.id, "common.welcome", "while", datetime.now(UTC))
            queued = time.monotonic()
            [_, second] = await tg.wait_for_messages(chat, 2, timeout=2)  # the next tick is a minute away
            stop.set()
            await asyncio.wait_for(service, 10)
        finally:
            await app.close()
    assert second.at - queued < 2


async def test_what_another_channel_must_send_does_not_keep_the_loop_busy(app: App, world: World) -> None:
    async with transaction(app.sessions) as s:
        person = await ensure_identity(s, "web", "visitor", AT)
        await queue_notice(s, person.id, "notify.publicized", "x:web", AT, code="C", title="T")
    sender = FakeSender(clock=now)
    with time_machine.travel(AT, tick=False) as traveller:
        wakeup = VirtualWakeup(traveller, lambda: len(wakeup.waits) == 2)
        loop = DispatchLoop(dispatcher(app, sender, sleep=no_sleep, clock=now), wakeup, clock=now)
        wakeup.loop = loop
        await loop.run()
    assert wakeup.waits == [60, 60] and sender.attempts == []  # the fallback tick, not a busy loop
