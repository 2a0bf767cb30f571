"""The /progress flow's own steps, pressed through the engine on SQLite and PostgreSQL: a member's form
(project, text, photo, public, summary), the staff feed's pages; stale and forged presses, typed text,
the language changed midway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.fields import SKIP
from dialogs.flows.progress import FeedPage, ProgressFlow
from dialogs.forms import Answer, Edit, Leave, Submit
from store import models as m
from store.projects import add_progress
from testing.chat import Person
from testing.factories import World, bind_identity, build_world
from tests.dialogs.flows.saved import saved

STALE = "这个按钮已经失效了"
TEXT = "本月探访独居长者32人次，开展健康讲座2场。"


def press(payload: Answer | Edit | Submit | Leave | FeedPage) -> str:
    return payload.pack("progress")


@pytest.fixture
async def world(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[World]:
    """Members of the two organizations with a running project each (org1, org2) and of one without
    (org3); staff of the projects' department (staff1)."""
    async with sessions() as s, s.begin():
        w = await build_world(s)
        await bind_identity(s, "test", "org1", "org", w.org.id)
        await bind_identity(s, "test", "org2", "org", w.org2.id)
        await bind_identity(s, "test", "org3", "org", w.barred_org.id)
        await bind_identity(s, "test", "staff1", "staff", w.dept.id)
    yield w


async def updates(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[int, str, bool]]:
    async with sessions() as s:
        rows = (await s.execute(select(m.ProgressUpdate).order_by(m.ProgressUpdate.id))).scalars().all()
    return [(u.project_id, u.text_zh, u.public) for u in rows]


def test_the_table_names_every_button_of_the_flow() -> None:
    assert {a: r.payload for a, r in ProgressFlow.presses.items()} == {
        "a": Answer, "edit": Edit, "submit": Submit, "leave": Leave, "feed": FeedPage}
    assert FeedPage(2).pack("progress") == "progress:feed:2"  # the data of buttons already sent


async def test_a_member_answers_each_step_and_submits(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "org1")
    await p.say("/progress")
    assert "请选择要提交进展的项目" in p.text
    assert [b.data for b in p.buttons()][:1] == [press(Answer("project", str(world.project.id)))]
    await p.press_data(press(Answer("project", str(world.project.id))))
    assert "请写下这次的进展" in p.text
    await p.say(TEXT)
    assert "可以附上一张照片" in p.text
    await p.press_data(press(Answer("media", SKIP)))
    assert "这条进展要公开吗" in p.text
    await p.press_data(press(Answer("public", "yes")))
    assert "请核对这条进展" in p.text and "• 公开：是" in p.text and world.project.code in p.text
    await p.press_data(press(Edit("public")))
    assert "这条进展要公开吗" in p.text
    await p.press_data(press(Answer("public", "no")))
    assert "• 公开：否" in p.text  # the edit goes back to the summary
    assert await updates(sessions) == []
    await p.press_data(press(Submit()))
    assert "仅工作人员可见" in p.text
    assert await updates(sessions) == [(world.project.id, TEXT, False)]
    assert (await saved(sessions, "org1"))[:2] == (None, None)


async def test_leaving_the_form_saves_nothing(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "org1")
    await p.say("/progress")
    await p.press_data(press(Answer("project", str(world.project.id))))
    await p.say(TEXT)
    await p.press_data(press(Leave()))
    assert "已取消" in p.text
    assert await updates(sessions) == [] and (await saved(sessions, "org1"))[:2] == (None, None)


