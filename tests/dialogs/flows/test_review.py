"""/applications (dialogs.flows.review), step by step through the engine on SQLite and PostgreSQL: each button
of its table, a press from a step that has passed, another department's application, typed text, /lang."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.flows.review import Act, ListPage, Open, ReviewFlow
from dialogs.forms import Answer, Edit, Leave, Submit
from store import models as m
from testing.chat import Person
from testing.factories import World, bind_identity, build_world
from tests.dialogs.flows.saved import saved
from tests.dialogs.test_flows_org_staff import add_application, other_department_item


@pytest.fixture
async def world(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[World]:
    async with sessions() as s, s.begin():
        w = await build_world(s)
        await bind_identity(s, "test", "staff1", "staff", w.dept.id)
        await bind_identity(s, "test", "staff2", "staff", w.other_dept.id)
    yield w


STALE = "这个按钮已经失效了。"


def test_the_table_names_every_button_of_the_flow() -> None:
    assert {a: r.payload for a, r in ReviewFlow.presses.items()} == {
        "a": Answer, "edit": Edit, "submit": Submit, "leave": Leave, "list": ListPage, "open": Open, "act": Act}


async def status_of(sessions: async_sessionmaker[AsyncSession], app: m.Application) -> tuple[str, str | None]:
    async with sessions() as s:
        row = await s.get(m.Application, app.id)
        assert row is not None
        return row.status, row.decision_reason


async def test_open_decide_and_page_back(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        app = await add_application(s, world, world.org, title="阳光长者探访")
        for n in range(8):
            await add_application(s, world, world.org2, title=f"彩虹第{n}号", age_days=1)
    staff = Person(bot, "staff1")
    await staff.say("/applications")
    assert "第 1/2 页" in staff.text and "彩虹第7号" not in staff.text
    await staff.press_data(ListPage(1).pack("review"))
    assert "第 2/2 页" in staff.text and "彩虹第7号" in staff.text
    await staff.press_data(Open(app.id).pack("review"))
    assert "独居老人约300人" in staff.text and staff.button("资格审查通过")
    await staff.press_data(Act(app.id, "eligible").pack("review"))
    assert "已记录：" in staff.text and await status_of(sessions, app) == ("eligible", None)
    await staff.press_data(Act(app.id, "review").pack("review"))
    assert await status_of(sessions, app) == ("under_review", None)
    await staff.press_data(Act(app.id, "reject").pack("review"))
    assert "不予立项：" in staff.text and "请写明原因" in staff.text
    await staff.say("服务设计与需求分析不匹配")
    await staff.press("提交")
    assert await status_of(sessions, app) == ("rejected", "服务设计与需求分析不匹配")
    assert "共 8 份" in staff.text and "阳光长者探访" not in staff.text  # back on the queue, without it


async def test_a_decision_pressed_after_its_step_is_stale(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        app = await add_application(s, world, world.org, title="阳光长者探访")
    staff = Person(bot, "staff1")
    await staff.say("/applications")
    await staff.press("阳光长者探访")
    eligible = staff.button("资格审查通过").data or ""
    await staff.press("资格审查不通过")
    assert "请写明原因" in staff.text
    before = await saved(sessions, "staff1")
    await staff.press_data(eligible)  # the detail's other decision, from the message before
    assert await saved(sessions, "staff1") == before
    assert staff.last[0].text == STALE and "请写明原因" in staff.last[1].text
    assert await status_of(sessions, app) == ("submitted", None)
    await staff.say("未列入本年度资质名录")  # still writing the reason: the state did not move
    assert "请确认：" in staff.text and "资格审查不通过" in staff.text
    await staff.press("提交")
    assert await status_of(sessions, app) == ("eligibility_failed", "未列入本年度资质名录")
    await staff.press_data("review:act:x.eligible")  # forged: no application id
    await staff.press_data("review:act:1.promote")  # forged: no such decision
    assert "这个按钮已经失效了" in staff.text


async def test_another_departments_application_is_refused(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        app = await add_application(s, world, world.org, title="阳光长者探访")
        theirs = await add_application(s, world, world.org2, title="彩虹康复训练", total=10_000_000,
                                       item=await other_department_item(s, world))
    other = Person(bot, "staff2")
    await other.say("/applications")
    await other.press("彩虹康复训练")
    await other.press_data(Act(app.id, "ineligible").pack("review"))
    assert "不属于您所在的部门" in other.text and "独居老人" not in other.text and "请写明原因" not in other.text
    assert "彩虹康复训练" in other.text  # the queue of their own department again
    await other.press_data(Open(app.id).pack("review"))
    assert "不属于您所在的部门" in other.text and "独居老人" not in other.text
    assert await status_of(sessions, app) == ("submitted", None)
    assert await status_of(sessions, theirs) == ("submitted", None)


async def test_typed_text_on_a_button_step_and_lang(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        await add_application(s, world, world.org, title="阳光长者探访")
    staff = Person(bot, "staff1")
    await staff.say("/applications")
    await staff.press("阳光长者探访")
    await staff.say("通过吧")
    assert "请使用下面的按钮操作" in staff.text and "独居老人约300人" in staff.text
    assert staff.button("资格审查通过")
    await staff.say("/lang en")
    assert "Need analysis" in staff.text and "独居老人约300人" in staff.text
    assert staff.button("Eligible") and staff.button("Back to the list")
