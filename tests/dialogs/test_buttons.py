"""Button routing as data: typed payloads packed and read back, a flow's dispatch table, and the engine's
one answer to every stale press."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.buttons import Payload, Stale, on, parse_id
from dialogs.context import Context, DialogSettings, Parse
from dialogs.engine import Engine
from dialogs.flow import Flow
from dialogs.registry import all_flows
from store import models as m
from testing.chat import Person
from testing.factories import NOW


@dataclass(frozen=True)
class Move(Payload, action="move", steps=("ticket",)):
    ticket: int
    target: Literal["investigating", "resolved"]


@dataclass(frozen=True)
class Page(Payload, action="page"):
    number: int = 0


@dataclass(frozen=True)
class Note(Payload, action="note"):
    item: int
    text: str


@dataclass(frozen=True)
class Ping(Payload, action="ping"):
    pass


def test_a_payload_packs_to_flow_action_values_and_reads_back_typed() -> None:
    data = Move(7, "resolved").pack("tickets")
    assert data == "tickets:move:7.resolved"
    assert Move.unpack("7.resolved") == Move(7, "resolved")
    assert Ping().pack("x") == "x:ping:" and Ping.unpack("") == Ping()
    assert Note.unpack("3.a.b.c") == Note(3, "a.b.c")  # the last value keeps the separator
    assert Page.unpack("") == Page(0) and Page.unpack("4") == Page(4)  # a default may be left out


@pytest.mark.parametrize("value", [
    "", "7", "x.resolved", "7.closed", "-1.resolved", "7.resolved.more", "１.resolved", "9999999999.resolved",
])
def test_values_that_do_not_read_are_no_payload(value: str) -> None:
    """Forged or old button data never becomes a payload: ids are small non-negative ASCII numbers, a
    Literal is one of its words, every value without a default is there."""
    assert Move.unpack(value) is None
    assert Ping.unpack("x") is None and Page.unpack("p") is None


def test_parse_id_takes_small_ascii_numbers_only() -> None:
    assert parse_id("12") == 12 and parse_id("0") == 0
    assert parse_id(None) is None and parse_id("") is None and parse_id("١٢") is None and parse_id("1" * 10) is None


def test_a_payload_holds_only_values_that_read_back() -> None:
    with pytest.raises(TypeError):
        @dataclass(frozen=True)
        class Bad(Payload, action="bad"):
            ratio: float

        Bad.unpack("1.5")
    with pytest.raises(ValueError):
        class Colon(Payload, action="a:b"):
            pass


class Desk(Flow):
    """A flow with a table: a list of pages, one ticket with moves valid on its own step, and a press whose
    handler finds its record gone after it began to answer."""

    name = "desk"
    commands = ("desk",)

    async def start(self, ctx: Context, payload: str | None, parse: Parse | None = None) -> None:
        await self.show_page(ctx, 0)

    async def show_page(self, ctx: Context, number: int) -> None:
        ctx.state.reset("list")
        ctx.state.page = number
        ctx.say(f"page {number}", [[self.button("next", Page(number + 1)), self.button("open 1", Move(1, "resolved"))],
                                   [self.button("gone", Note(5, "x"))]])

    @on(Page)
    async def paged(self, ctx: Context, press: Page) -> None:
        await self.show_page(ctx, press.number)

    @on(Move)
    async def moved(self, ctx: Context, press: Move) -> None:
        ctx.say(f"moved {press.ticket} to {press.target}")
        ctx.state.clear()

    @on(Note)
    async def noted(self, ctx: Context, press: Note) -> None:
        ctx.say("half an answer")
        ctx.state.reset("noting")
        raise Stale(press)

    async def reprompt(self, ctx: Context) -> None:
        await self.show_page(ctx, ctx.state.page or 0)


@pytest.fixture
def bot(sessions: async_sessionmaker[AsyncSession]) -> Engine:
    return Engine(sessions, DialogSettings(), [*all_flows(), Desk()], clock=lambda: NOW)


def test_a_flows_table_is_built_from_its_marked_methods() -> None:
    assert {action: route.method for action, route in Desk.presses.items()} == {
        "page": "paged", "move": "moved", "note": "noted"}


async def test_a_press_reaches_its_handler_typed(bot: Engine) -> None:
    p = Person(bot, "desk-1")
    await p.say("/desk")
    await p.press("next")
    assert p.text.startswith("page 1")
    await p.press("next")
    assert p.text.startswith("page 2")


async def test_every_kind_of_stale_press_gets_one_answer_and_the_step_again(bot: Engine, sessions) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "desk-2")
    await p.say("/desk")
    await p.press("next")
    for data in (
        "desk:move:1.resolved",  # valid only on the ticket's step, and the list is shown
        "desk:page:x",  # does not read
        "desk:nothing:1",  # no such action
        "other:page:1",  # another flow's
    ):
        await p.press_data(data)
        assert [r.text for r in p.last] == ["这个按钮已经失效了。", "page 1"], data
    async with sessions() as s:
        state = await s.scalar(select(m.Conversation.step).join(m.Identity).where(m.Identity.external_id == "desk-2"))
    assert state == "list"


async def test_a_handler_raising_stale_leaves_nothing_of_what_it_began(bot: Engine, sessions) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "desk-3")
    await p.say("/desk")
    await p.press("gone")
    assert [r.text for r in p.last] == ["这个按钮已经失效了。", "page 0"]  # not "half an answer"
    async with sessions() as s:
        step = await s.scalar(select(m.Conversation.step).join(m.Identity).where(m.Identity.external_id == "desk-3"))
    assert step == "list"  # the handler's "noting" was undone
