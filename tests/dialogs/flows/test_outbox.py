"""/outbox step by step, on both databases: the two views and their pages, stale and forged presses, typed
text, /lang — and one department's staff never seeing another's people."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.flows.outbox import AllPage, OutboxFlow, ProblemsPage
from store import models as m
from testing.chat import Person
from testing.factories import NOW, World, bind_identity, build_world

from .saved import saved

WAITING = 9  # more than a page (8): the list has a second page


@pytest.fixture
async def world(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[World]:
    async with sessions() as s, s.begin():
        w = await build_world(s)
        staff1 = await bind_identity(s, "test", "staff1", "staff", w.dept.id)
        staff2 = await bind_identity(s, "test", "staff2", "staff", w.other_dept.id)
        await bind_identity(s, "test", "res1", "resident", 0)

        def message(n: int, identity: m.Identity, state: str, error: str | None = None) -> m.OutboxMessage:
            return m.OutboxMessage(
                dedup_key=f"t:{identity.external_id}:{n}", identity_id=identity.id, kind="reminder", state=state,
                attempts=0 if state == "pending" else 3, next_attempt_at=NOW + timedelta(minutes=n),
                created_at=NOW - timedelta(hours=1), last_error=error,
            )

        s.add_all(message(n, staff1, "pending") for n in range(WAITING))
        s.add(message(100, staff1, "dead", "chat not found"))
        s.add(message(101, staff2, "failed", "other department's trouble"))
    yield w


def test_the_table_names_every_button_of_the_flow() -> None:
    assert {a: r.payload for a, r in OutboxFlow.presses.items()} == {"all": AllPage, "problems": ProblemsPage}


async def test_pages_and_the_problems_view(bot, world) -> None:  # type: ignore[no-untyped-def]
    staff = Person(bot, "staff1")
    await staff.say("/outbox")
    assert "临江市民政局" in staff.text and "待发送 9" in staff.text and "无法送达 1" in staff.text
    assert "第 1/2 页" in staff.text and "other department" not in staff.text
    assert staff.button("下一页").data == AllPage(1).pack("outbox")
    await staff.press("下一页")
    assert "第 2/2 页" in staff.text and "chat not found" in staff.text  # the dead one comes last
    await staff.press("只看失败的")
    assert staff.button("全部待发消息").data == AllPage().pack("outbox")
    assert "chat not found" in staff.text and "待发送 ·" not in staff.text and "第 1/" not in staff.text
    await staff.press("全部待发消息")
    assert "第 1/2 页" in staff.text and "chat not found" not in staff.text


async def test_another_department_sees_only_its_own(bot, world) -> None:  # type: ignore[no-untyped-def]
    staff = Person(bot, "staff2")
    await staff.say("/outbox")
    assert "临江市残疾人联合会" in staff.text and "other department's trouble" in staff.text
    await staff.press_data(AllPage(1).pack("outbox"))  # a page the department does not have: its last one
    assert "chat not found" not in staff.text and "other department's trouble" in staff.text


async def test_stale_and_forged_presses(bot, world, sessions) -> None:  # type: ignore[no-untyped-def]
    staff = Person(bot, "staff1")
    await staff.say("/outbox")
    await staff.press_data(ProblemsPage().pack("outbox"))
    before = await saved(sessions, "staff1")
    assert before[1] == "problems"
    for forged in ("outbox:problems:x", "outbox:open:1", "outbox:all:1.2", "tickets:move:1.resolved"):
        await staff.press_data(forged)
        assert "这个按钮已经失效了" in staff.text and "chat not found" in staff.text, forged
        assert await saved(sessions, "staff1") == before
    resident = Person(bot, "res1")
    await resident.say("你好")
    await resident.press_data(ProblemsPage().pack("outbox"))  # not a flow the resident is in
    assert "这个按钮已经失效了" in resident.text and "chat not found" not in resident.text


async def test_typed_text_and_language(bot, world, sessions) -> None:  # type: ignore[no-untyped-def]
    staff = Person(bot, "staff1")
    await staff.say("/outbox")
    await staff.press("下一页")
    await staff.say("给我看看")
    assert "请使用下方按钮翻页或筛选" in staff.text and "第 2/2 页" in staff.text
    assert (await saved(sessions, "staff1"))[2]["page"] == 1
    await staff.say("/lang en")
    assert "Language set to English" in staff.text and "Page 2 of 2" in staff.text
    assert staff.button("Failed ones only").data == ProblemsPage().pack("outbox")
