"""Reminder rules across a project's whole calendar, with the clock moved by time-machine and ``now`` passed
down: the expected reminders on the expected days, quiet hours, done milestones, catch-up, staff alerts,
digests on (Chinese) working days only, and status-change notices in each member's language."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import chinese_calendar
import pytest
import time_machine
from sqlalchemy import event, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import App
from bot.reminders import rule_settings, run_once
from dialogs import notify
from dialogs.context import DialogSettings
from dialogs.registry import build_engine
from dialogs.reminders import RuleSettings, window_start
from dialogs.types import Incoming
from store import models as m
from store.db import sessionmaker
from store.reminders import Schedule, digest_scopes, member_reminder_source, milestones_due_in
from store.workdays import HolidayFileError, WorkCalendar, parse_holidays
from testing.chat import Person
from testing.factories import NOW, bind_identity, build_world
from testing.reminder_world import (
    ZONE,
    World,
    app_for,
    build_calendar_world,
    local,
    local_of,
    no_sleep,
    settings,
)
from testing.sender import FakeSender


@pytest.fixture
def app(engine: AsyncEngine) -> App:
    return app_for(engine)


@pytest.fixture
async def world(app: App) -> World:
    return await build_calendar_world(app.sessions)


# --- the pure timing -----------------------------------------------------------------------------

def test_moments_of_a_milestone_are_the_send_hour_before_on_and_after_the_due_day() -> None:
    schedule = Schedule(ZONE, time(9))
    moments = schedule.moments(date(2026, 10, 20))
    assert [(mo.rule, mo.day.isoformat()) for mo in moments] == [
        ("d14", "2026-10-06"), ("d7", "2026-10-13"), ("d3", "2026-10-17"), ("d1", "2026-10-19"), ("d0", "2026-10-20"),
        ("o1", "2026-10-23"), ("o2", "2026-10-26"), ("o3", "2026-10-29"), ("o4", "2026-11-01"), ("o5", "2026-11-04"),
    ]
    # the send moment counts from the send hour on: 08:59 is the day before's window, 09:00 today's
    assert schedule.send_days(local(2026, 10, 13, 8, 0), local(2026, 10, 13, 8, 59)) is None
    assert schedule.send_days(local(2026, 10, 13, 8, 0), local(2026, 10, 13, 9, 0)) == (date(2026, 10, 13),) * 2
    assert schedule.send_days(local(2026, 10, 13, 9, 0), local(2026, 10, 14, 8, 0)) is None
    # several moments in the window: only the latest
    assert schedule.latest(date(2026, 10, 20), (date(2026, 10, 10), date(2026, 10, 19))).rule == "d1"  # type: ignore[union-attr]
    assert schedule.latest(date(2026, 10, 20), (date(2026, 11, 5), date(2026, 11, 9))) is None


def test_due_ranges_cover_exactly_the_due_days_with_a_moment_in_the_window() -> None:
    schedule = Schedule(ZONE, time(9))
    ranges = schedule.due_ranges((date(2026, 10, 13), date(2026, 10, 13)))
    due_days = set()
    for lo, hi in ranges:
        day = lo.astimezone(ZONE).date()
        while datetime.combine(day, time(0), tzinfo=ZONE) < hi:
            due_days.add(day)
            day += timedelta(days=1)
    expected = {date(2026, 10, 13) + timedelta(days=k) for k in (14, 7, 3, 1, 0)}
    expected |= {date(2026, 10, 13) - timedelta(days=3 * n) for n in range(1, 6)}
    assert due_days == expected
    # a week-long window merges into few ranges instead of one per day and rule
    assert len(schedule.due_ranges((date(2026, 10, 6), date(2026, 10, 13)))) <= 3


def test_window_starts_at_the_watermark_but_never_further_back_than_a_week() -> None:
    now = local(2026, 10, 18, 10)
    assert window_start(None, now) == now - timedelta(days=1)
    assert window_start(now - timedelta(minutes=1), now) == now - timedelta(minutes=1)
    assert window_start(now - timedelta(days=30), now) == now - timedelta(days=7)
    assert window_start(now + timedelta(hours=1), now) == now - timedelta(days=1)  # the clock went back


async def test_due_milestones_are_read_through_the_open_due_index(app: App, world: World) -> None:
    schedule = Schedule(ZONE, time(9))
    ranges = schedule.due_ranges((date(2026, 10, 13), date(2026, 10, 13)))
    async with app.sessions() as s:
        found = await milestones_due_in(s, ranges)
        # due 10-20 = 10-13 + 7 and 10-16 = 10-13 + 3
        assert sorted(f.id for f in found) == sorted([world.inspection.id, world.report.id])
        if s.get_bind().dialect.name == "sqlite":  # the reminders' fan-out: one index range scan per due day
            stmt = member_reminder_source(*schedule.day_range(date(2026, 10, 20)))
            compiled = stmt.compile(s.get_bind(), compile_kwargs={"literal_binds": True})
            plan_rows = [str(row) for row in (await s.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))).all()]
            assert any("SEARCH milestones USING COVERING INDEX ix_milestones_open_due" in row for row in plan_rows), plan_rows
            assert len((await s.execute(stmt)).all()) == 2  # the inspection, once per member


# --- working days --------------------------------------------------------------------------------

def test_work_calendar_uses_the_official_calendar_and_falls_back_for_2027(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "holidays.txt"
    path.write_text("# 2027 Spring Festival\n2027-02-05..2027-02-11 holiday\n2027-02-14 workday\n2027-01-01\n")
    cal = WorkCalendar.from_file(path)
    assert not cal.is_workday(date(2026, 10, 1)) and cal.is_workday(date(2026, 10, 10))  # National Day, 调休 Saturday
    with caplog.at_level(logging.WARNING, logger="store.workdays"):
        assert not cal.is_workday(date(2027, 2, 8))  # a Monday in the file's holiday
        assert cal.is_workday(date(2027, 2, 14))  # a Sunday made a working day
        assert not cal.is_workday(date(2027, 1, 1))
        assert cal.is_workday(date(2027, 3, 1)) and not cal.is_workday(date(2027, 3, 6))  # weekdays / weekend
    assert [r.message.count("2027") for r in caplog.records] == [1]  # logged once
    with pytest.raises(HolidayFileError, match=r"holidays file:2: expected YYYY-MM-DD"):
        parse_holidays("2027-01-01 holiday\n2027-13-01 holiday\n")


# --- the whole calendar --------------------------------------------------------------------------

async def test_a_projects_whole_calendar(app: App, world: World) -> None:
    sender = FakeSender()
    first, last = date(2026, 10, 1), date(2026, 11, 5)
    runs = []
    day = first
    while day <= last:  # the send hour of every day
        runs.append(local(day.year, day.month, day.day, 9))
        day += timedelta(days=1)
    # the evening the inspection falls overdue (quiet hours have begun), and when they end the next day
    runs += [local(2026, 10, 20, 21), local(2026, 10, 21, 8)]
    runs.sort()
    report_done = local(2026, 10, 12, 10)
    deferred_alert = None
    with time_machine.travel(runs[0], tick=False) as traveller:
        for at in runs:
            traveller.move_to(at)
            if report_done < at <= report_done + timedelta(days=1):  # the first run after it was done
                async with app.sessions() as s, s.begin():
                    await s.execute(update(m.Milestone).where(m.Milestone.id == world.report.id).values(done_at=report_done))
            result = await run_once(app, sender, datetime.now(UTC), sleep=no_sleep)
            if local_of(at).hour == 21 and result.evaluation.alerts:
                deferred_alert = result.dispatch.deferred

    def moments(user: str, word: str) -> list[str]:
        return [f"{local_of(d.at):%m-%d %H:%M}" for d in sender.to(user) if word in d.text]

    # the organization: exactly the expected reminders, at the send hour of the expected days
    assert moments("m-zh", "中期检查") == [
        "10-06 09:00", "10-13 09:00", "10-17 09:00", "10-19 09:00", "10-20 09:00",
        "10-23 09:00", "10-26 09:00", "10-29 09:00", "11-01 09:00", "11-04 09:00",
    ]
    # the report was done on 10-12: its 14- and 7-day reminders only (the first in the National Day week)
    assert moments("m-zh", "中期报告") == ["10-02 09:00", "10-09 09:00"]
    texts = [d.text for d in sender.to("m-zh")]
    assert "还有 14 天" in texts[0] and any("今天" in t for t in texts) and any("逾期 3 天" in t for t in texts)
    english = [d.text for d in sender.to("m-en")]
    assert len(english) == 12 and "in 14 day(s)" in english[0] and any("Due today" in t for t in english)
    assert all("Sunshine elderly care" in t for t in english)
    # staff: one overdue alert, queued at 21:00 (quiet) and sent when the quiet hours end at 08:00
    alerts = moments("s-mz", "逾期提醒")
    assert alerts == ["10-21 08:00"] and deferred_alert
    assert not moments("s-cl", "逾期提醒")
    # the digest: every working day at the send hour, never on a holiday or an ordinary weekend
    digest_days = {local_of(d.at).date() for d in sender.to("s-mz") if "工作摘要" in d.text}
    working = {first + timedelta(days=i) for i in range((last - first).days + 1)}
    working = {d for d in working if chinese_calendar.is_workday(d)}
    assert digest_days == working
    assert date(2026, 10, 10) in digest_days and not digest_days & {date(2026, 10, d) for d in range(1, 8)}
    assert {local_of(d.at).time() for d in sender.to("s-mz") if "工作摘要" in d.text} == {time(9)}
    overdue_digest = next(d.text for d in sender.to("s-mz") if "工作摘要" in d.text and "10月21日" in d.text)
    assert "逾期未完成：1 项" in overdue_digest and "LJ-2026-009" in overdue_digest
    # nothing at all in quiet hours
    assert all(time(8) <= local_of(d.at).time() < time(21) for d in sender.delivered)
    # and each message once
    async with app.sessions() as s:
        keys = (await s.execute(select(m.OutboxMessage.dedup_key))).scalars().all()
        assert len(keys) == len(set(keys)) == len(sender.delivered)


async def test_a_queued_reminder_is_cancelled_when_the_milestone_is_done_or_re_dated(app: App, world: World) -> None:
    sender = FakeSender()

    def reminders(word: str) -> list[str]:
        return [d.text for d in sender.delivered if word in d.text and "工作摘要" not in d.text]

    with time_machine.travel(local(2026, 10, 13, 9, 30), tick=False):
        first = await run_once(app, None, datetime.now(UTC))  # no channel: everything waits
    # the inspection's 7-day and the report's 3-day reminder for both members, and two digests
    assert (first.evaluation.reminders, first.evaluation.digests, first.dispatch.pending) == (4, 2, 6)
    async with app.sessions() as s, s.begin():
        await s.execute(update(m.Milestone).where(m.Milestone.id == world.inspection.id)
                        .values(done_at=local(2026, 10, 13, 10)))
    with time_machine.travel(local(2026, 10, 13, 11), tick=False):
        second = await run_once(app, sender, datetime.now(UTC))
    assert second.dispatch.cancelled == 2 and second.dispatch.sent == 4
    assert reminders("中期检查") == [] and len(reminders("中期报告")) == 1
    # re-dated: the message about the old due date is stale, the new date gets its own reminders
    with time_machine.travel(local(2026, 10, 16, 9, 5), tick=False):
        third = await run_once(app, None, datetime.now(UTC))  # the report's 0-day reminder
    assert third.evaluation.reminders == 2
    async with app.sessions() as s, s.begin():
        await s.execute(update(m.Milestone).where(m.Milestone.id == world.report.id)
                        .values(due_at=local(2026, 10, 30, 17)))
    with time_machine.travel(local(2026, 10, 16, 10), tick=False):
        fourth = await run_once(app, sender, datetime.now(UTC))
    assert fourth.dispatch.cancelled == 2 and not any("今天" in t for t in reminders("中期报告"))
    with time_machine.travel(local(2026, 10, 23, 9, 1), tick=False):
        fifth = await run_once(app, sender, datetime.now(UTC))
    assert fifth.evaluation.reminders == 2
    assert "2026年10月30日" in reminders("中期报告")[-1] and "还有 7 天" in reminders("中期报告")[-1]
    async with app.sessions() as s:
        states = (await s.execute(select(m.OutboxMessage.state, m.OutboxMessage.last_error)
                                  .where(m.OutboxMessage.state == "cancelled"))).all()
    assert len(states) == 4 and all("stale" in (reason or "") for _, reason in states)


async def test_a_waiting_reminder_and_digest_say_what_holds_when_they_are_sent(app: App, world: World) -> None:
    """A reminder is queued as a reference to its milestone and a digest as its department and day: both
    are completed when sent, so a message held back (no channel, quiet hours, a retry) is not out of date."""
    with time_machine.travel(local(2026, 10, 13, 9, 30), tick=False):
        first = await run_once(app, None, datetime.now(UTC))
    assert (first.evaluation.reminders, first.evaluation.digests) == (4, 2)
    async with app.sessions() as s:
        queued = (await s.execute(select(m.OutboxMessage.kind, m.OutboxMessage.payload,
                                         m.OutboxMessage.milestone_id))).all()
    reminder, milestone = next((p, ref) for kind, p, ref in queued if kind == "reminder")
    assert milestone in {world.inspection.id, world.report.id} and reminder["v"] == 2
    assert reminder["about"]["open"] == "status"
    assert "title" not in reminder["values"] and "阳光助老" not in json.dumps(reminder, ensure_ascii=False)
    assert all("overdue" not in p["values"] and "digest" in p["about"] for kind, p, _ in queued if kind == "digest")
    # before anything is sent, the project is renamed and its mid-term report handed in
    async with app.sessions() as s, s.begin():
        await s.execute(update(m.Project).where(m.Project.id == world.project.id).values(title_zh="阳光助老（二期）"))
        await s.execute(update(m.Milestone).where(m.Milestone.id == world.report.id)
                        .values(done_at=local(2026, 10, 13, 10)))
    sender = FakeSender()
    with time_machine.travel(local(2026, 10, 13, 11), tick=False):
        second = await run_once(app, sender, datetime.now(UTC))
    assert (second.dispatch.sent, second.dispatch.cancelled) == (4, 2)
    [inspection] = [d.text for d in sender.to("m-zh") if "中期检查" in d.text]
    assert "阳光助老（二期）" in inspection and "还有 7 天" in inspection and "2026年10月20日" in inspection
    [english] = [d for d in sender.to("m-en") if "inspection" in d.text.lower()]
    assert "Sunshine elderly care" in english.text and english.data == [[f"g:run:status:p{world.project.id}"]]
    [digest] = [d.text for d in sender.to("s-mz") if "工作摘要" in d.text]
    assert "14 天内到期：1 项" in digest and "阳光助老（二期）" in digest and "中期报告" not in digest

async def test_only_the_latest_of_several_past_moments_is_sent(app: App, world: World) -> None:
    sender = FakeSender()
    with time_machine.travel(local(2026, 10, 5, 10), tick=False):
        await run_once(app, sender, datetime.now(UTC))  # the watermark; nothing due yet
    assert sender.delivered == []
    # down from 10-05 until 10-18: the 14-, 7- and 3-day moments of the inspection passed meanwhile
    with time_machine.travel(local(2026, 10, 18, 10), tick=False):
        result = await run_once(app, sender, datetime.now(UTC))
    inspection = [d for d in sender.to("m-zh") if "中期检查" in d.text]
    assert len(inspection) == 1 and "还有 2 天" in inspection[0].text
    async with app.sessions() as s:
        keys = set((await s.execute(select(m.OutboxMessage.dedup_key)
                                     .where(m.OutboxMessage.dedup_key.like(f"remind:{world.inspection.id}:%")))).scalars())
    assert {k.split(":")[3] for k in keys} == {"d3"}
    assert result.evaluation.reminders == 2 + 2  # the report's latest (its 3-day, 10-13) for both members too


async def test_digest_in_2027_follows_the_fallback_and_the_holidays_file(app: App, world: World, tmp_path: Path) -> None:
    path = tmp_path / "holidays.txt"
    path.write_text("2027-01-01 holiday\n2027-02-05..2027-02-11 holiday\n2027-02-14 workday\n")
    rules = RuleSettings(rule_settings(app.settings).schedule, WorkCalendar.from_file(path))
    async with app.sessions() as s, s.begin():  # no milestone noise in 2027
        await s.execute(update(m.Milestone).values(done_at=local(2026, 12, 1)))
    expected = {(2027, 1, 1): 0, (2027, 1, 4): 2, (2027, 2, 8): 0, (2027, 2, 13): 0, (2027, 2, 14): 2}
    for (y, mo, d), digests in expected.items():
        with time_machine.travel(local(y, mo, d, 9, 30), tick=False):
            result = await run_once(app, None, datetime.now(UTC), rules=rules)
        assert result.evaluation.digests == digests, (y, mo, d)
    with time_machine.travel(local(2027, 1, 4, 8, 59), tick=False):  # before the send hour: none yet
        assert (await run_once(app, None, datetime.now(UTC), rules=rules)).evaluation.digests == 0


async def test_admins_get_an_all_department_digest(app: App, world: World) -> None:
    async with app.sessions() as s, s.begin():
        await bind_identity(s, "test", "boss", "resident", 0, local(2026, 9, 1))
    rules = RuleSettings(rule_settings(app.settings).schedule, WorkCalendar(), frozenset({("test", "boss")}))
    sender = FakeSender()
    with time_machine.travel(local(2026, 10, 21, 9, 30), tick=False):
        await run_once(app, sender, datetime.now(UTC), rules=rules)
    boss = sender.to("boss")
    assert len(boss) == 1 and "全部部门" in boss[0].text and "逾期未完成：2 项" in boss[0].text
    assert ["LJ-2026-009"] in boss[0].buttons
    pressed = boss[0].data[boss[0].buttons.index(["LJ-2026-009"])][0]
    replies = await app.engine().handle(Incoming("test", "boss", "press-digest", button=pressed))
    assert "LJ-2026-009" in "\n".join(r.text for r in replies)  # the button opens the project's record


# --- status changes ------------------------------------------------------------------------------

async def test_status_change_notices_reach_members_in_their_language(app: App, world: World) -> None:
    now = local(2026, 11, 2, 10)
    async with app.sessions() as s, s.begin():
        call = m.Call(code="C-1", year=2027, title_zh="征集", opens_at=now - timedelta(days=30),
                      closes_at=now - timedelta(days=1))
        s.add(call)
        await s.flush()
        application = m.Application(reference="SQ-2027-000001", call_id=call.id, organization_id=world.org.id,
                                    status="approved", title="阳光助老二期", granted_fen=25_000_000,
                                    created_at=now, updated_at=now)
        s.add(application)
        await s.flush()
        project = await s.get(m.Project, world.project.id)
        assert project is not None
        assert await notify.application_approved(s, application, project, now) == 2
        assert await notify.application_approved(s, application, project, now) == 0  # once per member and event
        payment = m.Disbursement(project_id=project.id, installment=2, amount_fen=9_000_000, paid_on=date(2026, 11, 1))
        inspection = m.Inspection(project_id=project.id, kind="midterm", held_on=date(2026, 10, 30), score=88,
                                  result="pass")
        s.add_all([payment, inspection])
        await s.flush()
        await notify.payment_made(s, project, payment, now)
        await notify.inspection_recorded(s, project, inspection, now)
    sender = FakeSender()
    with time_machine.travel(now, tick=False):
        await run_once(app, sender, datetime.now(UTC))
    zh = [d.text for d in sender.to("m-zh")]
    en = [d.text for d in sender.to("m-en")]
    assert any("已获批准" in t and "25万元" in t for t in zh)
    assert any("was approved with ¥250,000.00" in t for t in en)
    assert any("第 2 笔" in t and "9万元" in t for t in zh) and any("Payment 2 of ¥90,000.00" in t for t in en)
    assert any("中期检查" in t and "通过" in t and "88" in t for t in zh)
    assert any("Mid-term inspection" in t and "passed" in t for t in en)
    assert sender.to("s-mz") == [] or all("工作摘要" in d.text for d in sender.to("s-mz"))
    assert all(d.buttons == [["查看详情"]] for d in sender.to("m-zh"))


async def test_submitting_an_application_tells_the_other_members(engine: AsyncEngine) -> None:
    from tests.dialogs.test_application import fill

    sessions = sessionmaker(engine)
    async with sessions() as s, s.begin():
        w = await build_world(s)
        await bind_identity(s, "test", "org1", "org", w.org.id)
        await bind_identity(s, "test", "org1b", "org", w.org.id)
    bot = build_engine(sessions, DialogSettings(), clock=lambda: NOW)
    p = Person(bot, "org1")
    await p.say("/apply")
    await p.press(w.call.title_zh)
    await p.press("居家养老服务")
    await fill(p)
    await p.press("提交")
    app = App(settings(engine.url.render_as_string(hide_password=False)), engine, sessions)
    sender = FakeSender()
    with time_machine.travel(NOW, tick=False):
        await run_once(app, sender, datetime.now(UTC))
    assert sender.to("org1") == []  # the submitter saw the answer in the chat
    [notice] = sender.to("org1b")
    assert "已提交" in notice.text and "SQ-" in notice.text


async def test_staff_decisions_tell_the_organizations_members(engine: AsyncEngine) -> None:
    from tests.dialogs.test_flows_org_staff import add_application

    sessions = sessionmaker(engine)
    async with sessions() as s, s.begin():
        w = await build_world(s)
        await bind_identity(s, "test", "org1", "org", w.org.id)
        await bind_identity(s, "test", "staff1", "staff", w.dept.id)
        await add_application(s, w, w.org, title="阳光长者探访")
        await add_application(s, w, w.org, title="阳光社区营造", item=w.item2)
    bot = build_engine(sessions, DialogSettings(), clock=lambda: NOW)
    staff = Person(bot, "staff1")
    await staff.say("/applications")
    await staff.press("阳光长者探访")
    await staff.press("资格审查通过")
    await staff.press("进入评审")
    await staff.press("批准立项")
    await staff.say("30万")
    await staff.press("提交")
    await staff.press("阳光社区营造")
    await staff.press("资格审查不通过")
    await staff.say("缺少近三年的审计报告。")
    await staff.press("提交")
    sender = FakeSender()
    with time_machine.travel(NOW, tick=False):
        await run_once(app_for(engine), sender, datetime.now(UTC))
    texts = [d.text for d in sender.to("org1")]
    assert len(texts) == 3  # passed the check, approved (no notice for "review started"), failed the check
    assert any("阳光长者探访" in t and "已通过资格审查" in t for t in texts)
    assert any("已获批准" in t and "30万元" in t and "LJ-" in t for t in texts)
    assert any("未通过资格审查" in t and "缺少近三年的审计报告" in t for t in texts)


async def test_digest_counts_and_lists_per_department_and_for_the_city(app: App, world: World) -> None:
    now = local(2026, 11, 2, 9, 30)
    async with app.sessions() as s, s.begin():
        other_dept = await s.scalar(select(m.Department.id).where(m.Department.code == "CL"))
        item = m.CatalogItem(year=2026, code="B01", level1_zh="助残", name_zh="助残服务", department_id=other_dept)
        s.add(item)
        await s.flush()
        for n in range(4):  # four more projects of the other department, each with one milestone overdue
            p = m.Project(code=f"CL-{n}", year=2026, title_zh=f"助残{n}", catalog_item_id=item.id,
                          organization_id=world.org.id, department_id=other_dept, amount_fen=1, status="in_progress",
                          start_on=date(2026, 1, 1), end_on=date(2026, 12, 31))
            s.add(p)
            await s.flush()
            s.add(m.Milestone(project_id=p.id, kind="midterm_report", due_at=local(2026, 10, 10 + 2 * n, 17)))
        closed = m.Project(code="CL-X", year=2026, title_zh="已终止", catalog_item_id=item.id, organization_id=world.org.id,
                           department_id=other_dept, amount_fen=1, status="terminated", start_on=date(2026, 1, 1),
                           end_on=date(2026, 12, 31))
        s.add(closed)
        await s.flush()
        s.add(m.Milestone(project_id=closed.id, kind="midterm_report", due_at=local(2026, 9, 1, 17)))
    async with app.sessions() as s:
        scopes = await digest_scopes(s, [world.dept.id, other_dept], True, now, now + timedelta(days=14), 3)
    mz, cl, city = scopes[world.dept.id], scopes[other_dept], scopes[None]
    assert (mz.overdue, cl.overdue, city.overdue) == (2, 4, 6)  # the terminated project's milestone is no one's
    assert [i.project_code for i in cl.overdue_items] == ["CL-0", "CL-1", "CL-2"]
    # the city's first three of all six: CL-0 (10-10), CL-1 (10-12), CL-2 (10-14), before the MZ ones (10-16, 10-20)
    assert [i.project_code for i in city.overdue_items] == ["CL-0", "CL-1", "CL-2"]
    assert [i.milestone_kind for i in mz.overdue_items] == ["midterm_report", "midterm_inspection"]


async def test_payments_and_inspections_arriving_by_import_are_told_once(app: App, world: World, tmp_path: Path) -> None:
    from store.importer import import_package

    now = local(2026, 11, 2, 10)
    old = m.Disbursement(project_id=world.project.id, installment=1, amount_fen=15_000_000, paid_on=date(2026, 4, 10))
    async with app.sessions() as s, s.begin():
        s.add(old)
    sender = FakeSender()
    with time_machine.travel(now, tick=False):
        await run_once(app, sender, datetime.now(UTC))  # the first evaluation: history is not news
    assert not any("第 1 笔" in d.text for d in sender.delivered)
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "disbursements.csv").write_text(
        "project_code,installment,amount_cny,paid_on\nLJ-2026-009,1,150000.00,2026-04-10\n"
        "LJ-2026-009,2,90000.00,2026-11-01\n", encoding="utf-8")
    (package / "inspections.csv").write_text(
        "project_code,kind,held_on,score,result\nLJ-2026-009,midterm,2026-10-30,88,pass\n", encoding="utf-8")
    await import_package(app.db, package, zone=app.settings.zone, now=now)
    later = now + timedelta(minutes=5)
    for _ in range(2):  # a second evaluation tells nothing again
        with time_machine.travel(later, tick=False):
            await run_once(app, sender, datetime.now(UTC))
    zh = [d.text for d in sender.to("m-zh")]
    assert sum("第 2 笔" in t and "9万元" in t for t in zh) == 1
    assert sum("中期检查" in t and "88" in t for t in zh) == 1
    assert not any("第 1 笔" in t for t in zh)


async def test_projects_an_import_publicizes_or_contracts_are_told(app: App, world: World, tmp_path: Path) -> None:
    from store.importer import import_package

    now = local(2026, 11, 2, 10)
    sender = FakeSender()
    with time_machine.travel(now, tick=False):
        await run_once(app, sender, datetime.now(UTC))
    package = tmp_path / "pkg"
    package.mkdir()
    header = "code,year,title_zh,catalog_code,uscc,department_code,amount_cny,status,start_on,end_on\n"
    (package / "projects.csv").write_text(
        header
        + f"LJ-2026-009,2026,阳光助老,A01,{world.org.uscc},MZ,300000.00,contracted,2026-04-01,2027-03-31\n"
        + f"LJ-2026-010,2026,乐龄课堂,A01,{world.org.uscc},MZ,200000.00,publicized,2026-12-01,2027-11-30\n",
        encoding="utf-8")
    await import_package(app.db, package, zone=app.settings.zone, now=now)
    for _ in range(2):
        with time_machine.travel(now + timedelta(minutes=5), tick=False):
            await run_once(app, sender, datetime.now(UTC))
    zh = [d.text for d in sender.to("m-zh")]
    assert sum("LJ-2026-009" in t and "签订合同" in t for t in zh) == 1
    assert sum("LJ-2026-010" in t and "公示期" in t for t in zh) == 1


async def test_the_reminder_insert_reuses_its_compiled_sql(app: App, world: World) -> None:
    """Reminders go out through one INSERT … SELECT built once with bind parameters and run per due day:
    after the first run every evaluation reuses its compiled SQL (a dialect ON CONFLICT insert, or values
    rendered into the SQL, would compile an 11 KB statement at every evaluation)."""
    hits: list[object] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT INTO outbox") and "JOIN identities" in statement:
            hits.append(context.cache_hit)

    event.listen(app.db.sync_engine, "before_cursor_execute", seen)
    try:
        queued = 0
        for day in (13, 16, 20):  # the inspection (10-20) and the report (10-16) have moments on these days
            with time_machine.travel(local(2026, 10, day, 9), tick=False):
                queued += (await run_once(app, None, datetime.now(UTC))).evaluation.reminders
    finally:
        event.remove(app.db.sync_engine, "before_cursor_execute", seen)
    assert queued >= 3
    assert len(hits) >= 3
    hit = app.db.sync_engine.dialect.CACHE_HIT
    assert all(h == hit for h in hits[1:]), hits


async def test_digest_lists_reach_a_department_behind_many_others(app: App, world: World) -> None:
    """The lists are read a page at a time in due order: a department whose first overdue milestone comes
    after a full page of another department's still gets its own first ones, in due order."""
    now = local(2026, 11, 2, 9, 30)
    async with app.sessions() as s, s.begin():
        other_dept = await s.scalar(select(m.Department.id).where(m.Department.code == "CL"))
        item = m.CatalogItem(year=2026, code="B02", level1_zh="助残", name_zh="助残服务", department_id=other_dept)
        s.add(item)
        await s.flush()
        projects = [
            m.Project(code=f"CL-P{n:03d}", year=2026, title_zh=f"助残{n}", catalog_item_id=item.id,
                      organization_id=world.org.id, department_id=other_dept, amount_fen=1, status="in_progress",
                      start_on=date(2026, 1, 1), end_on=date(2026, 12, 31))
            for n in range(150)
        ]
        s.add_all(projects)
        await s.flush()
        # all due before the world's own overdue milestones (10-16, 10-20), several on the same hour
        s.add_all(m.Milestone(project_id=p.id, kind="midterm_report", due_at=local(2026, 9, 1 + n // 10, 17))
                  for n, p in enumerate(projects))
    async with app.sessions() as s:
        scopes = await digest_scopes(s, [world.dept.id, other_dept], True, now, now + timedelta(days=14), 2)
    mz, cl, city = scopes[world.dept.id], scopes[other_dept], scopes[None]
    assert (mz.overdue, cl.overdue, city.overdue) == (2, 150, 152)
    assert [i.milestone_kind for i in mz.overdue_items] == ["midterm_report", "midterm_inspection"]
    assert [i.project_code for i in cl.overdue_items] == ["CL-P000", "CL-P001"]
    assert [i.project_code for i in city.overdue_items] == ["CL-P000", "CL-P001"]


async def test_staff_hear_of_a_milestone_overdue_before_the_first_run_or_imported_overdue(
    app: App, world: World
) -> None:
    """Deployed on 10-25 after both milestones fell due: whenever the organization is reminded that one is
    overdue, its department's staff are alerted too — once per due date, and only that department."""
    sender = FakeSender()

    def alerts(user: str) -> list[str]:
        names = ("中期报告", "中期检查", "结项报告")
        return [f"{local_of(d.at):%m-%d} {next(n for n in names if n in d.text)}"
                for d in sender.to(user) if "逾期提醒" in d.text]

    def overdue_reminders() -> list[str]:
        return [f"{local_of(d.at):%m-%d}" for d in sender.to("m-zh") if "逾期" in d.text and "逾期提醒" not in d.text]

    with time_machine.travel(local(2026, 10, 25, 9, 5), tick=False) as traveller:
        await run_once(app, sender, datetime.now(UTC), sleep=no_sleep)  # the first run: the report is due + 9 days
        assert overdue_reminders() == ["10-25"] and alerts("s-mz") == ["10-25 中期报告"]
        traveller.move_to(local(2026, 10, 26, 9, 5))  # the inspection's second overdue moment (due + 6)
        await run_once(app, sender, datetime.now(UTC), sleep=no_sleep)
        assert alerts("s-mz") == ["10-25 中期报告", "10-26 中期检查"]
        async with app.sessions() as s, s.begin():  # an import adds a milestone already overdue (due 10-20)
            s.add(m.Milestone(project_id=world.project.id, kind="final_report", due_at=local(2026, 10, 20, 17)))
        for day in (27, 28, 29):  # 10-29 is its third overdue moment; the report's 4th is 10-28
            traveller.move_to(local(2026, 10, day, 9, 5))
            await run_once(app, sender, datetime.now(UTC), sleep=no_sleep)
    assert overdue_reminders() == ["10-25", "10-26", "10-28", "10-29", "10-29"]
    assert alerts("s-mz") == ["10-25 中期报告", "10-26 中期检查", "10-29 结项报告"]
    assert alerts("s-cl") == []
