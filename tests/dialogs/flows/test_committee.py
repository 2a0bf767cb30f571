"""/review (dialogs.flows.committee), step by step through the engine on SQLite and PostgreSQL: each button of its
table, presses from steps that have passed, another department's call and project, typed text, /lang."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.buttons import Payload
from dialogs.flows.committee import (
    Brand,
    Commit,
    CommitteeFlow,
    Confirm,
    Decide,
    Draw,
    Go,
    OpenCall,
    Publish,
    Redraw,
    Results,
    Seat,
    Unavailable,
)
from dialogs.forms import Answer, Edit, Leave, Submit
from dialogs.rubrics import rubric_for
from store import models as m
from store import review
from testing.chat import Person
from testing.factories import NOW, ReviewWorld, bind_identity, build_review_world
from tests.dialogs.flows.saved import saved


@pytest.fixture
async def rw(sessions: async_sessionmaker[AsyncSession]) -> ReviewWorld:
    async with sessions() as s, s.begin():
        world = await build_review_world(s, budget_fen=60_000_000)
        await bind_identity(s, "test", "staff1", "staff", world.world.dept.id)
        await bind_identity(s, "test", "staff2", "staff", world.world.other_dept.id)
    return world


STALE = "这个按钮已经失效了。"


def press(payload: Payload) -> str:
    return payload.pack("committee")


def test_the_table_names_every_button_of_the_flow() -> None:
    assert {a: r.payload for a, r in CommitteeFlow.presses.items()} == {
        "a": Answer, "edit": Edit, "submit": Submit, "leave": Leave, "call": OpenCall, "commit": Commit,
        "draw": Draw, "redraw": Redraw, "seat": Seat, "go": Go, "results": Results, "publish": Publish,
        "decide": Decide, "confirm": Confirm, "brand": Brand, "unavail": Unavailable}


async def committee_states(sessions: async_sessionmaker[AsyncSession], call: int, stage: str) -> list[str]:
    async with sessions() as s:
        return list((await s.execute(select(m.ReviewCommittee.state).where(
            m.ReviewCommittee.call_id == call, m.ReviewCommittee.stage == stage).order_by(m.ReviewCommittee.id))).scalars())


async def score_everything(sessions: async_sessionmaker[AsyncSession], call: int, stage: str, share: float) -> None:
    """Every invited member accepts, gives each criterion ``share`` of its points, and submits."""
    criteria = rubric_for(stage).criteria
    async with sessions() as s, s.begin():
        committee = await review.current_committee(s, call, stage)
        assert committee is not None
        for member, _ in await review.committee_members(s, committee.id):
            if member.state != "invited":
                continue
            await review.answer_invitation(s, member, True, None, "e", NOW)
            for a in await review.assignments(s, member):
                for c in criteria:
                    await review.score(s, member, a.subject.id, c.code, round(c.points * share), NOW)
            await review.submit(s, member, [c.code for c in criteria], "e", NOW)


async def test_commit_plan_draw_results_and_publish(bot, sessions, rw) -> None:  # type: ignore[no-untyped-def]
    call = rw.world.call.id
    staff = Person(bot, "staff1")
    await staff.say("/review")
    assert "尚未抽取" in staff.text
    await staff.press_data(press(Commit(call, "approval")))
    assert await committee_states(sessions, call, "approval") == ["committed"]
    await staff.press_data(press(Draw(call, "approval")))
    assert "业务 2 名" in staff.text and "候补 1 名" in staff.text
    await staff.press_data(press(Seat(call, "approval", "business", "u")))
    await staff.press_data(press(Seat(call, "approval", "reserve", "d")))
    assert "业务 3 名" in staff.text and "候补 0 名" in staff.text
    await staff.press_data(press(Go(call, "approval")))
    assert "已抽取委员会" in staff.text and await committee_states(sessions, call, "approval") == ["active"]
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(m.ReviewMember)) == 6  # 3 + 1 + 1 + 1, no reserve
    await staff.press_data(press(Results(call, "approval")))
    assert "排名" in staff.text
    await staff.press_data(press(OpenCall(call)))
    await staff.press_data(press(Redraw(call, "approval")))
    assert "将替换当前委员会" in staff.text
    await staff.press_data(press(OpenCall(call)))  # back without redrawing
    await staff.press_data(press(Publish(call, "approval")))
    assert "现已公开" in staff.text and await committee_states(sessions, call, "approval") == ["published"]


async def test_decide_in_ranking_order(bot, sessions, rw) -> None:  # type: ignore[no-untyped-def]
    call = rw.world.call.id
    staff = Person(bot, "staff1")
    await staff.say("/review")
    await staff.press_data(press(Draw(call, "approval")))
    await staff.press_data(press(Go(call, "approval")))
    await score_everything(sessions, call, "approval", 0.9)
    await staff.press_data(press(Results(call, "approval")))
    approve = Decide.unpack(staff.button("立项").data.split(":", 2)[2])  # type: ignore[union-attr]
    assert approve is not None
    application = approve.application  # the one the ranking puts next
    await staff.press_data(press(Decide(call, application, "reject")))
    assert "不予立项" in staff.text and "理由" in staff.text
    await staff.say("服务设计与需求分析不匹配")
    await staff.press("提交")
    assert "已不予立项" in staff.text
    async with sessions() as s:
        row = await s.get(m.Application, application)
        assert row is not None and (row.status, row.decision_reason) == ("rejected", "服务设计与需求分析不匹配")
    nxt = next(b.data for b in staff.buttons() if b.label.startswith("✓"))
    await staff.press_data(nxt or "")
    await staff.say("20万")
    await staff.press("提交")
    assert "已立项" in staff.text
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(m.Project).where(m.Project.amount_fen == 20_000_000)) == 1


async def test_acceptance_confirm_and_brand(bot, sessions, rw) -> None:  # type: ignore[no-untyped-def]
    call = rw.world.call.id
    async with sessions() as s, s.begin():
        application = await s.get(m.Application, rw.applications[1].id)
        assert application is not None
        application.status = "approved"
        project = m.Project(code="XM-ACC-1", year=rw.world.call.year, title_zh="结项项目", catalog_item_id=rw.world.item.id,
                            organization_id=application.organization_id, department_id=rw.world.dept.id,
                            application_id=application.id, amount_fen=1, status="closing",
                            start_on=date(2027, 1, 1), end_on=date(2027, 12, 31))
        s.add(project)
    staff = Person(bot, "staff1")
    await staff.say("/review")
    await staff.press_data(press(Draw(call, "acceptance")))
    await staff.press_data(press(Go(call, "acceptance")))
    await score_everything(sessions, call, "acceptance", 0.95)
    await staff.press_data(press(Results(call, "acceptance")))
    await staff.press_data(press(Confirm(call, project.id)))
    assert "已结项" in staff.text and "优秀" in staff.text
    await staff.press_data(press(Brand(call, project.id)))
    assert "已设为品牌项目" in staff.text
    async with sessions() as s:
        done = await s.get(m.Project, project.id)
        assert done is not None and (done.status, done.grade, done.brand) == ("closed", "excellent", True)


async def test_presses_from_steps_that_have_passed(bot, sessions, rw) -> None:  # type: ignore[no-untyped-def]
    call = rw.world.call.id
    staff = Person(bot, "staff1")
    await staff.say("/review")
    await staff.press_data(press(Draw(call, "approval")))
    more = press(Seat(call, "approval", "business", "u"))
    await staff.press_data(press(Go(call, "approval")))
    await staff.press_data(more)  # the plan is drawn: its buttons are stale
    assert staff.last[0].text == STALE and "尚未抽取" in staff.last[1].text and "专家B1" in staff.last[1].text
    await staff.press_data(press(Go(call, "approval")))  # drawn twice
    assert "这个按钮已经失效了" in staff.text
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(m.ReviewCommittee)) == 1
    await staff.press_data(press(Publish(call, "approval")))
    await staff.press_data(press(Publish(call, "approval")))  # published already
    assert "这个按钮已经失效了" in staff.text and "现已公开" not in staff.text
    await staff.press_data(press(Decide(call, rw.applications[0].id, "approve")))  # not on the ranking's step
    assert "这个按钮已经失效了" in staff.text and "核定经费" not in staff.text
    await staff.press_data("committee:seat:1.approval.chef.u")  # forged: no such field
    assert "这个按钮已经失效了" in staff.text
    await staff.press_data(press(Draw(call, "acceptance")))
    before = await saved(sessions, "staff1")
    await staff.press_data(press(Seat(call, "approval", "law", "d")))  # the approval plan's, on the acceptance plan
    assert await saved(sessions, "staff1") == before
    assert "这个按钮已经失效了" in staff.text and "法律 1 名" in staff.text


async def test_another_departments_call_and_project(bot, sessions, rw) -> None:  # type: ignore[no-untyped-def]
    call = rw.world.call.id
    async with sessions() as s, s.begin():
        theirs = m.Project(code="CL-1", year=rw.world.call.year, title_zh="残联项目", catalog_item_id=rw.world.item.id,
                           organization_id=rw.world.org2.id, department_id=rw.world.other_dept.id, amount_fen=1,
                           status="closed", grade="excellent", start_on=date(2027, 1, 1), end_on=date(2027, 12, 31))
        s.add(theirs)
        own = m.Call(code="CALL-CL", year=rw.world.call.year, title_zh="残联项目指南", opens_at=NOW, closes_at=NOW + timedelta(days=20),
                     max_months=12)
        item = m.CatalogItem(year=rw.world.call.year, code="C01", level1_zh="助残服务", name_zh="康复训练",
                             department_id=rw.world.other_dept.id)
        s.add_all([own, item])
        await s.flush()
        s.add(m.CallItem(call_id=own.id, catalog_item_id=item.id))
    other = Person(bot, "staff2")
    for payload in (OpenCall(call), Draw(call, "approval"), Results(call, "approval"), Unavailable(call)):
        await other.say("/review")
        assert "残联项目指南" in other.text  # their own department's call
        await other.press_data(press(payload))
        assert "其他部门" in other.text and "尚未抽取" not in other.text, payload
    staff = Person(bot, "staff1")
    await staff.say("/review")
    await staff.press_data(press(Brand(call, theirs.id)))  # their project, with a call of ours
    assert "这个按钮已经失效了" in staff.text
    async with sessions() as s:
        kept = await s.get(m.Project, theirs.id)
        assert kept is not None and not kept.brand
        assert await s.scalar(select(func.count()).select_from(m.ReviewCommittee)) == 0


async def test_unavailable_expert_typed_text_and_lang(bot, sessions, rw) -> None:  # type: ignore[no-untyped-def]
    call = rw.world.call.id
    staff = Person(bot, "staff1")
    await staff.say("/review")
    await staff.say("抽取吧")
    assert "请使用下面的按钮操作" in staff.text and "尚未抽取" in staff.text
    await staff.press_data(press(Unavailable(call)))
    await staff.say("F1")
    await staff.say("2026-12-01 至 2026-12-20")
    await staff.press("跳过")
    await staff.press("提交")
    assert "已登记" in staff.text
    async with sessions() as s:
        away = (await s.execute(select(m.ExpertUnavailability))).scalar_one()
        assert (away.starts_on, away.ends_on) == (date(2026, 12, 1), date(2026, 12, 20))
    await staff.press_data(press(Draw(call, "approval")))
    await staff.press_data(press(Seat(call, "approval", "law", "d")))
    await staff.say("/lang en")
    assert "Seats of the Approval review committee" in staff.text and "law 0" in staff.text
    await staff.press("Draw now")  # the plan kept its seats
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(m.ReviewMember)) == 8  # 2 + 1 + 1 + 0, a reserve each
