"""/status step by step: each button of its table, the confirmation valid on its own step only, typed text,
the language switched mid-way. (Only organizations' members reach it: the engine's role rule, and the
database allows no member without an organization.)"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.engine import Engine
from dialogs.flows.status import ConfirmWithdraw, ListPage, OpenApplication, OpenProject, StatusFlow, Withdraw
from store import models as m
from testing.chat import Person
from testing.factories import World, bind_identity, build_world
from tests.dialogs.test_flows_org_staff import add_application

STALE = "这个按钮已经失效了。"


@pytest.fixture
async def world(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[World]:
    async with sessions() as s, s.begin():
        w = await build_world(s)
        await bind_identity(s, "test", "org1", "org", w.org.id)
        await bind_identity(s, "test", "org2", "org", w.org2.id)
    yield w


def test_the_table_names_every_button_of_the_flow() -> None:
    assert {a: r.payload for a, r in StatusFlow.presses.items()} == {
        "list": ListPage, "app": OpenApplication, "project": OpenProject, "withdraw": Withdraw, "confirm": ConfirmWithdraw}


async def test_each_button_leads_to_its_screen(bot: Engine, sessions, world: World) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        app = await add_application(s, world, world.org, title="阳光长者探访", status="eligible")
    p = Person(bot, "org1")
    await p.say("/status")
    await p.press_data(OpenApplication(app.id).pack("status"))
    assert "阳光长者探访" in p.text and "办理进度" in p.text
    await p.press_data(OpenProject(world.project.id).pack("status"))
    assert world.project.code in p.text
    await p.press_data(ListPage(0).pack("status"))
    assert "阳光长者探访" in p.text and world.project.code in p.text
    await p.press_data(Withdraw(app.id).pack("status"))
    assert "确定要撤回" in p.text
    await p.press_data(ConfirmWithdraw("no").pack("status"))
    assert "没有撤回" in p.text
    async with sessions() as s:
        assert (await s.get(m.Application, app.id)).status == "eligible"


async def test_a_confirmation_pressed_off_its_step_is_stale_and_changes_nothing(bot: Engine, sessions, world: World) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        app = await add_application(s, world, world.org, title="阳光长者探访", status="eligible")
    p = Person(bot, "org1")
    await p.say("/status")
    await p.press_data(OpenApplication(app.id).pack("status"))
    await p.press_data(ConfirmWithdraw("yes").pack("status"))  # no confirmation was asked
    assert p.last[0].text == STALE and "阳光长者探访" in p.last[1].text
    await p.press_data("status:confirm:maybe")  # not one of its words
    assert p.last[0].text == STALE
    async with sessions() as s:
        assert (await s.get(m.Application, app.id)).status == "eligible"


async def test_text_points_to_the_buttons_and_a_language_switch_shows_the_screen_again(bot: Engine, world: World) -> None:
    p = Person(bot, "org1")
    await p.say("/status")
    await p.say("随便说点什么")
    assert "请使用下面的按钮" in p.text and world.project.code in p.text
    await p.say("/lang en")
    assert world.project.code in p.text and "Language set to English" in p.text
