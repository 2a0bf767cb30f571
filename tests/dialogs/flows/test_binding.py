"""Binding with a code step by step, on both databases: replacing or keeping a binding, a confirmation pressed
after it was answered, forged presses, a code used up while it was being confirmed, typed text, /lang."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.flows.binding import BindingFlow, Confirm
from store import models as m
from store.invites import create_invite
from testing.chat import Person
from testing.factories import NOW, World, bind_identity, build_world

from .saved import saved

YES, NO = Confirm("yes").pack("bind"), Confirm("no").pack("bind")


@dataclass
class Codes:
    world: World
    org2: str  # a code binding to the second organization
    invite: int  # its invite's id


@pytest.fixture
async def codes(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Codes]:
    async with sessions() as s, s.begin():
        w = await build_world(s)
        await bind_identity(s, "test", "org1", "org", w.org.id)
        code, invite = await create_invite(s, "org", w.org2.uscc, NOW, 7)
    yield Codes(w, code, invite.id)


async def bound_to(sessions: async_sessionmaker[AsyncSession], user_id: str) -> int | None:
    async with sessions() as s:
        return await s.scalar(select(m.Identity.organization_id).where(m.Identity.external_id == user_id))


async def used(sessions: async_sessionmaker[AsyncSession], invite_id: int) -> bool:
    async with sessions() as s:
        return await s.scalar(select(m.Invite.used_at).where(m.Invite.id == invite_id)) is not None


def test_the_table_names_every_button_of_the_flow() -> None:
    assert {a: r.payload for a, r in BindingFlow.presses.items()} == {"confirm": Confirm}


async def test_replace(bot, codes, sessions) -> None:  # type: ignore[no-untyped-def]
    member = Person(bot, "org1")
    await member.say(f"/start {codes.org2}")
    assert "阳光社工服务中心" in member.text and "彩虹青少年服务社" in member.text
    assert member.button("替换").data == YES
    await member.press_data(YES)
    assert "绑定成功" in member.text and "彩虹青少年服务社" in member.text
    assert await bound_to(sessions, "org1") == codes.world.org2.id and await used(sessions, codes.invite)
    assert (await saved(sessions, "org1"))[0] is None


async def test_keep_then_the_confirmation_is_stale(bot, codes, sessions) -> None:  # type: ignore[no-untyped-def]
    member = Person(bot, "org1")
    await member.say(f"/start {codes.org2}")
    await member.press_data(NO)
    assert "已保留原来的绑定" in member.text
    await member.press_data(YES)  # the question was answered: its other button is stale
    assert "这个按钮已经失效了" in member.text and "绑定成功" not in member.text
    assert await bound_to(sessions, "org1") == codes.world.org.id and not await used(sessions, codes.invite)


async def test_forged_presses_leave_the_question(bot, codes, sessions) -> None:  # type: ignore[no-untyped-def]
    member = Person(bot, "org1")
    await member.say(f"/start {codes.org2}")
    before = await saved(sessions, "org1")
    assert before[:2] == ("bind", "confirm")
    for forged in ("bind:confirm:maybe", "bind:confirm:", "bind:replace:yes", f"bind:confirm:yes.{codes.invite}"):
        await member.press_data(forged)
        assert "这个按钮已经失效了" in member.text and "彩虹青少年服务社" in member.text, forged
        assert member.button("替换").data == YES
        assert await saved(sessions, "org1") == before
    assert await bound_to(sessions, "org1") == codes.world.org.id
    stranger = Person(bot, "res1")  # a confirmation of someone else's: this person has nothing to confirm
    await stranger.say("/start")
    await stranger.press_data(YES)
    assert "这个按钮已经失效了" in stranger.text and not await used(sessions, codes.invite)


async def test_code_used_up_while_confirming(bot, codes, sessions) -> None:  # type: ignore[no-untyped-def]
    member = Person(bot, "org1")
    await member.say(f"/start {codes.org2}")
    await Person(bot, "res1").say(f"/start {codes.org2}")  # a resident binds with the same code first
    assert await bound_to(sessions, "res1") == codes.world.org2.id
    await member.press_data(YES)
    assert "已经使用过" in member.text and "绑定成功" not in member.text
    assert await bound_to(sessions, "org1") == codes.world.org.id


async def test_typed_text_and_language(bot, codes, sessions) -> None:  # type: ignore[no-untyped-def]
    member = Person(bot, "org1")
    await member.say(f"/start {codes.org2}")
    before = await saved(sessions, "org1")
    await member.say("好的吧")
    assert "请确认是否替换原来的绑定" in member.text and "彩虹青少年服务社" in member.text
    assert member.button("保留原绑定").data == NO and await saved(sessions, "org1") == before
    await member.say("/lang en")
    assert "Language set to English" in member.text and "Switch to “Org 2”" in member.text
    await member.press("Replace")
    assert "Done!" in member.text and await bound_to(sessions, "org1") == codes.world.org2.id
