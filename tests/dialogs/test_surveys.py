"""Satisfaction surveys: answering from a single-use link, anonymity, results, disclosure, staff, CLI, chart."""

from __future__ import annotations

import asyncio
import json
import secrets
import warnings
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cli import main
from dialogs import i18n
from dialogs.context import SHANGHAI, DialogSettings
from dialogs.flows.survey_staff import OpenProject
from dialogs.registry import build_engine
from dialogs.state import State
from dialogs.surveys import cards, report
from dialogs.surveys.drawing import FONT_FILE
from dialogs.surveys.templates import TemplateError, library, load_templates, parse_template, use_folder
from store import models as m
from store import surveys
from store.db import create_engine, sessionmaker
from store.importer import import_package
from store.surveys import results as survey_results_module
from testing.chat import Person
from testing.factories import NOW, World, bind_identity, build_world

TODAY = NOW.astimezone(SHANGHAI).date()
CLOSES = NOW + timedelta(days=30)
SETTINGS = DialogSettings(bot_username="linjiang_bot")
# Conversation logic that does not depend on the database runs on SQLite only, to keep the suite fast.
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


class Clock:
    """The engine's clock; tests move it instead of sleeping."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now



@pytest.fixture
async def world(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[World]:
    async with sessions() as s, s.begin():
        w = await build_world(s)
        await bind_identity(s, "test", "staff1", "staff", w.dept.id)
        await bind_identity(s, "test", "staff2", "staff", w.other_dept.id)
    yield w


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def bot(sessions, clock):  # type: ignore[no-untyped-def]
    return build_engine(sessions, SETTINGS, clock=clock)


async def invite(sessions, project_id: int, count: int = 1, closes: datetime = CLOSES) -> list[str]:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        survey = await surveys.open_survey_of(s, project_id, NOW) or await surveys.open_survey(s, project_id, NOW, closes)
        return [i.token for i in await surveys.create_invitations(s, survey, count, NOW)]


async def answer_all(p: Person, *, overall: str = "4 满意", recommend: str = "9") -> None:
    """Answer every question of the standard template with buttons, typing only the free texts."""
    for _ in range(6):
        await p.press("5 非常满意")
    await p.press(overall)
    if "哪里做得不好" in p.text:
        await p.say("等待时间太长")
    await p.press(recommend)
    await p.say("希望增加周末的活动")
    await p.press("60–79岁")
    await p.say("十二")


# --- answering -----------------------------------------------------------------------------------

async def test_whole_survey_through_the_engine(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    token, = await invite(sessions, world.project.id)
    assert token.startswith("s") and 23 <= len(token) <= 64
    p = Person(bot, "r1")
    await p.say(f"/start {token}")
    assert world.project.title_zh in p.text and "匿名" in p.text
    assert "第 1/11 题" in p.text and "满足您需求" in p.text
    assert [b.label for b in p.buttons()][:5] == ["5 非常满意", "4 满意", "3 一般", "2 不满意", "1 非常不满意"]
    await answer_all(p)
    assert "请核对您的回答" in p.text and "十二" not in p.text and "12" in p.text and "60–79岁" in p.text
    await p.press("提交")
    assert "提交成功" in p.text
    async with sessions() as s:
        response = (await s.execute(select(m.SurveyResponse))).scalar_one()
        assert response.project_id == world.project.id and response.submitted_on == TODAY
        answers = {a.item: (a.value_int, a.value_text) for a in (await s.execute(select(m.SurveyAnswer))).scalars()}
        assert answers["overall"] == (4, None) and answers["needs_met"] == (5, None) and answers["recommend"] == (9, None)
        assert answers["suggestion"] == (None, "希望增加周末的活动") and answers["age_group"] == (None, "60_79")
        assert answers["sessions"] == (12, None) and "what_went_wrong" not in answers and len(answers) == 11
        invitation = (await s.execute(select(m.SurveyInvitation))).scalar_one()
        assert invitation.used_on == TODAY
        conversation = (await s.execute(select(m.Conversation))).scalar_one()
        assert conversation.flow is None and conversation.slots == {}


@SQLITE_ONLY
async def test_follow_up_only_when_overall_is_low_and_back_and_skip(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    token, = await invite(sessions, world.project.id)
    p = Person(bot, "r1", locale="en")
    await p.say(f"/start {token}")
    assert "Question 1 of 11" in p.text
    await p.press("Skip")
    for _ in range(5):
        await p.press("5 Very satisfied")
    assert "Skip" not in [b.label for b in p.buttons()]  # overall is required
    await p.press("2 Dissatisfied")
    assert "What went wrong" in p.text and "Question 8 of 12" in p.text
    await p.press("Back")
    assert "Overall" in p.text and "2 Dissatisfied" in p.text  # the earlier answer is shown
    await p.press("4 Satisfied")
    assert "recommend" in p.text and "0 = not at all likely" in p.text  # no follow-up any more
    await p.press("Back")
    await p.press("1 Very dissatisfied")
    await p.say("Nobody came on the agreed day")
    for _ in range(4):
        await p.press("Skip")
    assert "check your answers" in p.text and "(skipped)" in p.text
    await p.press("Submit")
    assert "Submitted" in p.text
    async with sessions() as s:
        answers = {a.item: (a.value_int, a.value_text) for a in (await s.execute(select(m.SurveyAnswer))).scalars()}
    assert answers["overall"] == (1, None) and answers["what_went_wrong"] == (None, "Nobody came on the agreed day")
    assert "needs_met" not in answers and "recommend" not in answers


@SQLITE_ONLY
async def test_typed_answers_and_bad_input(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    token, = await invite(sessions, world.project.id)
    p = Person(bot, "r1")
    await p.say(f"/start {token}")
    await p.say("满意")  # a scale label typed instead of pressed
    assert "第 2/11 题" in p.text
    await p.say("好得很")
    assert "⚠️" in p.text and "第 2/11 题" in p.text
    for _ in range(6):
        await p.press("3 一般")
    await p.press("9")
    await p.say("x" * 501)
    assert "太长" in p.text


@SQLITE_ONLY
async def test_used_expired_forged_and_not_open_tokens(bot, sessions, world, clock) -> None:  # type: ignore[no-untyped-def]
    used, other, late = await invite(sessions, world.project.id, 3)
    p = Person(bot, "r1")
    await p.say(f"/start {used}")
    await answer_all(p)
    await p.press("提交")
    await p.say(f"/start {used}")
    assert "已经使用过" in p.text
    await Person(bot, "r2").say(f"/start {used}")  # forwarded to someone else: still used
    await p.say(f"/start s{secrets.token_urlsafe(16)}")
    assert "链接无效" in p.text
    await p.say(f"/start {other[:-1]}")
    assert "链接无效" in p.text
    await p.say("/start s" + "A" * 70)
    assert "链接无效" in p.text

    q = Person(bot, "r3")
    await q.say(f"/start {late}")
    await q.press("5 非常满意")
    clock.now = CLOSES + timedelta(minutes=1)  # the survey closes while q is answering
    await q.press("5 非常满意")
    assert "已经截止" in q.text
    await q.say(f"/start {other}")
    assert "已经截止" in q.text

    async with sessions() as s, s.begin():
        later = m.Survey(project_id=world.other_project.id, opens_at=clock.now + timedelta(days=2),
                         closes_at=clock.now + timedelta(days=9), created_at=clock.now)
        s.add(later)
        await s.flush()
        early, = [i.token for i in await surveys.create_invitations(s, later, 1, clock.now)]
    await q.say(f"/start {early}")
    assert "还没有开始" in q.text
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(m.SurveyResponse)) == 1


@SQLITE_ONLY
async def test_resume_after_a_restart(sessions, world) -> None:  # type: ignore[no-untyped-def]
    token, = await invite(sessions, world.project.id)
    p = Person(build_engine(sessions, SETTINGS, clock=lambda: NOW), "r1")
    await p.say(f"/start {token}")
    await p.press("5 非常满意")
    await p.press("4 满意")
    await p.press("3 一般")
    async with sessions() as s:
        slots = (await s.execute(select(m.Conversation.slots))).scalar_one()
    state = State.from_json("survey", None, slots)
    assert state.invitation is not None and state.form.values and token not in json.dumps(slots)
    assert surveys.token_hash(token) not in json.dumps(slots)

    p.engine = build_engine(sessions, SETTINGS, clock=lambda: NOW)  # the process restarted
    await p.press("2 不满意")  # a button of the question shown before the restart
    assert "第 5/11 题" in p.text
    very_dissatisfied = p.button("1 非常不满意").data or ""
    await p.say("/menu")  # an interruption keeps the survey: the question's buttons still work
    await p.press_data(very_dissatisfied)
    assert "第 6/11 题" in p.text
    for _ in range(2):
        await p.press("5 非常满意")
    for _ in range(4):
        await p.press("跳过")
    await p.press("提交")
    async with sessions() as s:
        values = dict((await s.execute(select(m.SurveyAnswer.item, m.SurveyAnswer.value_int))).all())
    assert values == {"needs_met": 5, "attitude": 4, "skill": 3, "convenience": 2, "helpfulness": 1,
                      "responsiveness": 5, "overall": 5}


async def test_concurrent_double_submit_stores_one_response(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    token, = await invite(sessions, world.project.id)
    first, second = Person(bot, "r1"), Person(bot, "r2")
    for p in (first, second):
        await p.say(f"/start {token}")
        await answer_all(p)
    data = first.button("提交").data
    assert data == second.button("提交").data
    await asyncio.gather(first.press_data(data or ""), second.press_data(data or ""))
    outcomes = sorted(["提交成功" in first.text, "提交成功" in second.text])
    assert outcomes == [False, True]
    assert "已经使用过" in (first.text + second.text)
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(m.SurveyResponse)) == 1


async def test_nothing_joins_a_response_to_the_person_or_the_token(bot, sessions, world, engine) -> None:  # type: ignore[no-untyped-def]
    token, = await invite(sessions, world.project.id)
    p = Person(bot, "778899")
    await p.say(f"/start {token}")
    await answer_all(p)
    await p.press("提交")

    # The schema: a response and its answers reference only the project and the survey.
    tables = m.Base.metadata.tables
    assert set(tables["survey_responses"].c.keys()) == {"id", "response_key", "project_id", "survey_id", "submitted_on"}
    assert {fk.column.table.name for fk in tables["survey_responses"].foreign_keys} == {"projects", "surveys"}
    assert {fk.column.table.name for fk in tables["survey_answers"].foreign_keys} == {"survey_responses"}
    assert set(tables["survey_invitations"].c.keys()) == {"id", "survey_id", "token_hash", "expires_at", "used_on", "created_at"}
    pointing_at_responses = {t.name for t in tables.values() for fk in t.foreign_keys if fk.column.table.name == "survey_responses"}
    assert pointing_at_responses == {"survey_answers"}

    # The data: every row of every table.
    async with sessions() as s:
        identity = (await s.execute(select(m.Identity).where(m.Identity.external_id == "778899"))).scalar_one()
        dump: dict[str, list[str]] = {}
        for table in m.Base.metadata.sorted_tables:
            rows = (await s.execute(select(table))).all()
            dump[table.name] = [json.dumps([str(v) for v in row], ensure_ascii=False) for row in rows]
        response = (await s.execute(select(m.SurveyResponse))).scalar_one()
        invitation = (await s.execute(select(m.SurveyInvitation))).scalar_one()
        conversation = (await s.execute(select(m.Conversation).where(m.Conversation.identity_id == identity.id))).scalar_one()
        audit = (await s.execute(select(m.AuditEntry))).scalars().all()
        outbox = (await s.execute(select(m.OutboxMessage))).scalars().all()
    everything = "\n".join(row for rows in dump.values() for row in rows)
    assert token not in everything
    assert [name for name, rows in dump.items() if any(surveys.token_hash(token) in r for r in rows)] == ["survey_invitations"]
    assert [name for name, rows in dump.items() if any("希望增加周末的活动" in r for r in rows)] == ["survey_answers"]
    assert [name for name, rows in dump.items() if any("778899" in r for r in rows)] == ["identities"]
    assert type(response.submitted_on) is date and type(invitation.used_on) is date and invitation.created_at == NOW
    assert response.response_key not in (token, surveys.token_hash(token))
    assert conversation.slots == {} and conversation.flow is None and conversation.step is None
    assert not [a for a in audit if str(identity.id) in a.actor or "778899" in json.dumps(a.detail)]
    assert not [o for o in outbox if token in json.dumps(o.payload)]


# --- results ---------------------------------------------------------------------------------------

ANSWERS = [  # a fixed data set: 8 valid responses and 1 without the overall item
    {"overall": 5, "recommend": 10, "attitude": 5, "age_group": "60_79", "suggestion": "很好"},
    {"overall": 5, "recommend": 9, "attitude": 4, "age_group": "80_plus"},
    {"overall": 4, "recommend": 8, "attitude": 4, "age_group": "60_79"},
    {"overall": 4, "recommend": 7, "attitude": 3},
    {"overall": 4, "recommend": 6, "attitude": 2, "what_went_wrong": "等太久"},
    {"overall": 3, "recommend": 0},
    {"overall": 2},
    {"overall": 1, "sessions": 3},
    {"recommend": 10, "attitude": 5},
]


async def submit(sessions, tokens: list[str], answers: list[dict], today: date = TODAY) -> None:  # type: ignore[no-untyped-def, type-arg]
    async with sessions() as s, s.begin():
        for token, given in zip(tokens, answers, strict=False):
            found = await surveys.redeem(s, token, NOW)
            assert found.invitation_id is not None
            assert await surveys.submit_response(s, found.invitation_id, given, NOW, today) is None


async def test_results_equal_hand_computed_figures(sessions, world) -> None:  # type: ignore[no-untyped-def]
    tokens = await invite(sessions, world.project.id, 10)
    await submit(sessions, tokens, ANSWERS)
    async with sessions() as s:
        ref = await surveys.latest_survey(s, world.project.id, NOW)
        results = await surveys.survey_results(s, ref, NOW)
    assert (results.responses, results.valid_responses, results.invitations, results.used_invitations) == (9, 8, 10, 9)
    assert results.response_rate == pytest.approx(0.8) and results.response_rate_basis == "invitations"
    assert results.satisfaction_rate == pytest.approx(5 / 8)  # 5, 5, 4, 4, 4 of 8
    assert results.mean_score == pytest.approx(28 / 40 * 100)  # (5+5+4+4+4+3+2+1) / (8 × 5) × 100 = 70
    assert results.nps == pytest.approx((3 - 2) / 7 * 100)  # of 7 who answered: 10, 9, 10 promote; 6, 0 detract
    # 1.96 · √(0.625 · 0.375 / 8) · √((200 − 8) / 199)
    assert results.margin_of_error == pytest.approx(0.329527, abs=1e-6)
    assert not results.closed
    overall = results.items["overall"]
    assert overall.distribution == {"1": 1, "2": 1, "3": 1, "4": 3, "5": 2} and overall.top_two_share == pytest.approx(0.625)
    attitude = results.items["attitude"]
    assert attitude.answered == 6 and attitude.top_two_share == pytest.approx(4 / 6) and attitude.mean == pytest.approx(23 / 6)
    assert results.items["age_group"].distribution == {"60_79": 2, "80_plus": 1}
    assert results.items["suggestion"].answered == 1 and results.items["suggestion"].distribution == {}
    assert results.items["sessions"].distribution == {"3": 1}
    assert list(results.items)[:2] == ["attitude", "overall"]  # template order
    data = results.as_dict()
    assert {"valid_responses", "invitations", "response_rate", "satisfaction_rate", "mean_score", "nps",
            "margin_of_error", "items"} <= set(data)
    assert "很好" not in json.dumps(data, ensure_ascii=False) and "等太久" not in json.dumps(data, ensure_ascii=False)
    async with sessions() as s:
        assert await surveys.free_text(s, ref, ["suggestion", "what_went_wrong"]) == [
            ("suggestion", "很好"), ("what_went_wrong", "等太久")]


async def test_edge_cases_no_answers_all_promoters_and_a_census(sessions, world) -> None:  # type: ignore[no-untyped-def]
    await invite(sessions, world.project.id, 4)
    async with sessions() as s:
        results = await surveys.survey_results(s, await surveys.latest_survey(s, world.project.id, NOW), NOW)
    assert results.valid_responses == 0 and results.response_rate == 0
    assert (results.satisfaction_rate, results.mean_score, results.nps, results.margin_of_error) == (None,) * 4
    assert results.as_dict()["nps"] is None

    async with sessions() as s, s.begin():
        (await s.get(m.Project, world.other_project.id)).recipients = 3
    tokens = await invite(sessions, world.other_project.id, 3)
    await submit(sessions, tokens, [{"overall": 5, "recommend": 10}, {"overall": 4, "recommend": 9},
                                    {"overall": 2, "recommend": 10}])
    async with sessions() as s:
        results = await surveys.survey_results(s, await surveys.latest_survey(s, world.other_project.id, NOW), NOW)
    assert results.nps == 100 and results.satisfaction_rate == pytest.approx(2 / 3)
    assert results.margin_of_error == 0  # n = N: everyone answered
    assert surveys.margin_of_error(0.5, 100, None) == pytest.approx(1.96 * 0.05)
    assert surveys.margin_of_error(0.5, 0, 10) is None


def _package(folder: Path, rows: list[tuple[str, str, str, str, object]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["response_id,project_code,submitted_on,item,value"] + [",".join(str(v) for v in row) for row in rows]
    (folder / "survey_responses.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


async def test_imported_responses_count_as_one_closed_survey(engine, sessions, world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code = world.other_project.code
    rows: list[tuple[str, str, str, str, object]] = []
    for n, score in enumerate([5, 5, 4, 3, 2, 5], start=1):
        day = f"2026-10-{n:02d}"
        rows += [(f"P{n}", code, day, "overall", score), (f"P{n}", code, day, "recommend", 10)]
    rows.append(("P7", code, "2026-10-20", "suggestion", "纸质问卷意见"))  # no overall: not valid
    await import_package(engine, _package(tmp_path / "pkg", rows), zone=SHANGHAI, now=NOW)
    async with sessions() as s:
        refs = await surveys.project_surveys(s, world.other_project.id)
        assert [(r.imported, r.opens_on, r.closes_on) for r in refs] == [(True, date(2026, 10, 1), date(2026, 10, 20))]
        results = await surveys.survey_results(s, refs[0], NOW)
        public = await surveys.public_satisfaction(s, world.other_project.id, NOW, 5)
        assert await surveys.public_satisfaction(s, world.other_project.id, NOW, 7) is None
    assert results.closed and results.imported and results.invitations == 0
    assert results.valid_responses == 6 and results.responses == 7
    assert results.response_rate == pytest.approx(6 / 200) and results.response_rate_basis == "recipients"
    assert results.satisfaction_rate == pytest.approx(4 / 6)
    assert public is not None and public.valid_responses == 6 and public.nps == 100

    # A chat survey opened later does not hide the closed imported one while it is open.
    tokens = await invite(sessions, world.other_project.id, 2)
    await submit(sessions, tokens, [{"overall": 1}, {"overall": 1}])
    async with sessions() as s:
        assert (await surveys.latest_survey(s, world.other_project.id, NOW)).survey_id is not None
        assert (await surveys.public_satisfaction(s, world.other_project.id, NOW, 5)).imported
    async with sessions() as s, s.begin():
        (await s.get(m.Project, world.other_project.id)).recipients = None
        imported = await surveys.find_survey(s, world.other_project.id, None)
        assert (await surveys.survey_results(s, imported, NOW)).response_rate is None  # no basis known


async def test_public_only_when_closed_with_enough_responses(sessions, world) -> None:  # type: ignore[no-untyped-def]
    tokens = await invite(sessions, world.project.id, 6)
    await submit(sessions, tokens[:4], [{"overall": 5, "suggestion": "私下的意见"}] * 4)
    after = CLOSES + timedelta(seconds=1)
    async with sessions() as s:
        assert await surveys.public_satisfaction(s, world.project.id, NOW, 5) is None  # still open
        assert await surveys.public_satisfaction(s, world.project.id, after, 5) is None  # 4 < 5
        shown = await surveys.public_satisfaction(s, world.project.id, after, 3)  # configurable
    assert shown is not None and shown.satisfaction_rate == 1
    assert "私下的意见" not in json.dumps(shown.as_dict(), ensure_ascii=False)
    assert report.NOT_PUBLIC in report.warnings(shown, 5) and report.SMALL in report.warnings(shown, 5)
    await submit(sessions, tokens[4:], [{"overall": 4}] * 2)
    async with sessions() as s:
        assert (await surveys.public_satisfaction(s, world.project.id, after, 5)).valid_responses == 6


# --- staff ---------------------------------------------------------------------------------------

async def test_staff_open_a_survey_invite_and_read_the_results(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    staff = Person(bot, "staff1")
    await staff.say("/surveys")
    await staff.press(world.project.code)
    assert "还没有满意度测评" in staff.text
    await staff.press("开始新测评")
    await staff.say("明天之前")
    assert "今天以后" in staff.text
    await staff.press("30 天后")
    assert "已开始满意度测评" in staff.text and "2026年12月29日" in staff.text
    await staff.press("生成邀请")
    await staff.press("5")
    links = [line for r in staff.last for line in r.text.splitlines() if line.startswith("https://t.me/linjiang_bot?start=s")]
    assert len(links) == 5
    images = [r.image for r in staff.last if r.image is not None]
    assert len(images) == 5 and all(i.content.startswith(b"\x89PNG") for i in images)
    sheet = next(r.document for r in staff.last if r.document is not None)
    assert sheet.content.startswith(b"%PDF") and sheet.filename.endswith(".pdf")

    for n, link in enumerate(links[:2]):
        p = Person(bot, f"r{n}")
        await p.say("/start " + link.split("start=")[1])
        await answer_all(p, overall="2 不满意" if n else "5 非常满意")
        await p.press("提交")
    await staff.press("返回项目")
    assert "已提交 2 份" in staff.text
    await staff.press("查看结果")
    assert "有效回答：2 份" in staff.text and "满意率：50.0%" in staff.text and "样本较少" in staff.text
    assert "至 2026年12月29日" in staff.text  # the closing day the staff were told, not the day after
    assert "等待时间太长" in staff.text and "希望增加周末的活动" in staff.text  # comments: staff only
    chart = next(r.image for r in staff.last if r.image is not None)
    assert chart.content.startswith(b"\x89PNG")
    async with sessions() as s:
        actions = (await s.execute(select(m.AuditEntry.action).order_by(m.AuditEntry.id))).scalars().all()
    assert actions == ["survey.open", "survey.invite"]


@SQLITE_ONLY
async def test_staff_of_another_department_and_residents_are_kept_out(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        (await s.get(m.Project, world.other_project.id)).department_id = world.other_dept.id
    outsider = Person(bot, "staff2")
    await outsider.say(f"/surveys {world.project.code}")
    assert "不属于您的部门" in outsider.text
    assert world.other_project.code in outsider.text + str(outsider.buttons())
    assert world.project.code not in str(outsider.buttons())
    await outsider.press_data(OpenProject(world.project.id).pack("surveys"))  # a forged button
    assert "不属于您的部门" in outsider.text and world.project.title_zh not in outsider.text
    resident = Person(bot, "r1")
    await resident.say("/surveys")
    assert "没有权限" in resident.text


# --- command line --------------------------------------------------------------------------------

def test_cli_invite_and_results(sqlite_url, monkeypatch, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CIVICBOT_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("CIVICBOT_TELEGRAM_USERNAME", "linjiang_bot")

    async def seed() -> None:
        engine = create_engine(sqlite_url)
        async with sessionmaker(engine)() as s, s.begin():
            await build_world(s)
        await engine.dispose()

    asyncio.run(seed())
    assert main(["survey", "results", "LJ-2026-001"]) == 1
    assert "no survey yet" in capsys.readouterr().err
    sheet = tmp_path / "cards.pdf"
    assert main(["survey", "invite", "LJ-2026-001", "--count", "3", "--json", "--qr", str(tmp_path / "qr"),
                 "--sheet", str(sheet)]) == 0
    issued = json.loads(capsys.readouterr().out)
    assert len(issued) == 3 and all(i["link"] == f"https://t.me/linjiang_bot?start={i['token']}" for i in issued)
    assert len(list((tmp_path / "qr").glob("LJ-2026-001-survey*.png"))) == 3 and sheet.read_bytes().startswith(b"%PDF")
    assert main(["survey", "invite", "LJ-2026-001", "--count", "2"]) == 0
    lines = capsys.readouterr().out.split()
    assert len(lines) == 2 and all(line.startswith("https://t.me/linjiang_bot?start=s") for line in lines)

    async def answer() -> None:
        engine = create_engine(sqlite_url)
        sessions = sessionmaker(engine)
        now = datetime.now(NOW.tzinfo)
        async with sessions() as s, s.begin():
            for n, given in enumerate([{"overall": 5, "suggestion": "=HYPERLINK(\"http://x\")"}, {"overall": 3}]):
                found = await surveys.redeem(s, issued[n]["token"], now)
                assert await surveys.submit_response(s, found.invitation_id, given, now, now.date()) is None
        await engine.dispose()

    asyncio.run(answer())
    xlsx, chart = tmp_path / "results.xlsx", tmp_path / "chart.png"
    assert main(["survey", "results", "LJ-2026-001", "--json", "--xlsx", str(xlsx), "--chart", str(chart)]) == 0
    out = capsys.readouterr()
    data = json.loads(out.out)
    assert data["valid_responses"] == 2 and data["invitations"] == 5 and data["response_rate"] == 0.4
    assert data["satisfaction_rate"] == 0.5 and data["mean_score"] == 80.0 and data["nps"] is None
    assert data["items"]["overall"]["distribution"] == {"3": 1, "5": 1} and "small_sample" in data["warnings"]
    assert "样本较少" in out.err
    book = load_workbook(xlsx)
    assert book.sheetnames == ["Summary", "Items", "Suggestions"]
    comment = book["Suggestions"]["B2"]
    assert comment.value == "=HYPERLINK(\"http://x\")" and comment.data_type == "s"  # text, never a formula
    assert chart.read_bytes().startswith(b"\x89PNG")
    assert main(["survey", "results", "LJ-2026-001", "--lang", "en"]) == 0
    assert "Satisfaction rate: 50.0%" in capsys.readouterr().out
    assert main(["survey", "invite", "NOPE", "--count", "1"]) == 1
    assert "no such project" in capsys.readouterr().err
    assert main(["survey", "send", "LJ-2026-001", "--to", "telegram:501,telegram:502"]) == 0
    assert "2 invitations queued" in capsys.readouterr().out
    assert main(["survey", "send", "LJ-2026-001", "--to", "501"]) == 1
    assert "CHANNEL:ID" in capsys.readouterr().err


# --- templates and drawing -------------------------------------------------------------------------

def test_template_validation_lists_every_problem(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = {
        "code": "short", "title": {"zh-Hans": "简短问卷"}, "bonus": 1,
        "items": [
            {"code": "overall", "kind": "scale10", "question": {"zh-Hans": "总体？", "en": "Overall?"},
             "label": {"zh-Hans": "总体", "en": "Overall"}},
            {"code": "age_group", "kind": "single", "question": {"zh-Hans": "年龄？", "en": "Age?"},
             "label": {"zh-Hans": "年龄", "en": "Age"}, "choices": [{"code": 1859, "label": {"zh-Hans": "a", "en": "a"}}]},
            {"code": "why", "kind": "text", "when": {"item": "later", "max": 2},
             "question": {"zh-Hans": "为什么？", "en": "Why?"}, "label": {"zh-Hans": "原因", "en": "Why"}},
            {"code": "mood", "kind": "scale7", "question": {"zh-Hans": "心情？", "en": "Mood?"}},
        ],
    }
    with pytest.raises(TemplateError) as caught:
        parse_template(bad, "short.yml")
    problems = "\n".join(caught.value.problems)
    for expected in ("unknown key 'bonus'", "title: missing the en text", "'overall' is a standard item of kind scale5",
                     "quote codes like", "'later' is not an earlier item", "kind 'scale7' is not one of",
                     "needs the item 'overall' of kind scale5"):
        assert expected in problems
    (tmp_path / "broken.yml").write_text("code: [unclosed", encoding="utf-8")
    with pytest.raises(TemplateError, match="not valid YAML"):
        load_templates(tmp_path)


MULTI_TEMPLATE = """
code: short
title: {zh-Hans: 活动反馈, en: Event feedback}
scale5:
  zh-Hans: [非常不满意, 不满意, 一般, 满意, 非常满意]
  en: [Very dissatisfied, Dissatisfied, Neutral, Satisfied, Very satisfied]
