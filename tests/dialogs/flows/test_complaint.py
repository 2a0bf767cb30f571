"""The /complain flow's own steps, pressed through the engine on SQLite and PostgreSQL: finding the
project (code, name, districts and their pages), the form's steps, filing; stale and forged presses,
typed text, the language changed midway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.fields import SKIP
from dialogs.flows.complaint import ComplaintFlow, District, DistrictPage, Districts, Pick
from dialogs.forms import Answer, Edit, Leave, Submit
from store import models as m
from testing.chat import Person
from testing.factories import NOW, World, bind_identity, build_world
from tests.dialogs.flows.saved import saved
from tests.dialogs.test_needs_complaints import identity_id

STALE = "这个按钮已经失效了"
ASK_PROJECT = "是哪个项目？"
ASK_KIND = "是什么问题？"
DESCRIPTION = "十一月的上门探访一次都没有来。"


def press(payload: Pick | District | DistrictPage | Districts | Answer | Edit | Leave | Submit) -> str:
    return payload.pack("complain")


@pytest.fixture
async def world(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[World]:
    """Two running projects in 南山区 (LJ-2026-001, LJ-2026-002) of the department staff1 works for, and
    nine more there; residents res1 and res2."""
    async with sessions() as s, s.begin():
        w = await build_world(s)
        await bind_identity(s, "test", "staff1", "staff", w.dept.id)
        for n in range(9):
            s.add(m.Project(code=f"NS-{n:03d}", year=NOW.year, title_zh=f"南山社区项目{n}",
                            catalog_item_id=w.project.catalog_item_id, organization_id=w.org.id, department_id=w.dept.id,
                            district="南山区", amount_fen=1, status="in_progress", start_on=date(NOW.year, 1, 1),
                            end_on=date(NOW.year, 12, 31)))
    yield w


async def tickets(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[int, str, str, int | None]]:
    async with sessions() as s:
        rows = (await s.execute(select(m.Ticket).order_by(m.Ticket.id))).scalars().all()
    return [(t.project_id, t.kind, t.description, t.reporter_identity_id) for t in rows]


async def at_kind(p: Person, world: World) -> None:
    await p.say("/complain")
    await p.say(world.project.code)
    assert ASK_KIND in p.text


def test_the_table_names_every_button_of_the_flow() -> None:
    assert {a: r.payload for a, r in ComplaintFlow.presses.items()} == {
        "a": Answer, "edit": Edit, "submit": Submit, "leave": Leave,
        "pick": Pick, "district": District, "page": DistrictPage, "districts": Districts}


async def test_a_resident_finds_the_project_by_code_answers_each_step_and_files(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "res1")
    await p.say("/complain")
    assert ASK_PROJECT in p.text and p.button("南山区").data == press(District("南山区"))
    await p.say(world.project.code)
    assert ASK_KIND in p.text
    assert press(Answer("kind", "objection")) not in {b.data for b in p.buttons()}  # not a project under notice
    await p.press_data(press(Answer("kind", "quality")))
    await p.say(DESCRIPTION)
    await p.press_data(press(Answer("photo", SKIP)))
    await p.press_data(press(Answer("contact", SKIP)))
    assert "请核对您要反映的问题" in p.text and world.project.code in p.text and "服务质量差" in p.text
    await p.press_data(press(Edit("kind")))
    await p.press_data(press(Answer("kind", "not_delivered")))
    assert "请核对您要反映的问题" in p.text and "服务没有提供" in p.text
    assert await tickets(sessions) == []
    await p.press_data(press(Submit()))
    assert "已收到您反映的问题，编号 TS-2026-000001" in p.text
    assert await tickets(sessions) == [(world.project.id, "not_delivered", DESCRIPTION, await identity_id(sessions, "res1"))]
    async with sessions() as s:
        told = (await s.execute(select(m.OutboxMessage.identity_id, m.OutboxMessage.kind))).all()
    assert [tuple(row) for row in told] == [(await identity_id(sessions, "staff1"), "complain.notice_staff")]


async def test_a_name_suggests_projects_to_pick(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "res1")
    await p.say("/complain")
    await p.say("助老")
    assert "您说的是哪一个" in p.text
    assert {press(Pick(world.project.id)), press(Pick(world.other_project.id))} <= {b.data for b in p.buttons()}
    await p.press_data(press(Pick(world.other_project.id)))
    assert ASK_KIND in p.text
    _, step, slots = await saved(sessions, "res1")
    assert step == "kind" and slots["form"]["values"] == {"project": world.other_project.id}


async def test_districts_and_their_pages_are_browsed_and_left(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "res1")
    await p.say("/complain")
    await p.press_data(press(District("南山区")))
    assert "南山区的项目（共 11 个）" in p.text and "第 1/2 页" in p.text
    assert p.button("下一页").data == press(DistrictPage(1))
    await p.press_data(press(DistrictPage(1)))
    assert "第 2/2 页" in p.text
    await p.press_data(press(Districts()))
    assert ASK_PROJECT in p.text
    await p.press_data(press(District("南山区")))
    await p.press_data(press(Pick(world.project.id)))
    assert ASK_KIND in p.text
    await p.press_data(press(Leave()))
    assert "已取消" in p.text
    assert await tickets(sessions) == [] and (await saved(sessions, "res1"))[:2] == (None, None)


async def test_a_press_from_a_passed_step_is_stale_and_changes_nothing(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "res1")
    await p.say("/complain")
    await p.press_data(press(DistrictPage(1)))  # no district is being browsed
    assert STALE in p.text and ASK_PROJECT in p.text
    await at_kind(p, world)
    before = await saved(sessions, "res1")
    for passed in (Pick(world.other_project.id), District("南山区"), DistrictPage(1), Districts(), Submit()):
        await p.press_data(press(passed))
        assert STALE in p.text and ASK_KIND in p.text, passed
    # the old irregular button data of the project's step, malformed values, unknown actions
    for forged in (f"complain:project:p.{world.project.id}", "complain:project:~leave", "complain:pick:x",
                   "complain:page:", "complain:zap:1"):
        await p.press_data(forged)
        assert STALE in p.text and ASK_KIND in p.text, forged
    assert await saved(sessions, "res1") == before
    await p.press_data(press(Answer("kind", "quality")))
    assert "请描述具体情况" in p.text


async def test_forged_projects_districts_and_kinds_are_not_taken(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "res1")
    await p.say("/complain")
    before = await saved(sessions, "res1")
    await p.press_data(press(Pick(999_999)))  # no such project
    assert STALE in p.text and ASK_PROJECT in p.text
    await p.press_data(press(District("不存在区")))
    assert STALE in p.text and ASK_PROJECT in p.text
    assert await saved(sessions, "res1") == before
    await p.say(world.project.code)
    await p.press_data(press(Answer("kind", "objection")))  # only about a project under public notice
    assert "⚠️" in p.text and ASK_KIND in p.text
    assert (await saved(sessions, "res1"))[1] == "kind"
    assert await tickets(sessions) == []


async def test_typed_text_where_buttons_are_wanted_is_explained(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "res1")
    await p.say("/complain")
    await p.say("   ")
    assert "请输入项目名称或编号" in p.text and ASK_PROJECT in p.text
    await p.say("完全不相干的东西")
    assert "没有找到与“完全不相干的东西”相符的项目" in p.text
    await p.say(world.project.code)
    await p.say("天气不好")
    assert "不是这里的选项" in p.text and ASK_KIND in p.text
    await p.press_data(press(Answer("kind", "quality")))
    await p.say(DESCRIPTION)
    await p.press_data(press(Answer("photo", SKIP)))
    await p.press_data(press(Answer("contact", SKIP)))
    await p.say("就这样吧")
    assert "请使用下面的按钮修改某一项或提交" in p.text and "请核对您要反映的问题" in p.text
    assert await tickets(sessions) == []


async def test_after_lang_the_step_is_asked_again_in_the_new_language(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "res1")
    await p.say("/complain")
    await p.say("/lang en")
    assert "Language set to English" in p.text and "Which project?" in p.text
    await p.say(world.project.code)
    await p.say("/lang zh-Hans")
    assert ASK_KIND in p.text and p.button("服务质量差").data == press(Answer("kind", "quality"))
