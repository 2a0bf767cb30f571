"""A review through Telegram (the real aiogram client against the fake Bot API server): the staff draw, the
invitations go out through the outbox, one expert declines and the reserve is invited, an expert scores with
buttons and typed Chinese numerals, staff read the ranking chart and approve within the budget."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.telegram import CHANNEL
from bot.outbox import Dispatcher
from dialogs.context import DialogSettings
from store import models as m
from store import review
from store.db import create_engine, sessionmaker
from testing.factories import NOW, bind_identity, build_review_world
from testing.telegram_api import FakeTelegram
from tests.channels.test_telegram import Person, Rig

STAFF_UID = 7001


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def sessions(sqlite_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    db = create_engine(sqlite_url)
    yield sessionmaker(db)
    await db.dispose()
CRITERIA = ("need", "design", "plan", "capacity", "budget", "innovation")


async def dispatch(rig: Rig) -> int:
    assert rig.channel is not None
    counts = await Dispatcher(rig.sessions, rig.channel.sender(), zone=DialogSettings().zone, default_locale="zh-Hans",
                              sleep=rig.time.sleep, clock=lambda: NOW).dispatch(NOW)
    return counts.sent


async def test_review_through_telegram(tg: FakeTelegram, sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        rw = await build_review_world(s, budget_fen=60_000_000)
        for ident in rw.identities.values():
            ident.channel = CHANNEL
        await bind_identity(s, CHANNEL, str(STAFF_UID), "staff", rw.world.dept.id)
        uid = {code: int(ident.external_id) for code, ident in rw.identities.items()}
    rig = Rig(tg, sessions, tmp_path / "media")
    await rig.start()
    try:
        staff = Person(rig, tg.user(STAFF_UID))
        await staff.say("/review")
        await staff.press("抽取立项评审")
        await staff.press("开始抽取")
        assert "回避 1 名" in staff.text and "与申报机构有关联" in staff.text and "专家B4" in staff.text
        assert await dispatch(rig) == 5
        invited = [code for code, u in uid.items() if any("被抽中" in (x.plain_text or "") for x in tg.messages_to(u))]
        assert len(invited) == 5 and "B4" not in invited

        def person(code: str) -> Person:
            p = Person(rig, tg.user(uid[code]))
            p.last = [x for x in tg.messages_to(uid[code]) if "被抽中" in (x.plain_text or "")][-1:]
            return p

        law = next(c for c in invited if c.startswith("L"))
        decliner = person(law)
        await decliner.press("谢绝")
        await decliner.say("出差")
        assert "候补" in decliner.text
        assert await dispatch(rig) == 1
        reserve = next(c for c in ("L1", "L2") if c != law)
        accepted = [c for c in invited if c != law] + [reserve]
        for code in accepted:
            p = person(code)
            await p.press("接受")
            assert "感谢您接受邀请" in p.text
        # one expert scores all three applications in chat: buttons, then a typed Chinese numeral
        scorer = person(accepted[0])
        for n in (1, 2, 3):
            await scorer.say("/score")
            await scorer.press(f"{n}. SB-")
            for k, label in enumerate(("需求分析", "目标与服务设计", "实施计划与风险", "机构能力", "预算合理性",
                                       "创新与可持续性")):
                await scorer.press(label)
                if k == 0:
                    await scorer.say("十八分")
                else:
                    await scorer.press(scorer.last[-1].buttons[1]["text"])
        await scorer.say("/score")
        await scorer.press("全部提交")
        assert "已提交" in scorer.text
        async with sessions() as s, s.begin():  # the other four score through the store, as in a long session
            for code in accepted[1:]:
                expert_id = (await s.execute(select(m.Expert.id).where(m.Expert.code == code))).scalar_one()
                member = (await s.execute(select(m.ReviewMember).where(m.ReviewMember.expert_id == expert_id,
                                                                       m.ReviewMember.state == "accepted"))).scalar_one()
                for a in await review.assignments(s, member):
                    for c in CRITERIA:
                        await review.score(s, member, a.subject.id, c, 10, NOW)
                await review.submit(s, member, CRITERIA, "t", NOW)
        await staff.say("/review")
        await staff.press("立项评审结果")
        assert any(x.method == "sendPhoto" and x.media for x in staff.last), [x.method for x in staff.last]
        await staff.press("立项")
        await staff.say("70万")
        assert "不得超过申请金额" in staff.text
        await staff.say("30万")
        await staff.press("提交")
        assert "公示至" in staff.text and "剩余预算" in staff.text
    finally:
        await rig.stop()
