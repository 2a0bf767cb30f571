"""The /tickets flow's own steps, pressed through the engine on SQLite and PostgreSQL: the lists, one
ticket, a move and its note; stale and forged presses; typed text; the language changed midway."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.flows.tickets import ListPage, MinePage, Move, Open, TicketsFlow
from dialogs.voice import normalize_contact
from store import models as m
from store.tickets import create_ticket
from testing.chat import Person
from testing.factories import NOW, World, bind_identity, build_world
from tests.dialogs.flows.saved import saved
from tests.dialogs.test_needs_complaints import identity_id

STALE = "这个按钮已经失效了"


@pytest.fixture
async def world(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[World]:
    """Staff of the project's department (staff1) and of another (staff2); a resident (res1) reported a
    problem with the department's project (ticket 1), another resident (res2) nothing."""
    async with sessions() as s, s.begin():
        w = await build_world(s)
        await bind_identity(s, "test", "staff1", "staff", w.dept.id)
        await bind_identity(s, "test", "staff2", "staff", w.other_dept.id)
        reporter = await bind_identity(s, "test", "res1", "resident", 0)
        await bind_identity(s, "test", "res2", "resident", 0)
        await create_ticket(s, project_id=w.project.id, kind="quality", description="上门探访一次都没有来",
                            media_path=None, contact=normalize_contact("13912345678"), reporter_identity_id=reporter.id, now=NOW, year=NOW.year)
    yield w


async def ticket_state(sessions: async_sessionmaker[AsyncSession], ticket_id: int = 1) -> tuple[str, list[str | None]]:
    async with sessions() as s:
        state = await s.scalar(select(m.Ticket.state).where(m.Ticket.id == ticket_id))
        notes = (await s.execute(select(m.TicketEvent.note).where(m.TicketEvent.ticket_id == ticket_id)
                                 .order_by(m.TicketEvent.id))).scalars().all()
    assert state is not None
    return state, list(notes)


async def add_tickets(sessions: async_sessionmaker[AsyncSession], world: World, reporter: str, count: int) -> None:
    reporter_id = await identity_id(sessions, reporter)
    async with sessions() as s, s.begin():
        for n in range(count):
            await create_ticket(s, project_id=world.project.id, kind="other", description=f"第{n:02d}个问题",
                                media_path=None, contact=None, reporter_identity_id=reporter_id, now=NOW, year=NOW.year)


def test_the_table_names_every_button_of_the_flow() -> None:
    assert {a: r.payload for a, r in TicketsFlow.presses.items()} == {
        "list": ListPage, "mine": MinePage, "open": Open, "move": Move}
    assert Move(7, "resolved").pack("tickets") == "tickets:move:7.resolved"  # the data of buttons already sent


