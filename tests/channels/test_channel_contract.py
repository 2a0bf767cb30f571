"""The channel contract (bot/channels/contract.py): every channel names itself and delivers replies; one
person's turns are taken one after the other, in one process or many, with no in-process lock: each ends only
on the state it read (store.conversations.TurnConnection.end), so none is lost and none is answered twice."""

from __future__ import annotations

import asyncio

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


def on_sqlite(sessions: async_sessionmaker[AsyncSession]) -> bool:
    return bool(sessions.kw["bind"].dialect.name == "sqlite")


async def second_one_in(sessions: async_sessionmaker[AsyncSession], slow: Slow) -> None:
    """Until the second turn waits for the first one's write lock (SQLite, whose writer waits in short sleeps:
    it has every chance to) or has read the same state and run beside it (PostgreSQL, where nothing is locked
    while a flow runs)."""
    if on_sqlite(sessions):
        for _ in range(20):
            await asyncio.sleep(0.005)
        assert len(slow.entered) == 1  # it waits for the lock, not in the flow
        return
    for _ in range(500):
        if len(slow.entered) == 2:
            return
        await asyncio.sleep(0.01)  # polling for the other task to get there, not waiting out a clock
    raise AssertionError("the second turn never ran")


async def test_turns_of_one_person_are_taken_one_after_the_other_and_none_is_lost(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    slow = Slow()
    engine = Engine(sessions, DialogSettings(), [*all_flows(), slow], clock=lambda: NOW)
    assert [r.text for r in await engine.handle(Incoming.from_text("test", "7", "m0", "/slow"))] == ["0"]
    first = asyncio.create_task(engine.handle(Incoming.from_text("test", "7", "m1", "a")))
    await slow.inside.wait()
    second = asyncio.create_task(engine.handle(Incoming.from_text("test", "7", "m2", "b")))
    await second_one_in(sessions, slow)
    slow.release.set()
    replies = await asyncio.gather(first, second)
    # one of them saw the other's count: the turn that read the count the other one changed ran again
    assert sorted([r.text for r in turn] for turn in replies) == [["1"], ["2"]]
    assert len(slow.entered) == (2 if on_sqlite(sessions) else 3)
    assert [r.text for r in await engine.handle(Incoming.from_text("test", "7", "m3", "c"))] == ["3"]


def test_every_channel_names_itself_and_delivers() -> None:
    channels: dict[str, type[Channel]] = {"console": ConsoleChat, CHANNEL: TelegramChannel, WEB: Hub}
    for name, cls in channels.items():
        assert cls.name == name and asyncio.iscoroutinefunction(cls.deliver)


async def test_one_message_delivered_twice_at_once_is_answered_by_one_turn(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The second delivery waits for the write lock (SQLite) or runs beside the first (PostgreSQL); the turn
    that ends second finds the key claimed, writes nothing, runs again and hands back the first turn's kept
    replies — the count goes up once."""
    slow = Slow()
    engine = Engine(sessions, DialogSettings(), [*all_flows(), slow], clock=lambda: NOW)
    await engine.handle(Incoming.from_text("test", "7", "m0", "/slow"))
    first = asyncio.create_task(engine.turn(Incoming.from_text("test", "7", "m1", "a")))
    await slow.inside.wait()
    again = asyncio.create_task(engine.turn(Incoming.from_text("test", "7", "m1", "a")))
    await second_one_in(sessions, slow)
    slow.release.set()
    one, two = await asyncio.gather(first, again)
    assert [r.text for r in one.replies] == ["1"] and one.reply_id is not None
    assert [r.text for r in two.replies] == ["1"] and two.reply_id == one.reply_id  # the same kept replies
    # SQLite: the second finds the key handled once it has the lock; PostgreSQL: it ran beside the first, and
    # its run again finds the key handled
    assert len(slow.entered) == (1 if on_sqlite(sessions) else 2)
    assert [r.text for r in await engine.handle(Incoming.from_text("test", "7", "m2", "b"))] == ["2"]
