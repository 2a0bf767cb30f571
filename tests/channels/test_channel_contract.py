"""The channel contract (bot/channels/contract.py): every channel names itself and delivers replies; one
person's turns never overlap, in one process or many, with no in-process lock: the conversation row lock
is the guarantee."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.console import ConsoleChat
from bot.channels.contract import Channel
from bot.channels.telegram import CHANNEL, TelegramChannel
from bot.channels.web.socket import Hub
from dialogs.context import Context, DialogSettings, Parse
from dialogs.engine import Engine
from dialogs.flow import Flow
from dialogs.registry import all_flows
from dialogs.types import Incoming
from store.web_sessions import CHANNEL as WEB
from testing.factories import NOW


class Slow(Flow):
    """Reads a counter, waits (inside the turn's transaction), writes it back plus one."""

    name = "slow"
    commands = ("slow",)

    def __init__(self) -> None:
        self.entered: list[str] = []
        self.inside = asyncio.Event()
        self.release = asyncio.Event()

    async def start(self, ctx: Context, payload: str | None, parse: Parse | None = None) -> None:
        ctx.state.flow, ctx.state.step = self.name, "count"
        ctx.state.form.values = {"n": 0}
        ctx.say("0")

    async def handle(self, ctx: Context, msg: Incoming) -> None:
        n = ctx.state.form.values["n"]
        self.entered.append(msg.text or "")
        self.inside.set()
        await self.release.wait()
        ctx.state.form.values["n"] = n + 1
        ctx.say(str(n + 1))


async def waiting_for_a_lock(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Until a second turn waits for the first one's lock (PostgreSQL), or has had every chance to (SQLite,
    whose writer waits for the lock in short sleeps)."""
    if sessions.kw["bind"].dialect.name == "sqlite":
        for _ in range(20):
            await asyncio.sleep(0.005)
        return
    for _ in range(500):
        async with sessions() as s:
            if await s.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")):
                return
        await asyncio.sleep(0.01)  # polling for the other transaction to queue, not waiting out a clock
    raise AssertionError("the second turn never waited for the first")


async def test_turns_of_one_person_never_overlap_and_none_is_lost(sessions: async_sessionmaker[AsyncSession]) -> None:
    slow = Slow()
    engine = Engine(sessions, DialogSettings(), [*all_flows(), slow], clock=lambda: NOW)
    assert [r.text for r in await engine.handle(Incoming.from_text("test", "7", "m0", "/slow"))] == ["0"]
    first = asyncio.create_task(engine.handle(Incoming.from_text("test", "7", "m1", "a")))
    await slow.inside.wait()
    second = asyncio.create_task(engine.handle(Incoming.from_text("test", "7", "m2", "b")))
    await waiting_for_a_lock(sessions)
    assert slow.entered == ["a"]  # the second turn waits at the conversation row, not in the flow
    slow.release.set()
    replies = await asyncio.gather(first, second)
    assert [[r.text for r in turn] for turn in replies] == [["1"], ["2"]]  # the second saw the first's count
    assert slow.entered == ["a", "b"]


def test_every_channel_names_itself_and_delivers() -> None:
    channels: dict[str, type[Channel]] = {"console": ConsoleChat, CHANNEL: TelegramChannel, WEB: Hub}
    for name, cls in channels.items():
        assert cls.name == name and asyncio.iscoroutinefunction(cls.deliver)


async def test_one_message_delivered_twice_at_once_is_answered_by_one_turn(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The second delivery waits at the conversation row; when it gets in, the key is claimed (on PostgreSQL
    its read of the key predates the first turn's commit: it runs, finds the key claimed when it ends, and is
    rolled back) and it hands back the first turn's kept replies — the count goes up once."""
    slow = Slow()
    engine = Engine(sessions, DialogSettings(), [*all_flows(), slow], clock=lambda: NOW)
    await engine.handle(Incoming.from_text("test", "7", "m0", "/slow"))
    first = asyncio.create_task(engine.turn(Incoming.from_text("test", "7", "m1", "a")))
    await slow.inside.wait()
    again = asyncio.create_task(engine.turn(Incoming.from_text("test", "7", "m1", "a")))
    await waiting_for_a_lock(sessions)
    slow.release.set()
    one, two = await asyncio.gather(first, again)
    assert [r.text for r in one.replies] == ["1"] and one.reply_id is not None
    assert [r.text for r in two.replies] == ["1"] and two.reply_id == one.reply_id  # the same kept replies
    assert [r.text for r in await engine.handle(Incoming.from_text("test", "7", "m2", "b"))] == ["2"]