async def test_staff_page_through_the_department_list_and_their_own_reports(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    await add_tickets(sessions, world, "res2", 9)
    await add_tickets(sessions, world, "staff1", 1)
    staff = Person(bot, "staff1")
    await staff.say("/tickets")
    assert "共 11 条" in staff.text and "第 1/2 页" in staff.text
    await staff.press_data(ListPage(1).pack("tickets"))
    assert "第 2/2 页" in staff.text and "共 11 条" in staff.text
    assert staff.button("我本人反映的问题").data == MinePage().pack("tickets")
    await staff.press_data(MinePage(0).pack("tickets"))
    assert "您反映的问题（共 1 条）" in staff.text and "第00个问题" in staff.text
    assert await saved(sessions, "staff1") == ("tickets", "list", {"page": 0, "mine": True, "v": 2})
    await staff.press_data(Open(11).pack("tickets"))
    assert "情况描述：第00个问题" in staff.text
    await staff.press("返回")  # back to the list it came from: their own
    assert "您反映的问题（共 1 条）" in staff.text


async def test_a_move_asks_for_a_note_then_moves_the_ticket_and_tells_the_reporter(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    staff = Person(bot, "staff1")
    await staff.press_data(Open(1).pack("tickets"))  # not pressed from the flow: the tickets flow is not open
    assert STALE in staff.text
    await staff.say("/tickets")
    await staff.press_data(Open(1).pack("tickets"))
    assert "上门探访一次都没有来" in staff.text and "13912345678" in staff.text
    assert staff.buttons()[0].data == Move(1, "investigating").pack("tickets")
    await staff.press_data(Move(1, "investigating").pack("tickets"))
    assert "请写一句处理说明" in staff.text
    assert await ticket_state(sessions) == ("received", [None])  # nothing moves before the note
    await staff.say("已联系机构核实排班。")
    assert "已改为“调查中”，已通知反映人" in staff.text
    assert {b.data for b in staff.buttons()} >= {Move(1, "resolved").pack("tickets"), Move(1, "unfounded").pack("tickets")}
    assert await ticket_state(sessions) == ("investigating", [None, "已联系机构核实排班。"])
    async with sessions() as s:
        kinds = (await s.execute(select(m.OutboxMessage.kind).where(
            m.OutboxMessage.identity_id == await identity_id(sessions, "res1")))).scalars().all()
    assert kinds == ["tickets.notice_state"]
    await staff.press_data(Move(1, "unfounded").pack("tickets"))
    await staff.say("经核实，排班正常。")
    assert await ticket_state(sessions) == ("unfounded", [None, "已联系机构核实排班。", "经核实，排班正常。"])
    assert not any(b.data and ":move:" in b.data for b in staff.buttons())  # a closed ticket moves no more


async def test_a_press_from_a_passed_step_is_stale_and_changes_nothing(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    staff = Person(bot, "staff1")
    await staff.say("/tickets t1")
    await staff.press_data(Move(1, "investigating").pack("tickets"))
    await staff.say("开始调查。")
    before = await saved(sessions, "staff1")
    await staff.press_data(Move(1, "investigating").pack("tickets"))  # the ticket's old page: it moved on since
    assert STALE in staff.text and "状态：调查中" in staff.text
    assert await saved(sessions, "staff1") == before
    await staff.press_data(Move(1, "resolved").pack("tickets"))
    assert "请写一句处理说明" in staff.text
    await staff.press_data(Move(1, "received").pack("tickets").replace("received", "closed"))  # not a state at all
    assert STALE in staff.text and "请写一句处理说明" in staff.text  # the note is still asked for
    await staff.press("返回")
    await staff.press_data(ListPage().pack("tickets"))
    listed = await saved(sessions, "staff1")
    await staff.press_data(Move(1, "resolved").pack("tickets"))  # a ticket's button on the list's step
    assert STALE in staff.text and "本部门项目的问题反映" in staff.text
    assert await saved(sessions, "staff1") == listed
    for forged in ("tickets:open:x", "tickets:open:", "tickets:list:-1", "tickets:move:1", "tickets:zap:1"):
        await staff.press_data(forged)
        assert STALE in staff.text, forged
    assert await ticket_state(sessions) == ("investigating", [None, "开始调查。"])


async def test_a_forged_id_of_another_departments_or_persons_ticket_shows_nothing(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    other = Person(bot, "staff2")
    await other.say("/tickets")
    assert "目前没有需要处理的问题反映" in other.text
    await other.say("/tickets t1")
    assert "无权查看" in other.text and "上门探访" not in other.text
    await add_tickets(sessions, world, "res2", 1)
    resident = Person(bot, "res2")
    await resident.say("/tickets")
    assert "您反映的问题（共 1 条）" in resident.text
    await resident.press_data(Open(1).pack("tickets"))
    assert "无权查看" in resident.text and "上门探访" not in resident.text
    reporter = Person(bot, "res1")
    await reporter.say("/tickets")
    await reporter.press_data(Open(1).pack("tickets"))
    assert "上门探访" in reporter.text and "13912345678" not in reporter.text  # staff see the contact, not the reporter
    assert not any(b.data and ":move:" in b.data for b in reporter.buttons())
    await reporter.press_data(Move(1, "investigating").pack("tickets"))  # a reporter moves nothing
    assert "无权查看" in reporter.text
    await reporter.say("我自己改个状态")
    assert await ticket_state(sessions) == ("received", [None])


async def test_typed_text_where_buttons_are_wanted_shows_the_step_again(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    staff = Person(bot, "staff1")
    await staff.say("/tickets t1")
    await staff.say("怎么办")
    assert "请使用下面的按钮。" in staff.text and "上门探访一次都没有来" in staff.text
    await staff.press_data(Move(1, "investigating").pack("tickets"))
    await staff.say("   ")
    assert "请写一句处理说明" in staff.text and await ticket_state(sessions) == ("received", [None])


async def test_after_lang_the_step_is_asked_again_in_the_new_language(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    staff = Person(bot, "staff1")
    await staff.say("/tickets t1")
    await staff.press_data(Move(1, "investigating").pack("tickets"))
    await staff.say("/lang en")
    assert "Language set to English" in staff.text and "Please write a short note" in staff.text
    await staff.say("Called the organization.")
    assert await ticket_state(sessions) == ("investigating", [None, "Called the organization."])
