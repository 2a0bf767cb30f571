"""/needs for staff (dialogs.flows.needs_review), step by step through the engine on SQLite and PostgreSQL: each
button of its table, a press from a step that has passed, a need that is not there, typed text, /lang."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.buttons import Payload
from dialogs.context import SHANGHAI
from dialogs.flows.needs_review import (
    ChoosePeriod,
    Decline,
    Export,
    Latest,
    NeedsReviewFlow,
    OpenNeed,
    Report,
    Take,
)
from store import models as m
from store.needs import create_need
from testing.chat import Person
from testing.factories import NOW, bind_identity, build_world
from tests.dialogs.flows.saved import saved

YEAR = NOW.year  # 2026: the take buttons offer this year's catalog and the next
STALE = "这个按钮已经失效了。"


@dataclass
class Filed:
    anonymous: m.Need
    consenting: m.Need
    resident: m.Identity


@pytest.fixture
async def filed(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Filed]:
    async with sessions() as s, s.begin():
        w = await build_world(s)
        await bind_identity(s, "test", "staff1", "staff", w.dept.id)
        resident = await bind_identity(s, "test", "res1", "resident", 0)
        needs = [
            await create_need(s, category=w.item.level1_zh, district="南山区", target_group="elderly",
                              description=description, media_path=None, consent=consent, identity_id=resident.id,
                              contact="tel:13800138000" if consent else None, now=NOW, zone=SHANGHAI)
            for description, consent in (("需要长者饭堂", False), ("需要上门探访", True))
        ]
    yield Filed(needs[0], needs[1], resident)


async def need_row(sessions: async_sessionmaker[AsyncSession], need: m.Need) -> m.Need:
    async with sessions() as s:
        row = await s.get(m.Need, need.id)
        assert row is not None
        return row


def press(payload: Payload) -> str:
    return payload.pack("needs")


def test_the_table_names_every_button_of_the_flow() -> None:
    assert {a: r.payload for a, r in NeedsReviewFlow.presses.items()} == {
        "period": ChoosePeriod, "report": Report, "latest": Latest, "open": OpenNeed, "take": Take,
        "decline": Decline, "export": Export}


async def test_every_button_of_the_report(bot, sessions, filed) -> None:  # type: ignore[no-untyped-def]
    staff = Person(bot, "staff1")
    await staff.say("/needs")
    assert "共收到 2 条" in staff.text and "2026年11月1日" in staff.text
    await staff.press_data(press(ChoosePeriod("year")))
    assert "2026年1月1日" in staff.text and staff.button("✓ 本年")
    await staff.press_data(press(ChoosePeriod("since")))
    assert "从哪一天开始统计" in staff.text
    await staff.say("2026-11-20")
    assert "2026年11月20日" in staff.text and "共收到 2 条" in staff.text and staff.button("✓ 自某日起")
    await staff.press_data(press(Export()))
    document = next(r.document for r in staff.last if r.document is not None)
    assert document.filename == "needs-2026-11-20-2026-11-29.xlsx" and "2 条明细" in staff.text
    await staff.press_data(press(Report()))
    assert "2026年11月20日" in staff.text  # the period chosen, kept
    await staff.press_data(press(Latest()))
    assert "最新需求（共 2 条）" in staff.text
    await staff.press_data(press(OpenNeed(filed.consenting.id)))
    assert "需要上门探访" in staff.text and "13800138000" in staff.text
    await staff.press_data(press(Take(filed.consenting.id, YEAR + 1)))
    assert f"纳入 {YEAR + 1} 年度目录" in staff.text
    row = await need_row(sessions, filed.consenting)
    assert (row.state, row.catalog_year, row.decided_at) == ("taken", YEAR + 1, NOW)
    async with sessions() as s:
        told = (await s.execute(select(m.OutboxMessage.identity_id, m.OutboxMessage.kind))).all()
    assert told == [(filed.resident.id, "needs.notice_taken")]
    await staff.press_data(press(OpenNeed(filed.anonymous.id)))
    await staff.press_data(press(Decline(filed.anonymous.id)))
    assert "不采纳的理由" in staff.text
    await staff.say("已有同类项目覆盖")
    row = await need_row(sessions, filed.anonymous)
    assert (row.state, row.decision_note) == ("declined", "已有同类项目覆盖")
    assert "已将" in staff.text and "不采纳" in staff.text


async def test_presses_from_a_step_that_has_passed_are_stale(bot, sessions, filed) -> None:  # type: ignore[no-untyped-def]
    staff = Person(bot, "staff1")
    await staff.press_data(f"g:run:needs:n{filed.anonymous.id}")  # from a link to the need
    take = staff.button(f"纳入 {YEAR} 年目录").data or ""
    await staff.press("不采纳")
    assert "不采纳的理由" in staff.text
    before = await saved(sessions, "staff1")
    await staff.press_data(take)  # the need's buttons, while its reason is being written
    assert await saved(sessions, "staff1") == before
    assert staff.last[0].text == STALE and "不采纳的理由" in staff.last[1].text
    assert (await need_row(sessions, filed.anonymous)).state == "new"
    await staff.say("已有同类项目覆盖")  # still the reason: the state did not move
    assert (await need_row(sessions, filed.anonymous)).state == "declined"
    await staff.press_data(take)  # decided since
    assert "已经处理过了" in staff.text and (await need_row(sessions, filed.anonymous)).state == "declined"
    await staff.press_data(press(Decline(filed.anonymous.id)))  # declined already
    assert "这个按钮已经失效了" in staff.text and "不采纳的理由" not in staff.text
    await staff.press_data(press(Take(filed.consenting.id, YEAR - 1)))  # last year's button
    assert "这个按钮已经失效了" in staff.text and (await need_row(sessions, filed.consenting)).state == "new"
    await staff.press_data("needs:take:1")  # forged: no year
    assert "这个按钮已经失效了" in staff.text


async def test_a_need_that_is_not_there(bot, sessions, filed) -> None:  # type: ignore[no-untyped-def]
    staff = Person(bot, "staff1")
    await staff.say("/needs")
    await staff.press_data(press(OpenNeed(999)))
    assert "找不到这条需求" in staff.text and "共收到 2 条" in staff.text
    await staff.press_data(press(OpenNeed(filed.anonymous.id)))
    await staff.press_data(press(Take(999, YEAR)))
    assert "找不到这条需求" in staff.text
    assert [(await need_row(sessions, n)).state for n in (filed.anonymous, filed.consenting)] == ["new", "new"]


async def test_typed_text_on_a_button_step_and_lang(bot, sessions, filed) -> None:  # type: ignore[no-untyped-def]
    staff = Person(bot, "staff1")
    await staff.say("/needs")
    await staff.press("最新需求")
    await staff.say("看看")
    assert "请使用下面的按钮" in staff.text and "最新需求（共 2 条）" in staff.text
    await staff.press_data(press(OpenNeed(filed.consenting.id)))
    await staff.press("不采纳")
    await staff.say("/lang en")
    assert "Why is it declined?" in staff.text and staff.button("Back")
    await staff.say("Already covered")  # still the reason, in English now
    assert (await need_row(sessions, filed.consenting)).decision_note == "Already covered"
