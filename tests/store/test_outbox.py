"""The outbox never loses or repeats a message: runs repeated and concurrent (two tasks; on PostgreSQL two
connections), a process killed between claim and send, the retry policy against a fake sender, quiet
hours, the single-evaluator lock, the CLI and the staff's /outbox view."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import App
from bot.cli import main
from bot.outbox import QuietHours, RetryPolicy
from bot.reminders import EVALUATOR, run_once
from bot.scheduler import JOB_ID, Ticker, start_scheduler, stop_scheduler
from bot.sending import PermanentError, RetryAfter, TransientError, Unreachable
from dialogs.context import DialogSettings
from dialogs.notices import queue_notice
from dialogs.registry import build_engine
from store import models as m
from store import outbox
from store.db import create_engine, sessionmaker, transaction
from store.leases import acquire_lease, advisory_key
from testing.chat import Person
from testing.reminder_world import ZONE, World, app_for, build_calendar_world, local, local_of, no_sleep
from testing.sender import FakeSender

# At 09:30 on 2026-10-13 the inspection's 7-day and the report's 3-day reminders fall due for both
# members, and both staff members are owed that working day's digest: six messages.
DUE = local(2026, 10, 13, 9, 30)
EXPECTED = 6


@pytest.fixture
def app(engine: AsyncEngine) -> App:
    return app_for(engine)


@pytest.fixture
async def world(app: App) -> World:
    return await build_calendar_world(app.sessions)


async def rows(app: App) -> list[m.OutboxMessage]:
    async with app.sessions() as s:
        return list((await s.execute(select(m.OutboxMessage).order_by(m.OutboxMessage.id))).scalars())


def shifting_sleep(traveller: time_machine.Traveller, waits: list[float]):  # type: ignore[no-untyped-def]
    """A sleep that moves the travelled clock instead of waiting."""

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        traveller.shift(timedelta(seconds=seconds))

    return sleep


def now() -> datetime:
    return datetime.now(UTC)


# --- restarts and concurrency --------------------------------------------------------------------

async def test_run_once_twice_queues_and_sends_each_message_once(app: App, world: World) -> None:
    sender = FakeSender()
    with time_machine.travel(DUE, tick=False) as traveller:
        first = await run_once(app, sender, now(), sleep=no_sleep)
        again = await run_once(app, sender, now(), sleep=no_sleep)
        traveller.shift(timedelta(hours=3))
        later = await run_once(app, sender, now(), sleep=no_sleep)
    assert (first.evaluation.queued, first.dispatch.sent) == (EXPECTED, EXPECTED)
    assert again.evaluation.queued == again.dispatch.sent == later.evaluation.queued == later.dispatch.sent == 0
    assert len({(d.external_id, d.text) for d in sender.delivered}) == len(sender.delivered) == EXPECTED


async def test_concurrent_runs_from_two_processes_send_each_message_once(app: App, world: World) -> None:
    # a second engine is a second process: its own connections (on PostgreSQL, its own sessions)
    other_engine = create_engine(app.settings.database_url)
    other = App(app.settings, other_engine, sessionmaker(other_engine))
    senders = [FakeSender(), FakeSender()]
    try:
        with time_machine.travel(DUE, tick=False):
            results = await asyncio.gather(
                run_once(app, senders[0], now(), sleep=no_sleep), run_once(other, senders[1], now(), sleep=no_sleep)
            )
    finally:
        await other_engine.dispose()
    delivered = [(d.external_id, d.text) for s in senders for d in s.delivered]
    assert len(delivered) == len(set(delivered)) == EXPECTED
    assert sum(r.evaluation.queued for r in results) == EXPECTED
    assert all(r.state == "sent" and r.attempts == 1 for r in await rows(app))


async def test_claims_are_atomic_and_skip_rows_another_process_is_claiming(app: App, world: World) -> None:
    async with transaction(app.sessions) as s:
        for n in range(6):
            await queue_notice(s, world.member_zh.id, "notify.publicized", f"x:{n}", DUE, code=f"C{n}", title="T")
    lease = DUE + timedelta(minutes=5)
    other_engine = create_engine(app.settings.database_url)
    try:
        async with app.sessions() as a:
            await a.begin()
            first = await outbox.claim(a, DUE, lease, {"test"}, 3, "a")
            if other_engine.dialect.name == "postgresql":
                # while the first claim is uncommitted, another process's claim neither waits nor takes its rows
                async with sessionmaker(other_engine)() as b, b.begin():
                    second = await asyncio.wait_for(outbox.claim(b, DUE, lease, {"test"}, 3, "b"), timeout=5)
                await a.commit()
            else:
                await a.commit()  # SQLite: the other claim waits for the write lock, then sees these as taken
                async with transaction(sessionmaker(other_engine)) as b:
                    second = await outbox.claim(b, DUE, lease, {"test"}, 3, "b")
        async with transaction(app.sessions) as s:
            third = await outbox.claim(s, DUE, lease, {"test"}, 10, "c")
    finally:
        await other_engine.dispose()
    first_ids, second_ids = {c.id for c in first}, {c.id for c in second}
    assert len(first_ids) == len(second_ids) == 3 and not first_ids & second_ids and third == []


async def test_another_evaluator_holding_the_lock_is_reported_and_the_queue_still_moves(
    app: App, world: World, engine: AsyncEngine,
) -> None:
    sender = FakeSender()
    with time_machine.travel(DUE, tick=False):
        async with transaction(app.sessions) as s:  # queued earlier by someone else
            await queue_notice(s, world.member_zh.id, "notify.publicized", "x:1", now(), code="C", title="T")
        if engine.dialect.name == "sqlite":
            async with transaction(app.sessions) as s:
                assert await acquire_lease(s, EVALUATOR, "other-process", now(), timedelta(minutes=5))
            busy = await run_once(app, sender, now(), sleep=no_sleep)
        else:
            async with engine.connect() as held:
                await held.execute(text(f"SELECT pg_try_advisory_xact_lock({advisory_key(EVALUATOR)})"))
                busy = await run_once(app, sender, now(), sleep=no_sleep)
                await held.rollback()
    assert not busy.evaluated and busy.evaluation.queued == 0
    assert busy.dispatch.sent == 1  # claims are atomic: dispatching needs no evaluator lock
    with time_machine.travel(DUE + timedelta(minutes=6), tick=False):  # the lease ran out / the lock is free
        free = await run_once(app, sender, now(), sleep=no_sleep)
    assert free.evaluated and free.evaluation.queued == EXPECTED


@pytest.mark.postgres
async def test_the_evaluation_alone_starts_no_parallel_workers(pg_url: str) -> None:
    """On PostgreSQL the rules' transaction runs with no parallel workers (``store.leases.evaluation_settings``);
    the setting ends with it."""
    engine = create_engine(pg_url)
    app = app_for(engine)
    await build_calendar_world(app.sessions)
    seen: list[str] = []
    setting = "SELECT current_setting('max_parallel_workers_per_gather')"

    def setting_when_queuing(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT INTO outbox"):
            show = conn.connection.cursor()  # a cursor of its own: the INSERT's still holds its row count
            try:
                show.execute(setting)
                seen.append(show.fetchone()[0])
            finally:
                show.close()

    event.listen(engine.sync_engine, "after_cursor_execute", setting_when_queuing)
    try:
        with time_machine.travel(DUE, tick=False):
            result = await run_once(app, None, now(), sleep=no_sleep)
        event.remove(engine.sync_engine, "after_cursor_execute", setting_when_queuing)
        async with app.sessions() as s:
            after = await s.scalar(text(setting))
    finally:
        await engine.dispose()
    assert result.evaluation.queued == EXPECTED
    assert seen and set(seen) == {"0"}
    assert after != "0"


async def test_a_crash_between_claim_and_send_sends_the_message_once_after_recovery(app: App, world: World) -> None:
    with time_machine.travel(DUE, tick=False):
        queued = await run_once(app, None, now())
        async with transaction(app.sessions) as s:  # claimed by a process on another host, which then died
            claimed = await outbox.claim(s, now(), now() + timedelta(seconds=30), {"test"}, 100, "elsewhere:1:x")
    assert queued.dispatch.pending == len(claimed) == EXPECTED
    sender = FakeSender()
    with time_machine.travel(DUE + timedelta(seconds=29), tick=False):
        early = await run_once(app, sender, now(), sleep=no_sleep)
    assert early.dispatch.sent == 0 and {r.state for r in await rows(app)} == {"sending"}  # maybe still in flight
    with time_machine.travel(DUE + timedelta(seconds=30), tick=False):  # its lease ran out: within a minute
        recovered = await run_once(app, sender, now(), sleep=no_sleep)
        await run_once(app, sender, now(), sleep=no_sleep)
    assert recovered.dispatch.recovered == EXPECTED and recovered.dispatch.sent == EXPECTED
    assert len(sender.delivered) == EXPECTED
    assert len({(d.external_id, d.text) for d in sender.delivered}) == EXPECTED
    assert all(r.state == "sent" for r in await rows(app))


async def test_a_slow_chat_does_not_hold_up_the_others(app: App, world: World) -> None:
    others_served = asyncio.Event()

    class SlowFirstChat(FakeSender):
        async def send(self, identity_channel: str, external_id: str, reply) -> None:  # type: ignore[no-untyped-def]
            if external_id == "m-zh":  # answers only once another chat has had its message
                await asyncio.wait_for(others_served.wait(), timeout=5)
            await super().send(identity_channel, external_id, reply)
            if external_id == "s-cl":
                others_served.set()

    sender = SlowFirstChat()
    with time_machine.travel(DUE, tick=False):
        result = await run_once(app, sender, now(), sleep=no_sleep)
    assert result.dispatch.sent == EXPECTED
    zh = [d.text for d in sender.to("m-zh")]
    assert len(zh) == 2 and "中期报告" in zh[0] and "中期检查" in zh[1]  # one chat's messages in queue order


# --- the retry policy ----------------------------------------------------------------------------

async def test_a_short_429_is_waited_out_and_nothing_is_attempted_before_it(app: App, world: World) -> None:
    sender = FakeSender()
    sender.fail("m-zh", RetryAfter(3))
    waits: list[float] = []
    with time_machine.travel(DUE, tick=False) as traveller:
        result = await run_once(app, sender, now(), sleep=shifting_sleep(traveller, waits), clock=now)
    assert waits == [3] and result.dispatch.sent == EXPECTED
    tries = [at for user, at in sender.attempts if user == "m-zh"]
    assert len(tries) == 3 and tries[1] - tries[0] >= timedelta(seconds=3)  # two reminders, one retried
    assert all(r.attempts == 1 for r in await rows(app))  # a rate limit is not a failed attempt


async def test_a_long_429_leaves_the_queue_for_after_retry_after(app: App, world: World) -> None:
    sender = FakeSender(clock=now)
    sender.fail("m-zh", RetryAfter(120))
    with time_machine.travel(DUE, tick=False) as traveller:
        first = await run_once(app, sender, now(), sleep=no_sleep, clock=now)
        tried = len(sender.attempts)
        traveller.shift(timedelta(seconds=90))
        second = await run_once(app, sender, now(), sleep=no_sleep, clock=now)
        assert len(sender.attempts) == tried  # nothing at all before retry_after has passed
        traveller.shift(timedelta(seconds=31))
        third = await run_once(app, sender, now(), sleep=no_sleep, clock=now)
    assert first.dispatch.failed == 1 and first.dispatch.pending == EXPECTED - first.dispatch.sent
    assert second.dispatch.sent == 0 and first.dispatch.sent + third.dispatch.sent == EXPECTED
    assert all(r.state == "sent" for r in await rows(app))


async def test_5xx_backs_off_exponentially_then_gives_up(app: App, world: World) -> None:
    async with transaction(app.sessions) as s:  # one reminder for the member, so its attempts are easy to follow
        await s.execute(m.Milestone.__table__.update().where(m.Milestone.id == world.report.id).values(done_at=DUE))
    sender = FakeSender(clock=now)
    sender.fail("m-en", *[TransientError("502 Bad Gateway")] * 5)
    policy = RetryPolicy(max_attempts=5, backoff_base=timedelta(seconds=30))
    tried_at = []
    with time_machine.travel(DUE, tick=False) as traveller:
        # runs just before and at each due retry: 30 s, then 60, 120, 240 s later
        for offset in (0, 29, 30, 89, 90, 209, 210, 449, 450, 2000):
            traveller.move_to(DUE + timedelta(seconds=offset))
            await run_once(app, sender, now(), sleep=no_sleep, clock=now, policy=policy)
            tried_at += [offset for user, at in sender.attempts if user == "m-en" and at == now()]
    assert tried_at == [0, 30, 90, 210, 450]
    [dead] = [r for r in await rows(app) if r.state == "dead"]
    assert dead.attempts == 5 and dead.last_error == "gave up after 5 attempts: 502 Bad Gateway"
    assert sender.to("m-en") == [] and len(sender.to("m-zh")) == 1


async def test_400_is_dead_with_the_reason_and_403_marks_the_recipient_unreachable(app: App, world: World) -> None:
    sender = FakeSender()
    sender.fail("m-zh", PermanentError("Bad Request: can't parse entities"))
    sender.fail("m-en", Unreachable("Forbidden: bot was blocked by the user"))
    with time_machine.travel(DUE, tick=False):
        result = await run_once(app, sender, now(), sleep=no_sleep)
    assert result.dispatch.dead == 3  # the 400, the 403, and the 403 recipient's second reminder
    reasons = {r.last_error for r in await rows(app) if r.state == "dead"}
    assert reasons == {"Bad Request: can't parse entities", "Forbidden: bot was blocked by the user",
                       "recipient unreachable (blocked the bot or left the channel)"}
    async with app.sessions() as s:
        assert (await s.get(m.Identity, world.member_en.id)).unreachable  # type: ignore[union-attr]
    with time_machine.travel(local(2026, 10, 16, 9, 5), tick=False):  # the report's due day
        later = await run_once(app, sender, now(), sleep=no_sleep)
    assert later.evaluation.reminders == 1  # only the reachable member
    assert len(sender.to("m-en")) == 0


async def test_quiet_hours_defer_to_their_end_instead_of_dropping(app: App, world: World) -> None:
    sender = FakeSender()
    evening = local(2026, 11, 2, 22, 15)
    async with transaction(app.sessions) as s:
        await queue_notice(s, world.member_zh.id, "notify.publicized", "x:quiet", evening, code="C", title="T")
    with time_machine.travel(evening, tick=False) as traveller:
        first = await run_once(app, sender, now(), sleep=no_sleep)  # the notice and that day's two digests
        [row] = [r for r in await rows(app) if r.dedup_key == "x:quiet"]
        traveller.move_to(local(2026, 11, 3, 7, 59))
        second = await run_once(app, sender, now(), sleep=no_sleep)
        traveller.move_to(local(2026, 11, 3, 8, 0))
        third = await run_once(app, sender, now(), sleep=no_sleep)
    assert first.dispatch.deferred == 3 and local_of(row.next_attempt_at) == local(2026, 11, 3, 8).astimezone(ZONE)
    assert (first.dispatch.sent, second.dispatch.sent, third.dispatch.sent) == (0, 0, 3)
    assert [local_of(d.at).hour for d in sender.to("m-zh")] == [8]


def test_quiet_hours_window_spans_midnight() -> None:
    quiet = QuietHours(*(datetime.strptime(t, "%H:%M").time() for t in ("21:00", "08:00")), zone=ZONE)
    assert quiet.contains(local(2026, 1, 1, 21)) and quiet.contains(local(2026, 1, 1, 3))
    assert not quiet.contains(local(2026, 1, 1, 8)) and not quiet.contains(local(2026, 1, 1, 20, 59))
    assert quiet.end_after(local(2026, 1, 1, 23)) == local(2026, 1, 2, 8)
    assert quiet.end_after(local(2026, 1, 2, 3)) == local(2026, 1, 2, 8)


# --- the scheduler -------------------------------------------------------------------------------

async def test_the_scheduler_only_ticks_the_rules(app: App, world: World) -> None:
    ticker = Ticker(app, clock=lambda: DUE)
    evaluation = await ticker.tick()
    assert evaluation is not None and evaluation.queued == EXPECTED
    async with app.sessions() as s:
        assert await outbox.counts(s) == {"pending": EXPECTED}  # sent by the dispatch loop, not here
    scheduler = start_scheduler(ticker, interval=60, first=DUE + timedelta(hours=1))
    try:
        [job] = scheduler.get_jobs()
        assert job.id == JOB_ID and job.trigger.interval == timedelta(seconds=60) and job.max_instances == 1
        assert asyncio.iscoroutinefunction(job.func)  # awaited on the loop, not run in a thread
    finally:
        await stop_scheduler(scheduler, ticker)


# --- the staff's view and the CLI ----------------------------------------------------------------

async def test_staff_see_the_queue_of_their_departments_people(app: App, world: World) -> None:
    sender = FakeSender()
    sender.fail("m-zh", Unreachable("Forbidden: bot was blocked by the user"))
    with time_machine.travel(DUE, tick=False):
        await run_once(app, sender, now(), sleep=no_sleep)
    async with transaction(app.sessions) as s:
        await queue_notice(s, world.other_staff.id, "notify.publicized", "x:cl", DUE, code="C", title="T")
    bot = build_engine(app.sessions, DialogSettings(zone=ZONE), clock=lambda: DUE)
    mz = Person(bot, "s-mz")
    await mz.say("/outbox")
    assert "临江市民政局" in mz.text and "无法送达 2" in mz.text and "bot was blocked" in mz.text
    assert "待发送 0" in mz.text  # the other department's waiting message is not theirs to see
    await mz.press("只看失败的")
    assert "机构成员" in mz.text and "bot was blocked" in mz.text
    cl = Person(bot, "s-cl", locale="en")
    await cl.say("/outbox")
    assert "1 waiting" in cl.text and "bot was blocked" not in cl.text
    member = Person(bot, "m-en", locale="en")
    await member.say("/outbox")
    assert "not allowed" in member.text


@pytest.fixture
def cli_db(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in {"DATABASE_URL": sqlite_url, "TIMEZONE": "Asia/Shanghai", "SEND_HOUR": "09:00",
                        "QUIET_HOURS": "21:00-08:00", "REMINDER_DAYS": "14,7,3,1,0"}.items():
        monkeypatch.setenv(f"CIVICBOT_{name}", value)
    for name in ("TELEGRAM_TOKEN", "ADMINS", "HOLIDAYS_FILE"):
        monkeypatch.delenv(f"CIVICBOT_{name}", raising=False)

    async def seed() -> None:
        engine = create_engine(sqlite_url)
        await build_calendar_world(sessionmaker(engine))
        await engine.dispose()

    asyncio.run(seed())
    return sqlite_url


def test_cli_run_once_reads_now_in_the_local_zone_and_reports_pending_without_a_channel(cli_db, capsys) -> None:  # type: ignore[no-untyped-def]
    # 08:59 local is before the send hour (08:59 UTC would be 16:59 local, after it)
    assert main(["reminders", "run-once", "--now", "2026-10-13T08:59", "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert set(before) >= {"queued", "sent", "deferred", "failed", "dead", "pending"} and before["queued"] == 0
    assert main(["reminders", "run-once", "--now", "2026-10-13T09:30+08:00", "--json"]) == 0
    out = capsys.readouterr()
    counts = json.loads(out.out)
    assert {k: counts[k] for k in ("queued", "sent", "deferred", "failed", "dead", "pending")} == {
        "queued": EXPECTED, "sent": 0, "deferred": 0, "failed": 0, "dead": 0, "pending": EXPECTED}
    assert "no channel is configured" in out.err
    assert main(["reminders", "run-once", "--now", "2026-10-13T22:00"]) == 0
    assert "deferred 6" in capsys.readouterr().out
    assert main(["outbox", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["counts"]["pending"] == EXPECTED and len(listing["messages"]) == EXPECTED
    assert {r["kind"] for r in listing["messages"]} == {"reminder", "digest"}
    assert all(r["next_attempt_at"].startswith("2026-10-14T08:00") for r in listing["messages"])
    assert main(["outbox", "--state", "dead"]) == 0
    assert capsys.readouterr().out.startswith("pending 6")


def test_cli_run_once_says_when_another_process_holds_the_lock(cli_db, capsys) -> None:  # type: ignore[no-untyped-def]
    async def hold() -> None:
        engine = create_engine(cli_db)
        async with transaction(sessionmaker(engine)) as s:
            await acquire_lease(s, EVALUATOR, "elsewhere", local(2026, 10, 13, 9, 29), timedelta(minutes=5))
        await engine.dispose()

    asyncio.run(hold())
    assert main(["reminders", "run-once", "--now", "2026-10-13T09:30", "--json"]) == 0
    out = capsys.readouterr()
    assert "another process holds the evaluator lock" in out.err and json.loads(out.out)["queued"] == 0


async def test_outbox_counts_and_listing_by_state(app: App, world: World) -> None:
    with time_machine.travel(DUE, tick=False):
        await run_once(app, None, now())
    async with app.sessions() as s:
        assert await outbox.counts(s) == {"pending": EXPECTED}
        listed, total = await outbox.list_messages(s, ["pending"], department_id=world.dept.id, limit=2)
        assert total == 5 and len(listed) == 2  # four reminders to its organization, its staff's digest
        assert await s.scalar(select(func.count()).select_from(m.OutboxMessage)) == EXPECTED
