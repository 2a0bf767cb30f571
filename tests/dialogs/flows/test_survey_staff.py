"""/surveys step by step, on both databases: every button of the flow pressed (a survey opened, invitations
made, results read), presses of a step that has passed or of another project's screen, another department's
project named in a forged button, typed text and /lang."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.context import DialogSettings
from dialogs.engine import Engine
from dialogs.flows.survey_staff import (
    CloseIn,
    Count,
    Invitations,
    ListPage,
    NewSurvey,
    OpenProject,
    Results,
    SurveyStaffFlow,
)
from dialogs.registry import build_engine
from store import models as m
from testing.chat import Person
from testing.factories import NOW, World, bind_identity, build_world

from .saved import saved

MORE_PROJECTS = 8  # with the world's own two in the department: two pages of projects


def pack(press: OpenProject | ListPage | NewSurvey | CloseIn | Invitations | Count | Results) -> str:
    return press.pack("surveys")


@pytest.fixture
async def world(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[World]:
    async with sessions() as s, s.begin():
        w = await build_world(s)
        w.other_project.department_id = w.other_dept.id
        s.add_all(
            m.Project(code=f"LJ-2026-1{n:02d}", year=NOW.year, title_zh=f"社区项目{n}", catalog_item_id=w.project.catalog_item_id,
                      organization_id=w.org.id, department_id=w.dept.id, amount_fen=10_000_000, status="in_progress",
                      start_on=date(NOW.year, 1, 1), end_on=date(NOW.year, 12, 31))
            for n in range(MORE_PROJECTS)
        )
        await bind_identity(s, "test", "staff1", "staff", w.dept.id)
    yield w


@pytest.fixture
def bot(sessions: async_sessionmaker[AsyncSession]) -> Engine:
    return build_engine(sessions, DialogSettings(bot_username="linjiang_bot"), clock=lambda: NOW)


async def written(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int, list[str]]:
    """Surveys, invitations and audit entries in the database."""
    async with sessions() as s:
        surveys = await s.scalar(select(func.count()).select_from(m.Survey))
        invitations = await s.scalar(select(func.count()).select_from(m.SurveyInvitation))
        audit = (await s.execute(select(m.AuditEntry.action).order_by(m.AuditEntry.id))).scalars().all()
    return surveys or 0, invitations or 0, list(audit)


async def on_project(staff: Person, project: m.Project) -> None:
    await staff.say("/surveys")
    await staff.press_data(pack(OpenProject(project.id)))


def test_the_table_names_every_button_of_the_flow() -> None:
    assert {a: r.payload for a, r in SurveyStaffFlow.presses.items()} == {
        "list": ListPage, "open": OpenProject, "new": NewSurvey, "close": CloseIn, "invite": Invitations,
        "count": Count, "results": Results}


async def test_every_button(bot, world, sessions) -> None:  # type: ignore[no-untyped-def]
    project = world.project
    staff = Person(bot, "staff1")
    await staff.say("/surveys")
    assert "第 1/2 页" in staff.text and staff.button("下一页").data == pack(ListPage(1))
    await staff.press_data(pack(ListPage(1)))
    assert "第 2/2 页" in staff.text
    await staff.press_data(pack(OpenProject(project.id)))
    assert project.code in staff.text and "还没有满意度测评" in staff.text
    assert staff.button("开始新测评").data == pack(NewSurvey(project.id))
    await staff.press_data(pack(NewSurvey(project.id)))
    assert "截止日期是哪天" in staff.text and staff.button("30 天后").data == pack(CloseIn(project.id, 30))
    await staff.press_data(pack(CloseIn(project.id, 30)))
    assert "已开始满意度测评" in staff.text and "2026年12月29日" in staff.text
    assert await written(sessions) == (1, 0, ["survey.open"])
    assert staff.button("生成邀请").data == pack(Invitations(project.id))
    await staff.press_data(pack(Invitations(project.id)))
    assert "要生成多少份邀请" in staff.text and staff.button("5").data == pack(Count(project.id, 5))
    await staff.press_data(pack(Count(project.id, 5)))
    assert staff.text.count("https://t.me/linjiang_bot?start=s") == 5
    assert await written(sessions) == (1, 5, ["survey.open", "survey.invite"])
    assert staff.button("返回项目").data == pack(OpenProject(project.id))
    await staff.press("返回项目")
    assert "已生成邀请 5 份" in staff.text and staff.button("查看结果").data == pack(Results(project.id))
    await staff.press_data(pack(Results(project.id)))
    assert "有效回答：0 份" in staff.text
    await staff.press("返回项目")
    await staff.press_data(pack(ListPage()))
    assert "请选择项目" in staff.text and "第 1/2 页" in staff.text


async def test_presses_of_a_step_that_has_passed(bot, world, sessions) -> None:  # type: ignore[no-untyped-def]
    project = world.project
    staff = Person(bot, "staff1")
    await on_project(staff, project)
    await staff.press_data(pack(NewSurvey(project.id)))
    await staff.press_data(pack(CloseIn(project.id, 14)))
    before = await saved(sessions, "staff1")
    assert before[1] == "project"
    for passed in (CloseIn(project.id, 60), Count(project.id, 5), NewSurvey(project.id)):
        await staff.press_data(pack(passed))  # the closing day was chosen; no count was asked; a survey is open
        assert "这个按钮已经失效了" in staff.text and "进行中的测评" in staff.text, passed
        assert await saved(sessions, "staff1") == before
    assert await written(sessions) == (1, 0, ["survey.open"])
    await staff.press_data(pack(Invitations(project.id)))
    await staff.press_data(pack(Invitations(project.id)))  # the count is being asked: shown again, unchanged
    assert "这个按钮已经失效了" in staff.text and staff.button("10").data == pack(Count(project.id, 10))
    # a screen of another project: its presses do not act on the project shown now
    await staff.say("/surveys")
    await staff.press("LJ-2026-100")  # one of the department's other projects
    await staff.press_data(pack(Invitations(project.id)))
    assert "这个按钮已经失效了" in staff.text and "还没有满意度测评" in staff.text
    assert await written(sessions) == (1, 0, ["survey.open"])


async def test_another_departments_project_and_forged_data(bot, world, sessions) -> None:  # type: ignore[no-untyped-def]
    staff = Person(bot, "staff1")
    await on_project(staff, world.project)
    for press in (OpenProject(world.other_project.id), Results(world.other_project.id)):
        await staff.press_data(pack(press))
        assert "不属于您的部门" in staff.text and world.other_project.code not in staff.text
        assert (await saved(sessions, "staff1"))[1] == "list"
    await staff.press_data(pack(OpenProject(world.project.id)))
    before = await saved(sessions, "staff1")
    for forged in ("surveys:open:abc", "surveys:close:30", "surveys:new:", "surveys:project:", "surveys:count:x.5",
                   pack(NewSurvey(world.other_project.id))):
        await staff.press_data(forged)
        assert "这个按钮已经失效了" in staff.text and world.project.code in staff.text, forged
        assert await saved(sessions, "staff1") == before
    await staff.press_data(pack(NewSurvey(world.project.id)))
    asked = await saved(sessions, "staff1")
    for forged in (pack(CloseIn(world.project.id, 999_999_999)), pack(CloseIn(world.project.id, 7))):
        await staff.press_data(forged)  # days no button offers
        assert "这个按钮已经失效了" in staff.text and "截止日期是哪天" in staff.text, forged
        assert await saved(sessions, "staff1") == asked
    assert await written(sessions) == (0, 0, [])


async def test_typed_text_and_language(bot, world, sessions) -> None:  # type: ignore[no-untyped-def]
    staff = Person(bot, "staff1")
    await staff.say("/surveys")
    await staff.say(world.project.code)
    assert "还没有满意度测评" in staff.text
    await staff.say("好的")
    assert "请使用下面的按钮" in staff.text and "还没有满意度测评" in staff.text
    await staff.press("开始新测评")
    await staff.say("昨天")
    assert "今天以后" in staff.text and (await saved(sessions, "staff1"))[1] == "close"
    await staff.say("/lang en")
    assert "Language set to English" in staff.text and "When should the survey close?" in staff.text
    assert staff.button("in 14 days").data == pack(CloseIn(world.project.id, 14))
    await staff.say("2026-12-31")
    assert "open until" in staff.text
    await staff.press("Make invitations")
    await staff.say("7")
    assert await written(sessions) == (1, 7, ["survey.open", "survey.invite"])


async def test_invitations_of_a_survey_that_has_closed(bot, world, sessions) -> None:  # type: ignore[no-untyped-def]
    staff = Person(bot, "staff1")
    await on_project(staff, world.project)
    await staff.press_data(pack(NewSurvey(world.project.id)))
    await staff.press_data(pack(CloseIn(world.project.id, 14)))
    invite = staff.button("生成邀请").data
    later = Person(build_engine(sessions, DialogSettings(), clock=lambda: NOW + timedelta(days=20)), "staff1")
    await later.press_data(invite or "")
    assert "这个按钮已经失效了" in later.text and later.button("开始新测评")
    assert await written(sessions) == (1, 0, ["survey.open"])