async def test_a_press_from_a_passed_step_is_stale_and_changes_nothing(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "org1")
    await p.say("/progress")
    await p.press_data(press(Answer("project", str(world.project.id))))
    before = await saved(sessions, "org1")
    await p.press_data(press(Answer("project", str(world.project.id))))  # the project's question again
    assert STALE in p.text and "请写下这次的进展" in p.text
    await p.press_data(press(Submit()))  # a summary's button before there is a summary
    assert STALE in p.text and "请写下这次的进展" in p.text
    await p.press_data(press(FeedPage(0)))  # staff's feed page, forged by a member
    assert STALE in p.text and "请写下这次的进展" in p.text
    for forged in ("progress:a:public", "progress:edit:", "progress:feed:x", "progress:project:1"):
        await p.press_data(forged)
        assert STALE in p.text, forged
    assert await saved(sessions, "org1") == before
    await p.say(TEXT)
    await p.press_data(press(Answer("media", SKIP)))
    await p.press_data(press(Answer("public", "yes")))
    await p.press_data(press(Submit()))
    await p.press_data(press(Submit()))  # pressed twice: the form is over
    assert STALE in p.text
    assert await updates(sessions) == [(world.project.id, TEXT, True)]


async def test_a_forged_project_of_another_organization_is_not_taken(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "org2")
    await p.say("/progress")
    await p.press_data(press(Answer("project", str(world.project.id))))  # org1's project
    assert "⚠️" in p.text and "请选择要提交进展的项目" in p.text
    assert (await saved(sessions, "org2"))[1] == "project"
    idle = Person(bot, "org3")
    await idle.say("/progress")
    assert "没有正在实施的项目" in idle.text
    await idle.press_data(press(Answer("project", str(world.project.id))))
    assert STALE in idle.text
    assert await updates(sessions) == []


async def test_typed_text_where_buttons_are_wanted_shows_the_step_again(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "org1")
    await p.say("/progress")
    await p.press_data(press(Answer("project", str(world.project.id))))
    await p.say(TEXT)
    await p.press_data(press(Answer("media", SKIP)))
    await p.press_data(press(Answer("public", "yes")))
    await p.say("好的")
    assert "请使用下面的按钮修改某一项或提交" in p.text and "请核对这条进展" in p.text
    async with sessions() as s, s.begin():
        await add_progress(s, world.project.id, reported_on=date(2026, 11, 1), text="第一次进展", public=True,
                           author_identity_id=None)
    staff = Person(bot, "staff1")
    await staff.say("/progress")
    await staff.say("下一页")  # not a button of a one-page feed: typed text
    assert "请使用下面的按钮翻页" in staff.text and "第一次进展" in staff.text
    assert await updates(sessions) == [(world.project.id, "第一次进展", True)]


async def test_staff_page_through_the_feed(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        for n in range(10):
            await add_progress(s, world.project.id, reported_on=date(2026, 11, 1 + n), text=f"第{n:02d}次进展",
                               public=n % 2 == 0, author_identity_id=None)
    staff = Person(bot, "staff1")
    await staff.say("/progress")
    assert "第 1/2 页" in staff.text and "第09次进展" in staff.text and "第01次进展" not in staff.text
    assert staff.button("下一页").data == press(FeedPage(1))
    await staff.press_data(press(FeedPage(1)))
    assert "第 2/2 页" in staff.text and "第00次进展" in staff.text
    await staff.press_data(press(FeedPage(999)))  # past the end: the last page
    assert "第 2/2 页" in staff.text
    assert await saved(sessions, "staff1") == ("progress", "feed", {"page": 1, "v": 2})
    await staff.press_data(press(Answer("project", str(world.project.id))))  # a member's form, forged by staff
    assert STALE in staff.text and "第 2/2 页" in staff.text
    assert len(await updates(sessions)) == 10


async def test_after_lang_the_step_is_asked_again_in_the_new_language(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "org1")
    await p.say("/progress")
    await p.press_data(press(Answer("project", str(world.project.id))))
    await p.say("/lang en")
    assert "Language set to English" in p.text and "Please write the update" in p.text
    async with sessions() as s, s.begin():
        await add_progress(s, world.project.id, reported_on=date(2026, 11, 1), text="第一次进展", public=True,
                           author_identity_id=None)
    staff = Person(bot, "staff1")
    await staff.say("/progress")
    await staff.say("/lang en")
    assert "Latest progress updates" in staff.text and "第一次进展" in staff.text