items:
  - code: overall
    kind: scale5
    label: {zh-Hans: 总体满意度, en: Overall}
    question: {zh-Hans: 总体满意吗？, en: "Overall?"}
  - code: liked
    kind: multi
    required: false
    label: {zh-Hans: 喜欢的环节, en: Liked}
    question: {zh-Hans: 您喜欢哪些环节？, en: "What did you like?"}
    choices:
      - {code: talk, label: {zh-Hans: 讲座, en: Talk}}
      - {code: games, label: {zh-Hans: 游戏, en: Games}}
      - {code: lunch, label: {zh-Hans: 午餐, en: Lunch}}
"""


@SQLITE_ONLY
async def test_operator_template_with_multiple_choice(bot, sessions, world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "short.yml").write_text(MULTI_TEMPLATE, encoding="utf-8")
    use_folder(tmp_path)
    try:
        assert {"standard", "short"} <= set(library()) and library()["short"].title["zh-Hant"] == "活動反饋"
        async with sessions() as s, s.begin():
            survey = await surveys.open_survey(s, world.project.id, NOW, CLOSES, template="short")
            tokens = [i.token for i in await surveys.create_invitations(s, survey, 2, NOW)]
        for n, picks in enumerate((["讲座", "午餐"], ["讲座"])):
            p = Person(bot, f"r{n}")
            await p.say(f"/start {tokens[n]}")
            assert "活动反馈" in p.text and "共 2 个问题" in p.text
            await p.press("4 满意")
            for label in picks:
                await p.press(label)
            assert "✓ 讲座" in [b.label for b in p.buttons()]
            await p.press("完成")
            await p.press("提交")
            assert "提交成功" in p.text
        async with sessions() as s:
            stored = sorted((await s.execute(select(m.SurveyAnswer.value_text).where(m.SurveyAnswer.item == "liked"))).scalars())
            ref = await surveys.latest_survey(s, world.project.id, NOW)
            results = await surveys.survey_results(s, ref, NOW, library()["short"].kinds)
        assert stored == ["talk", "talk;lunch"]
        assert results.items["liked"].distribution == {"lunch": 1, "talk": 2} and results.items["liked"].answered == 2
    finally:
        use_folder(None)


def test_bundled_template_matches_the_import_codes() -> None:
    assert library()["standard"].kinds == surveys.STANDARD_ITEMS
    for item in library()["standard"].items:
        assert set(item.question) == set(i18n.LOCALES) and set(item.label) == set(i18n.LOCALES)


def _texts_of_drawings() -> str:
    template = library()["standard"]
    texts = []
    for locale in i18n.LOCALES:
        texts += report.chart_texts(template, locale)
        texts += [i18n.t(locale, f"survey.card.{key}", day="") for key in ("title", "scan", "closes", "once")]
        texts.append(i18n.day(locale, date(2026, 12, 31)))
    return "".join(texts)


def test_the_bundled_font_has_every_glyph_the_drawings_use() -> None:
    cmap = TTFont(FONT_FILE).getBestCmap()
    missing = sorted({c for c in _texts_of_drawings() if not c.isspace() and ord(c) not in cmap})
    assert missing == [], f"re-run scripts/subset_cjk_font.py: {missing}"
    assert FONT_FILE.stat().st_size < 1_500_000
    assert FONT_FILE.with_name("OFL.txt").exists()


def test_chart_and_sheet_render_without_missing_glyphs() -> None:
    template = library()["standard"]
    results = surveys.Results(
        project_id=1, survey_id=1, closed=True, opens_on=date(2026, 10, 1), closes_on=date(2026, 10, 31),
        responses=3, valid_responses=3, invitations=5, used_invitations=3, recipients=10, response_rate=0.6,
        response_rate_basis="invitations", satisfaction_rate=2 / 3, mean_score=80.0, nps=33.3, margin_of_error=0.4,
        items={"overall": survey_results_module._item("overall", surveys.SCALE5, {5: 1, 4: 1, 2: 1})},
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for locale in i18n.LOCALES:
            png = report.chart_png(results, template, locale, "阳光社工服务中心助老项目（南山区）")
            assert png.startswith(b"\x89PNG") and len(png) > 20_000
        pages = cards.sheet_pngs(["https://t.me/linjiang_bot?start=sabc"] * 9, "社區營造·長者服務", "2026年12月31日", "zh-Hant")
    assert len(pages) == 2
    assert not [w for w in caught if "missing from" in str(w.message)], [str(w.message) for w in caught]


@SQLITE_ONLY
async def test_opening_the_same_link_again_resumes(sessions, world) -> None:  # type: ignore[no-untyped-def]
    token, = await invite(sessions, world.project.id)
    p = Person(build_engine(sessions, SETTINGS, clock=lambda: NOW), "r9")
    await p.say(f"/start {token}")
    await p.press("5 非常满意")
    await p.press("4 满意")
    await p.say(f"/start {token}")
    assert "第 3/11 题" in p.text


async def test_invitations_sent_through_the_outbox_lose_their_token_once_sent(engine, world) -> None:  # type: ignore[no-untyped-def]
    from bot.reminders import run_once
    from dialogs.surveys.sending import send_invitations
    from store.conversations import ensure_identity
    from testing.reminder_world import app_for
    from testing.sender import FakeSender

    app = app_for(engine, telegram_username="linjiang_bot", quiet_hours="")
    async with app.sessions() as s, s.begin():
        survey = await surveys.open_survey(s, world.project.id, NOW, CLOSES)
        project = await s.get(m.Project, world.project.id)
        people = [await ensure_identity(s, "test", name, NOW) for name in ("r1", "r2")]
        assert await send_invitations(s, survey, project, people, NOW, SHANGHAI, "linjiang_bot") == 2
    async with app.sessions() as s:
        queued = list((await s.execute(select(m.OutboxMessage))).scalars())
    assert all("secret" in q.payload and "link" in q.payload["secret"] for q in queued)
    sender = FakeSender(clock=lambda: NOW)
    await run_once(app, sender, NOW)
    links = [d.text for d in sender.delivered]
    assert len(links) == 2 and all("https://t.me/linjiang_bot?start=s" in t for t in links)
    token = links[0].split("start=")[1].split()[0]
    async with app.sessions() as s:
        sent = list((await s.execute(select(m.OutboxMessage))).scalars())
        assert all(q.state == "sent" and "secret" not in q.payload for q in sent)
        assert token not in json.dumps([q.payload for q in sent])
    p = Person(build_engine(app.sessions, SETTINGS, clock=lambda: NOW), "r1")
    await p.say(f"/start {token}")  # the delivered link works
    assert "匿名" in p.text


TYPED = {  # what a person types in each language: back, leave, stay, submit, an age, a count
    "zh-Hans": ("上一题", "退出", "不，继续", "提交", "七十二岁", "大约十二次", "整数"),
    "zh-Hant": ("上一題", "退出", "不，繼續", "提交", "七十二歲", "大約十二次", "整數"),
    "en": ("back", "cancel", "No, continue", "submit", "72", "about 12", "whole number"),
}


@SQLITE_ONLY
@pytest.mark.parametrize("locale", list(TYPED))
async def test_typed_numbers_are_values_and_typed_labels_work_in_every_language(bot, sessions, world, locale) -> None:  # type: ignore[no-untyped-def]
    back, leave, stay, submit, age, count, integer_error = TYPED[locale]
    token, = await invite(sessions, world.project.id)
    p = Person(bot, "r1", locale=locale)
    await p.say(f"/start {token}")
    await p.say("5")  # needs_met: the value 5, whatever place its button has
    await p.say("1")
    await p.say(back)  # the back button's label, typed
    await p.say("2")  # attitude again
    await p.say(leave)
    assert [b.data for b in p.buttons()] == ["g:leave", "g:stay"]
    await p.say(stay)
    for score in ("3", "4", "5", "4"):
        await p.say(score)
    await p.say("很好吧")  # free text on the required overall rating
    assert "⚠️" in p.text and "1" in p.text and "5" in p.text and integer_error not in p.text
    await p.say("4")
    await p.say("8")  # recommend, 0–10: the value 8, not the eighth button
    await p.say("ok")
    await p.say(age)  # the 60–79 band
    await p.say(count)
    await p.say(submit)
    assert "g:run:query" in [b.data for b in p.buttons()]  # after the thanks, the menu
    async with sessions() as s:
        answers = {a.item: (a.value_int, a.value_text) for a in (await s.execute(select(m.SurveyAnswer))).scalars()}
    assert answers["needs_met"] == (5, None) and answers["attitude"] == (2, None) and answers["overall"] == (4, None)
    assert answers["recommend"] == (8, None) and answers["age_group"] == (None, "60_79") and answers["sessions"] == (12, None)


@SQLITE_ONLY
async def test_rating_errors_say_what_is_expected(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    token, = await invite(sessions, world.project.id)
    p = Person(bot, "r1")
    await p.say(f"/start {token}")
    await p.say("9")  # not on a 1–5 scale
    assert "1 到 5" in p.text and "非常满意" in p.text
    for _ in range(7):  # six optional ratings and the overall one
        await p.say("3")
    await p.say("11")
    assert "0 到 10" in p.text and "一定会" in p.text
