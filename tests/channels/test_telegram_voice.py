"""Residents' flows end to end through the real aiogram client and the fake Bot API server:
a satisfaction survey from its deep link, a service need, a complaint."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from store import models as m
from store import surveys
from testing.factories import NOW, bind_identity
from testing.telegram_api import FakeTelegram
from tests.channels.test_telegram import CHANNEL, Person, Rig, make_world
from tests.channels.test_telegram import sessions as _sessions
from tests.channels.test_telegram import tg as _tg

sessions, tg = _sessions, _tg  # the same fixtures as the channel's own tests

RESIDENT = 8101


async def test_survey_from_deep_link_through_telegram_keeps_no_trace(tg: FakeTelegram, sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    world = await make_world(sessions)
    async with sessions() as s, s.begin():
        survey = await surveys.open_survey(s, world.project.id, NOW, NOW + timedelta(days=30))
        (issued,) = await surveys.create_invitations(s, survey, 1, NOW)
    rig = Rig(tg, sessions, tmp_path / "media")
    await rig.start()
    try:
        p = Person(rig, tg.user(RESIDENT))
        await p.say(f"/start {issued.token}")
        assert world.project.title_zh in p.text and "匿名" in p.text
        for _ in range(6):
            await p.press("5 非常满意")
        await p.press("4 满意")
        await p.press("9")
        await p.say("希望增加周末的活动 <b>&</b>")  # HTML in the answer is escaped on the way back
        await p.press("60–79岁")
        await p.say("12")
        assert "请核对您的回答" in p.text
        await p.press("提交")
        assert "提交成功" in p.text
        await p.say(f"/start {issued.token}")  # single use
        assert "提交成功" not in p.text and "已经" in p.text
    finally:
        await rig.stop()
    async with sessions() as s:
        answers = dict((await s.execute(select(m.SurveyAnswer.item, m.SurveyAnswer.value_int))).all())
        assert answers["overall"] == 4 and answers["recommend"] == 9
        updates = list((await s.execute(select(m.ChannelUpdate))).scalars())
        handled = list((await s.execute(select(m.HandledIncoming.key))).scalars())
        conversation = (await s.execute(select(m.Conversation))).scalar_one()
    # once handled, the channel keeps nothing of the updates (no token, no answers next to the user id):
    # a re-delivery is known by the message's key alone
    assert updates == [] and len(handled) >= 10
    assert issued.token not in json.dumps(handled)
    assert conversation.slots == {} or issued.token not in json.dumps(conversation.slots)


async def test_need_and_complaint_through_telegram(tg: FakeTelegram, sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    world = await make_world(sessions)
    async with sessions() as s, s.begin():
        staff = await bind_identity(s, CHANNEL, "9001", "staff", world.dept.id)
    rig = Rig(tg, sessions, tmp_path / "media")
    await rig.start()
    try:
        p = Person(rig, tg.user(RESIDENT))
        await p.say("/need")
        await p.press("养老服务")
        await p.press("南山区")
        await p.press("老年人")
        await p.say("小区独居老人多，附近没有长者饭堂。")
        await p.press("跳过")
        await p.press("否")
        assert "请核对您的需求建议" in p.text
        await p.press("提交")
        assert "XQ-" in p.text

        await p.say("/complain")
        await p.say(world.project.code)
        await p.press("服务质量差")
        await p.say("十一月的上门探访一次都没有来。")
        await p.press("跳过")
        await p.press("跳过")
        assert "请核对您要反映的问题" in p.text
        await p.press("提交")
        assert "TS-" in p.text
        await p.say("/tickets")
        assert "TS-" in p.text
    finally:
        await rig.stop()
    async with sessions() as s:
        need = (await s.execute(select(m.Need))).scalar_one()
        ticket = (await s.execute(select(m.Ticket))).scalar_one()
        notices = list((await s.execute(select(m.OutboxMessage))).scalars())
    assert need.identity_id is None and need.district == "南山区"
    assert ticket.project_id == world.project.id and ticket.kind == "quality"
    assert [n.identity_id for n in notices] == [staff.id]
