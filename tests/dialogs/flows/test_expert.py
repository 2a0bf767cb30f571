"""The expert's review step by step, on both databases: every button of the flow pressed (accept, decline,
open, score, comment, conflict, submit, standing conflict), presses of a step that has passed or of another
application's screen, another expert's seat named in a forged button, typed text and /lang."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.engine import Engine
from dialogs.flows.expert import (
    Answer,
    Criterion,
    DeclareConflict,
    ExpertFlow,
    OpenList,
    OpenSubject,
    Points,
    Standing,
    SubmitAll,
    WriteComment,
)
from store import models as m
from store import review
from testing.chat import Person
from testing.factories import NOW, ReviewWorld, build_review_world

from .saved import saved

CRITERIA = ("need", "design", "plan", "capacity", "budget", "innovation")


@dataclass
class Seats:
    world: ReviewWorld
    mine: int  # the seat of the expert talking
    theirs: int  # another expert's seat on the same committee
    user: str  # the talking expert's chat id (channel "telegram")
    subjects: list[int]


async def draw(sessions: async_sessionmaker[AsyncSession], accepted: bool) -> Seats:
    async with sessions() as s, s.begin():
        rw = await build_review_world(s)
        drawn = await review.draw_committee(s, rw.world.call, "approval", "t", NOW, NOW.date())
        mine, theirs = [member for member in drawn.members if member.state == "invited"][:2]
        if accepted:
            await review.answer_invitation(s, mine, True, None, "t", NOW)
        subjects = [a.subject.id for a in await review.assignments(s, mine)]
    user = next(i.external_id for i in rw.identities.values() if i.expert_id == mine.expert_id)
    return Seats(rw, mine.id, theirs.id, user, subjects)


@pytest.fixture
async def invited(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Seats]:
    yield await draw(sessions, accepted=False)


@pytest.fixture
async def accepted(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Seats]:
    yield await draw(sessions, accepted=True)


def pack(press: Answer | OpenList | OpenSubject | Criterion | Points | DeclareConflict | WriteComment | SubmitAll
         | Standing) -> str:
    return press.pack("expert")


def expert(bot: Engine, seats: Seats) -> Person:
    return Person(bot, seats.user, channel="telegram")


async def seat(sessions: async_sessionmaker[AsyncSession], member_id: int) -> m.ReviewMember:
    async with sessions() as s:
        found = await s.get(m.ReviewMember, member_id)
    assert found is not None
    return found


async def sheet(sessions: async_sessionmaker[AsyncSession], member_id: int, subject_id: int) -> tuple[
        m.ReviewSheet | None, dict[str, int]]:
    async with sessions() as s:
        found = (await s.execute(select(m.ReviewSheet).where(
            m.ReviewSheet.member_id == member_id, m.ReviewSheet.subject_id == subject_id))).scalar_one_or_none()
        scores = await review.sheet_scores(s, found.id) if found is not None else {}
    return found, scores


def test_the_table_names_every_button_of_the_flow() -> None:
    assert {a: r.payload for a, r in ExpertFlow.presses.items()} == {
        "answer": Answer, "list": OpenList, "open": OpenSubject, "crit": Criterion, "pts": Points,
        "conflict": DeclareConflict, "comment": WriteComment, "submit": SubmitAll, "standing": Standing}


async def test_accept(bot, invited, sessions) -> None:  # type: ignore[no-untyped-def]
    person = expert(bot, invited)
    await person.say("/score")
    assert "是否接受" in person.text and person.button("接受").data == pack(Answer(invited.mine, "1"))
    await person.press_data(pack(Answer(invited.mine, "1")))
    assert "感谢您接受邀请" in person.text and "共 3 项" in person.text
    assert (await seat(sessions, invited.mine)).state == "accepted"
    before = await saved(sessions, invited.user)
    await person.press_data(pack(Answer(invited.mine, "0")))  # the invitation's other button, once answered
    assert "这个按钮已经失效了" in person.text and "共 3 项" in person.text
    assert (await seat(sessions, invited.mine)).state == "accepted" and await saved(sessions, invited.user) == before


async def test_decline(bot, invited, sessions) -> None:  # type: ignore[no-untyped-def]
    person = expert(bot, invited)
    await person.say("/score")
    await person.press_data(pack(Answer(invited.mine, "0")))
    assert "谢绝的理由" in person.text and (await saved(sessions, invited.user))[1] == "decline"
    await person.say("/lang en")
    assert "Why do you decline?" in person.text
    await person.say("x")
    assert (await seat(sessions, invited.mine)).state == "invited"
    await person.say("away on business")
    declined = await seat(sessions, invited.mine)
    assert (declined.state, declined.reason) == ("declined", "away on business")


async def test_score_comment_conflict_and_submit(bot, accepted, sessions) -> None:  # type: ignore[no-untyped-def]
    first, second, third = accepted.subjects
    person = expert(bot, accepted)
    await person.say("/score")
    assert person.button("1. SB-").data == pack(OpenSubject(accepted.mine, first))
    await person.press_data(pack(OpenSubject(accepted.mine, first)))
    assert "老人需要陪伴" in person.text and person.button("需求分析").data == pack(Criterion(accepted.mine, first, "need"))
    await person.press_data(pack(Criterion(accepted.mine, first, "need")))
    assert "需求分析：打多少分" in person.text and person.button("16").data == pack(Points(accepted.mine, first, "need", 16))
    await person.press_data(pack(Points(accepted.mine, first, "need", 16)))
    assert "总分：16 / 100" in person.text
    await person.press_data(pack(Criterion(accepted.mine, first, "design")))
    await person.say("十八分")  # typed points
    assert "总分：34 / 100" in person.text
    assert (await sheet(sessions, accepted.mine, first))[1] == {"need": 16, "design": 18}
    await person.press_data(pack(WriteComment(accepted.mine, first)))
    assert "请填写评语" in person.text
    await person.say("需求分析扎实，但服务设计的细节仍需补充。")
    assert "评语已保存" in person.text
    assert (await sheet(sessions, accepted.mine, first))[0].comment == "需求分析扎实，但服务设计的细节仍需补充。"  # type: ignore[union-attr]
    await person.press_data(pack(OpenSubject(accepted.mine, second)))
    await person.press_data(pack(DeclareConflict(accepted.mine, second)))
    assert "已声明利益冲突" in person.text
    assert (await sheet(sessions, accepted.mine, second))[0].conflict  # type: ignore[union-attr]
    async with sessions() as s, s.begin():  # the rest scored as the store would have it
        member = await s.get(m.ReviewMember, accepted.mine)
        for subject in (first, third):
            for code in CRITERIA:
                await review.score(s, member, subject, code, 10, NOW)
    await person.press_data(pack(OpenList(accepted.mine)))
    assert person.button("全部提交").data == pack(SubmitAll(accepted.mine))
    await person.press_data(pack(SubmitAll(accepted.mine)))
    assert "已提交" in person.text and (await seat(sessions, accepted.mine)).state == "submitted"


async def test_standing_conflict(bot, accepted, sessions) -> None:  # type: ignore[no-untyped-def]
    person = expert(bot, accepted)
    await person.say("/score")
    await person.press_data(pack(Standing()))
    assert "是哪个机构" in person.text
    await person.say("彩虹青少年")
    assert "已记录" in person.text
    async with sessions() as s:
        declared = (await s.execute(select(m.ExpertConflict.organization_id))).scalars().all()
    assert declared == [accepted.world.world.org2.id]


async def test_presses_of_a_step_that_has_passed(bot, accepted, sessions) -> None:  # type: ignore[no-untyped-def]
    first, second, _ = accepted.subjects
    person = expert(bot, accepted)
    await person.say("/score")
    await person.press_data(pack(OpenSubject(accepted.mine, first)))
    before = await saved(sessions, accepted.user)
    for passed in (Points(accepted.mine, first, "need", 10),  # no points were asked
                   Criterion(accepted.mine, second, "need"),  # a button of another application's screen
                   SubmitAll(accepted.mine),  # the list's
                   Criterion(accepted.mine, first, "nonsense")):  # not a criterion of the rubric
        await person.press_data(pack(passed))
        assert "这个按钮已经失效了" in person.text and "老人需要陪伴" in person.text, passed
        assert await saved(sessions, accepted.user) == before
    await person.press_data(pack(Criterion(accepted.mine, first, "need")))
    asked = await saved(sessions, accepted.user)
    for passed in (Points(accepted.mine, first, "design", 10), Points(accepted.mine, second, "need", 10),
                   DeclareConflict(accepted.mine, first)):
        await person.press_data(pack(passed))
        assert "这个按钮已经失效了" in person.text and "需求分析：打多少分" in person.text, passed
        assert await saved(sessions, accepted.user) == asked
    for forged in ("expert:pts:1.2.need.x", "expert:open:abc", "expert:standing:0", "expert:press:1"):
        await person.press_data(forged)
        assert "这个按钮已经失效了" in person.text and "需求分析：打多少分" in person.text, forged
    assert (await sheet(sessions, accepted.mine, first)) == (None, {})
    assert (await sheet(sessions, accepted.mine, second)) == (None, {})


async def test_another_experts_seat(bot, accepted, sessions) -> None:  # type: ignore[no-untyped-def]
    first = accepted.subjects[0]
    person = expert(bot, accepted)
    for forged in (OpenList(accepted.theirs), OpenSubject(accepted.theirs, first)):
        await person.say("/score")
        await person.press_data(pack(forged))
        assert "这不是您的评审" in person.text and "老人需要陪伴" not in person.text
        assert (await saved(sessions, accepted.user))[0] is None
    await person.say("/score")
    await person.press_data(pack(OpenSubject(accepted.mine, first)))
    await person.press_data(pack(Criterion(accepted.mine, first, "need")))
    await person.press_data(pack(Points(accepted.theirs, first, "need", 20)))  # their seat's points: not this screen's
    assert "这个按钮已经失效了" in person.text
    await person.press_data(pack(OpenSubject(accepted.mine, 999_999)))  # not one of the committee's
    assert "没有分配给您" in person.text
    assert (await sheet(sessions, accepted.theirs, first)) == (None, {})
    assert (await seat(sessions, accepted.theirs)).state == "invited"


async def test_typed_text_and_language(bot, accepted, sessions) -> None:  # type: ignore[no-untyped-def]
    first = accepted.subjects[0]
    person = expert(bot, accepted)
    await person.say("/score")
    await person.say("你好")
    assert "请使用按钮" in person.text and "共 3 项" in person.text
    await person.press_data(pack(OpenSubject(accepted.mine, first)))
    await person.say("评语")  # a button's label typed: that button
    assert "请填写评语" in person.text and (await saved(sessions, accepted.user))[1] == "comment"
    await person.press_data(pack(OpenSubject(accepted.mine, first)))
    await person.press_data(pack(Criterion(accepted.mine, first, "need")))
    await person.say("/lang en")
    assert "Language set to English" in person.text and "Need analysis: how many points, 0 to 20?" in person.text
    assert person.button("20").data == pack(Points(accepted.mine, first, "need", 20))
    await person.say("lots")
    assert "0 to 20" in person.text and (await sheet(sessions, accepted.mine, first)) == (None, {})
