"""The engine: routing, de-duplication, persisted state, languages, binding by code."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.context import Context, DialogSettings, Parse, State
from dialogs.engine import Engine
from dialogs.flow import Flow
from dialogs.registry import all_flows, build_engine
from dialogs.types import Incoming
from store import models as m
from store.invites import create_invite
from testing.chat import Person
from testing.factories import NOW, World, bind_identity, build_world


@pytest.fixture
async def world(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[World]:
    async with sessions() as s, s.begin():
        w = await build_world(s)
    yield w


@pytest.fixture
def bot(sessions: async_sessionmaker[AsyncSession]):  # type: ignore[no-untyped-def]
    return build_engine(sessions, DialogSettings(), clock=lambda: NOW)


async def test_start_shows_welcome_and_menu_in_the_channel_language(bot, world) -> None:  # type: ignore[no-untyped-def]
    zh = Person(bot, "1")
    await zh.say("/start")
    assert "civicbot" in zh.text and "请选择" in zh.text
    en = Person(bot, "2", locale="en")
    await en.say("/start")
    assert "Hello" in en.text
    hant = Person(bot, "3", locale="zh-hant")
    await hant.say("/menu")
    assert "請選擇" in hant.text


async def test_redelivered_incoming_is_handled_once(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    incoming = Incoming.from_text("test", "9", "same-id", "/start")
    first = await bot.handle(incoming)
    again = await bot.handle(incoming)
    assert first and again == []
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(m.HandledIncoming)) == 1


async def test_lang_command_switches_and_persists(bot, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "5")
    await p.say("/lang")
    await p.press("English")
    assert "Language set to English" in p.text
    await p.say("/menu")
    assert "What would you like to do?" in p.text
    await p.say("/lang zh-Hant")
    assert "繁體中文" in p.text


async def test_unknown_command_and_stale_button(bot, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "6")
    await p.say("/frobnicate")
    assert "/frobnicate" in p.text
    await p.press_data("apply:title:x")
    assert "失效" in p.text


async def test_binding_code_binds_once_and_confirms_replacement(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        code, _ = await create_invite(s, "org", world.org.uscc, NOW, 7)
        code2, _ = await create_invite(s, "org", world.org2.uscc, NOW, 7)
    p = Person(bot, "42")
    await p.say(f"/start {code}")
    assert "阳光社工服务中心" in p.text
    async with sessions() as s:
        ident = (await s.execute(select(m.Identity).where(m.Identity.external_id == "42"))).scalar_one()
        assert (ident.role, ident.organization_id) == ("org", world.org.id)
    other = Person(bot, "43")
    await other.say(f"/start {code}")
    assert "已经使用过" in other.text
    await p.say(f"/start {code2}")
    assert "彩虹青少年服务社" in p.text and "阳光社工服务中心" in p.text
    await p.press("保留")
    async with sessions() as s:
        ident = (await s.execute(select(m.Identity).where(m.Identity.external_id == "42"))).scalar_one()
        assert ident.organization_id == world.org.id
    await p.say(f"/start {code2}")
    await p.press("替换")
    async with sessions() as s:
        ident = (await s.execute(select(m.Identity).where(m.Identity.external_id == "42"))).scalar_one()
        assert ident.organization_id == world.org2.id


async def test_expired_and_forged_codes(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        code, _ = await create_invite(s, "staff", world.dept.code, NOW, 7)
    p = Person(bot, "77")
    await p.say("/start bAAAAAAAAAAAAAAAAAAAAAA")
    assert "无效" in p.text
    late = build_engine(sessions, DialogSettings(), clock=lambda: NOW + timedelta(days=8))
    q = Person(late, "78")
    await q.say(f"/start {code}")
    assert "过期" in q.text


async def test_staff_identity_sees_staff_menu(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        await bind_identity(s, "test", "300", "staff", world.dept.id)
    p = Person(bot, "300")
    await p.say("/menu")
    assert "工作人员菜单" in p.text



class Tally(Flow):
    """Counts in a nested slot and never moves on: only the nested value changes."""

    name = "tally"
    commands = ("tally",)

    async def start(self, ctx: Context, payload: str | None, parse: Parse | None = None) -> None:
        ctx.state.flow, ctx.state.step = self.name, "count"
        ctx.state.form.values = {"n": 0}
        ctx.say("0")

    async def handle(self, ctx: Context, msg: Incoming) -> None:
        ctx.state.form.values["n"] += 1
        ctx.say(str(ctx.state.form.values["n"]))


async def test_a_turn_writes_the_conversation_only_when_it_changed(sessions) -> None:  # type: ignore[no-untyped-def]
    """A first contact creates the identity and its conversation; a menu or a help page changes nothing
    and writes nothing to it; a step taken is saved — also when all that changed is a value nested in
    the slots. (Each save moves the conversation's version on.)"""
    bot = Engine(sessions, DialogSettings(), [*all_flows(), Tally()], clock=lambda: NOW)

    async def conversation() -> tuple[int, str | None, dict[str, object]]:
        async with sessions() as s:
            [(version, flow, slots)] = (await s.execute(
                select(m.Conversation.version, m.Conversation.flow, m.Conversation.slots)
                .join(m.Identity, m.Identity.id == m.Conversation.identity_id)
                .where(m.Identity.external_id == "newcomer"))).all()
        return version, flow, slots

    p = Person(bot, "newcomer")
    await p.say("/menu")
    assert await conversation() == (0, None, {})
    await p.say("/help")
    await p.say("/menu")
    assert await conversation() == (0, None, {})
    await p.say("/tally")
    assert await conversation() == (1, "tally", {"form": {"values": {"n": 0}}, "v": 2})
    await p.say("+")
    await p.say("+")
    assert p.text == "2" and await conversation() == (3, "tally", {"form": {"values": {"n": 2}}, "v": 2})


class CountingSessions(async_sessionmaker[AsyncSession]):
    """The engine's session factory, counting the ORM sessions it makes."""

    made = 0

    def __call__(self, **kw: Any) -> AsyncSession:
        self.made += 1
        return super().__call__(**kw)


async def test_a_turn_makes_an_orm_session_only_when_the_flow_needs_one(engine, world) -> None:  # type: ignore[no-untyped-def]
    """A menu or a help page is answered from the turn's own bookkeeping; a language chosen (the identity
    changed) and a flow that reads the database get a session in the turn's transaction."""
    sessions = CountingSessions(engine, expire_on_commit=False)
    bot = build_engine(sessions, DialogSettings(), clock=lambda: NOW)
    p = Person(bot, "visitor")
    await p.say("/menu")
    await p.say("/help")
    assert sessions.made == 0
    await p.say("/lang en")
    assert sessions.made == 1
    await p.say("/menu")
    assert sessions.made == 1 and "What would you like to do?" in p.text  # the language that session wrote
    await p.say("/tickets")  # their reports, read from the database
    assert sessions.made == 2


def test_a_moment_is_shown_as_its_local_day() -> None:
    """Every date shown is the local one: a UTC moment late in the evening is already the next day there."""
    ctx = Context(session=None, identity=None, state=State(), locale="zh-Hans", now=datetime(2027, 1, 6, 17, tzinfo=UTC),  # type: ignore[arg-type]
                  settings=DialogSettings(), incoming=Incoming("test", "u", "1"))
    assert ctx.day(datetime(2027, 1, 6, 17, tzinfo=UTC)) == "2027年1月7日" == ctx.day(ctx.today)
