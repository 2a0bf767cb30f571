"""The expert review in chat, through the engine on SQLite and PostgreSQL: staff draw, experts accept, decline,
declare a conflict and score, staff approve in ranking order within the budget; the notice and its reminders."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select, update

from dialogs.context import SHANGHAI, DialogSettings
from dialogs.flows.expert import Criterion, OpenSubject, parse_points
from dialogs.flows.review import Act
from dialogs.flows.tickets import Move
from dialogs.registry import build_engine
from store import models as m
from store.reminders import Schedule
from testing.chat import Person
from testing.factories import NOW, bind_identity, build_review_world

SCHEDULE = Schedule(SHANGHAI, time(9, 0))


def test_points_as_people_type_them() -> None:
    assert parse_points("85") == 85 and parse_points("85分") == 85 and parse_points("八十五") == 85
    assert parse_points("１５ 分") == 15 and parse_points("lots") is None and parse_points("8.5") is None


@pytest.fixture
async def rw(sessions):  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        world = await build_review_world(s, budget_fen=60_000_000)
        await bind_identity(s, "test", "staff1", "staff", world.world.dept.id)
        await bind_identity(s, "test", "staff2", "staff", world.world.other_dept.id)
        await bind_identity(s, "test", "org1", "org", world.world.org.id)
    return world


def expert(bot, rw, code):  # type: ignore[no-untyped-def]
    ident = rw.identities[code]
    return Person(bot, ident.external_id, channel=ident.channel)


async def invitations(sessions):  # type: ignore[no-untyped-def]
    async with sessions() as s:
        rows = (await s.execute(select(m.OutboxMessage).where(m.OutboxMessage.kind == "review_invitation")
                                .order_by(m.OutboxMessage.id))).scalars()
        return {r.identity_id: r.payload for r in rows}


async def test_whole_review_in_chat(sessions, rw) -> None:  # type: ignore[no-untyped-def]
    bot = build_engine(sessions, DialogSettings(), clock=lambda: NOW)
    other = Person(bot, "staff2")
    await other.say("/review")
    assert "其他部门" in other.text or "没有项目指南" in other.text
    staff = Person(bot, "staff1")
    await staff.say("/review")
    assert "尚未抽取" in staff.text
    await staff.press("先承诺种子")
    commitment = staff.text.splitlines()[-1]
    assert len(commitment) == 64
    await staff.say("/review")
    await staff.press("抽取立项评审")
    await staff.press("开始抽取")
    assert "回避 1 名" in staff.text and "与申报机构有关联" in staff.text
    assert commitment[:16] in staff.text  # the draw used the committed seed
    # another department's staff cannot open the call's review, even with a forged button
    await other.press_data(f"g:run:committee:c{rw.world.call.id}")
    assert "其他部门" in other.text
    # the application is the committee's now: /applications no longer approves it outside the ranking
    first_app = rw.applications[0].id
    await staff.press_data(f"g:run:review:a{first_app}")
    await staff.press_data(Act(first_app, "approve").pack("review"))
    assert "专家评审委员会" in staff.text and "/review" in staff.text
    invited = await invitations(sessions)
    by_identity = {ident.id: code for code, ident in rw.identities.items()}
    codes = sorted(by_identity[i] for i in invited)
    assert len(codes) == 5 and "B4" not in codes
    # the finance expert declines: the reserve is invited
    finance = next(c for c in codes if c.startswith("F"))
    person = expert(bot, rw, finance)
    decline = next(b for b in invited[rw.identities[finance].id]["buttons"][0] if b[0] == "expert.decline")
    await person.press_data(decline[1])
    await person.say("出差")
    assert "候补" in person.text
    invited = await invitations(sessions)
    codes = sorted(by_identity[i] for i in invited if by_identity[i] != finance)
    assert len(codes) == 5 and {"F1", "F2"} <= set(codes) | {finance}
    # everyone accepts (one from /score instead of the invitation) and scores; one declares a conflict
    people = []
    for n, code in enumerate(codes):
        person = expert(bot, rw, code)
        if n == 0:
            await person.say("/score")
            assert "是否接受" in person.text
            await person.press("接受")
        else:
            accept = next(b for b in invited[rw.identities[code].id]["buttons"][0] if b[0] == "expert.accept")
            await person.press_data(accept[1])
        assert "感谢您接受邀请" in person.text
        people.append((code, person))
    for n, (_code, person) in enumerate(people):
        for ref_n in (1, 2, 3):
            await person.say("/score")
            await person.press(f"{ref_n}. SB-")
            if n == 0 and ref_n == 2:
                stale = person.button("需求分析").data
                await person.press("声明利益冲突")
                assert "已声明利益冲突" in person.text
                await person.press_data(stale)  # a button of the application from before the conflict
                assert "这个按钮已经失效了" in person.text and "已声明利益冲突" in person.text
                shown = Criterion.unpack(stale.split(":", 2)[2])
                assert shown is not None
                await person.press_data(OpenSubject(shown.member, shown.subject).pack("expert"))  # opened again: refused
                assert "利益冲突" in person.text and "不能为其评分" in person.text
                continue
            for label in ("需求分析", "目标与服务设计", "实施计划与风险", "机构能力", "预算合理性", "创新与可持续性"):
                await person.press(label)
                if label == "需求分析" and n == 1 and ref_n == 1:
                    await person.say("25")
                    assert "超出范围" in person.text
                    await person.say("不知道")
                    assert "整数分" in person.text
                    await person.say("十八分")
                elif n == 2 and ref_n == 3 and label == "创新与可持续性":
                    await person.press_data(person.buttons()[-1].data)  # 0: the minimum needs a comment
                    assert "需要填写评语" in person.text
                else:
                    await person.press_data(person.buttons()[0].data)  # the maximum
        await person.say("/score")
        await person.press("全部提交")
        if n == 2:
            assert "提交前需要填写评语" in person.text and "SB-2027-000003" in person.text
            await person.press("3. SB-")
            await person.press("评语")
            await person.say("太短")
            assert "评语须为" in person.text
            await person.say("创新性不足，缺少可持续的资金安排和社区参与机制。")
            assert "评语已保存" in person.text
            await person.say("/score")
            await person.press("全部提交")
        assert "已提交" in person.text, person.text
    first = people[0][1]
    await first.say("/score")
    assert "不可更改" in first.text
    await staff.say("/review")
    assert "已提交评分：5 / 5 名委员" in staff.text
    await staff.press("立项评审结果")
    assert staff.last[-1].image is not None and "排名" in staff.text
    await staff.press("立项")
    await staff.say("41万")
    assert "不得超过申请金额" in staff.text
    await staff.say("30万")
    await staff.press_data(next(b.data for b in staff.buttons() if "确认" in b.label or "提交" in b.label))
    assert "公示至" in staff.text, staff.text
    async with sessions() as s:
        project = (await s.execute(select(m.Project).where(m.Project.status == "publicized"))).scalar_one()
        notice = await s.get(m.PublicNotice, project.id)
        assert notice is not None and notice.ends_on > NOW.date()
        told = (await s.execute(select(m.OutboxMessage.payload).where(m.OutboxMessage.kind == "status"))).scalars().all()
        assert [p["key"] for p in told] == ["notify.approved"]
        conflict = (await s.execute(select(m.OutboxMessage.payload)
                                    .where(m.OutboxMessage.kind == "review_conflict"))).scalar_one()
        assert conflict["values"]["reference"] == "SB-2027-000002"


async def test_unanswered_invitation_times_out_to_reserve(sessions, rw) -> None:  # type: ignore[no-untyped-def]
    from dialogs.committee import review_rules

    bot = build_engine(sessions, DialogSettings(), clock=lambda: NOW)
    staff = Person(bot, "staff1")
    await staff.say("/review")
    await staff.press("抽取立项评审")
    await staff.press("开始抽取")
    async with sessions() as s, s.begin():
        assert await review_rules(s, NOW + timedelta(hours=47), 48, SCHEDULE) == 0
    async with sessions() as s, s.begin():
        queued = await review_rules(s, NOW + timedelta(hours=49), 48, SCHEDULE)
        states = (await s.execute(select(m.ReviewMember.state))).scalars().all()
    assert states.count("timeout") == 5 and queued == 4  # law has one reserve in a pool of two (L1, L2)
    # a reserve who accepted and has not submitted is reminded once a day
    async with sessions() as s, s.begin():
        from store import review

        member = (await s.execute(select(m.ReviewMember).where(m.ReviewMember.state == "invited").limit(1))).scalar_one()
        await review.answer_invitation(s, member, True, None, "e", NOW + timedelta(hours=50))
    for hours, expected in ((60, 0), (75, 1), (80, 0), (94, 0), (100, 1)):  # 94: 08:00, before the send hour
        async with sessions() as s, s.begin():
            reminders_before = await s.scalar(select(func.count()).select_from(m.OutboxMessage)
                                              .where(m.OutboxMessage.kind == "review_reminder"))
            await review_rules(s, NOW + timedelta(hours=hours), 48, SCHEDULE)
            reminders = await s.scalar(select(func.count()).select_from(m.OutboxMessage)
                                       .where(m.OutboxMessage.kind == "review_reminder"))
        assert reminders - reminders_before == expected, hours


async def _reviewed_and_approved(s, rw, now):  # type: ignore[no-untyped-def]
    """Draw, five experts score (all 80), and approve the first application of the ranking as of ``now``."""
    from store import approval, review
    from store.workdays import WorkCalendar

    drawn = await review.draw_committee(s, rw.world.call, "approval", "t", now, now.date())
    for member in [mm for mm in drawn.members if mm.state == "invited"]:
        await review.answer_invitation(s, member, True, None, "t", now)
        for a in await review.assignments(s, member):
            for code, points in (("need", 16), ("design", 20), ("plan", 12), ("capacity", 12), ("budget", 12),
                                 ("innovation", 8 + a.subject.id % 2)):
                await review.score(s, member, a.subject.id, code, points, now)
        await review.submit(s, member, ["need", "design", "plan", "capacity", "budget", "innovation"], "t", now)
    ranked = await review.results(s, drawn.committee, 0.8)
    application = await s.get(m.Application, ranked[0].application_id)
    done = await approval.approve(s, drawn.committee, application, 20_000_000, "t", now, SHANGHAI, WorkCalendar(), 5, 0.8)
    return done.project


async def test_notice_over_national_day_objection_then_contract_reminder(sessions, rw) -> None:  # type: ignore[no-untyped-def]
    import time_machine

    from dialogs.committee import contract_reminders
    from dialogs.questions import Question, encode
    from store.tickets import move_ticket

    approved_at = datetime(2026, 9, 29, 2, 0, tzinfo=UTC)  # Tuesday; 10-01..10-08 holidays, 10-10 a workday
    with time_machine.travel(approved_at, tick=False):
        async with sessions() as s, s.begin():
            project = await _reviewed_and_approved(s, rw, datetime.now(UTC))
            code, project_id = project.code, project.id
        async with sessions() as s:
            notice = await s.get(m.PublicNotice, project_id)
            assert (notice.starts_on, notice.ends_on) == (date(2026, 9, 30), date(2026, 10, 12))
        bot = build_engine(sessions, DialogSettings())
        resident = Person(bot, "res1")
        await resident.press_data(f"g:run:query:{encode(Question('query_projects', project=code))}")
        assert "公示中" in resident.text and "2026年10月12日" in resident.text, resident.text
        assert "委员会" not in resident.text and "专家" not in resident.text  # membership staff-only until published
        async with sessions() as s, s.begin():
            from store import review

            committee = await review.current_committee(s, rw.world.call.id, "approval")
            await review.publish(s, committee, "staff", datetime.now(UTC))
        await resident.press_data(f"g:run:query:{encode(Question('query_projects', project=code))}")
        line = next(x for x in resident.text.splitlines() if "委员会" in x)
        assert line.count("专家") == 5 and "得分 81.00" in line, line
        await resident.press_data(f"g:run:query:{encode(Question('query_projects', statuses=('publicized',)))}")
        assert code in resident.text and "公示期至 2026年10月12日" in resident.text, resident.text
        await resident.press_data(f"g:run:complain:p{project_id}")
        await resident.press("对公示项目的异议")
        await resident.say("该机构去年的项目没有按时完成，不应立项。")
        await resident.press("跳过")
        await resident.press("跳过")
        await resident.press("提交")
    async with sessions() as s:
        ticket = (await s.execute(select(m.Ticket))).scalar_one()
        assert ticket.kind == "objection" and ticket.state == "received"
    last_day = datetime(2026, 10, 12, 12, 0, tzinfo=UTC)
    after = datetime(2026, 10, 13, 2, 0, tzinfo=UTC)
    with time_machine.travel(after, tick=False):
        async with sessions() as s, s.begin():
            assert await contract_reminders(s, last_day, SCHEDULE) == 0  # the notice is still running
            assert await contract_reminders(s, datetime.now(UTC), SCHEDULE) == 0  # an objection is open
            staff = (await s.execute(select(m.Identity).where(m.Identity.external_id == "staff1"))).scalar_one()
            ticket = (await s.execute(select(m.Ticket))).scalar_one()
            await move_ticket(s, ticket, "investigating", None, staff.id, datetime.now(UTC))
            assert await contract_reminders(s, datetime.now(UTC), SCHEDULE) == 0  # still open
            await move_ticket(s, ticket, "unfounded", "经核查不成立", staff.id, datetime.now(UTC))
        async with sessions() as s, s.begin():
            assert await contract_reminders(s, datetime.now(UTC), SCHEDULE) == 1
            assert await contract_reminders(s, datetime.now(UTC), SCHEDULE) == 0  # once
            payload = (await s.execute(select(m.OutboxMessage.payload)
                                       .where(m.OutboxMessage.kind == "contract_due"))).scalar_one()
            assert payload["values"]["code"] == code and payload["values"]["ended"] == {"day": "2026-10-12"}


async def test_a_second_person_binding_with_the_same_expert_code_is_refused(sessions, rw) -> None:  # type: ignore[no-untyped-def]
    from store.invites import create_invite

    async with sessions() as s, s.begin():
        code, _ = await create_invite(s, "expert", "F1", NOW, 7)
    bot = build_engine(sessions, DialogSettings(), clock=lambda: NOW)
    first, second = Person(bot, "new-expert-1"), Person(bot, "new-expert-2")
    await first.say(f"/start {code}")
    assert "专家F1" in first.text or "绑定成功" in first.text
    await second.say(f"/start {code}")
    assert "已经使用过" in second.text
    async with sessions() as s:
        bound = (await s.execute(select(m.Identity.external_id).where(m.Identity.role == "expert",
                                                                       m.Identity.channel == "test"))).scalars().all()
    assert bound == ["new-expert-1"]


async def test_standing_conflict_declared_in_chat_excludes_the_expert(sessions, rw) -> None:  # type: ignore[no-untyped-def]
    from store import review

    bot = build_engine(sessions, DialogSettings(), clock=lambda: NOW)
    person = expert(bot, rw, "M1")
    await person.say("/score")
    await person.press("长期利益冲突")
    await person.say("服务")
    assert "个机构匹配" in person.text
    await person.say("彩虹青少年")
    assert "已记录" in person.text
    async with sessions() as s, s.begin():
        drawn = await review.draw_committee(s, rw.world.call, "approval", "t", NOW, NOW.date())
        reasons = {e.code: r for e, r, _ in drawn.excluded}
    assert reasons["M1"] == "conflict" and reasons["B4"] == "affiliated"


async def test_acceptance_in_chat_confirms_grade_and_offers_brand(sessions, rw) -> None:  # type: ignore[no-untyped-def]
    from store import review

    async with sessions() as s, s.begin():
        application = await s.get(m.Application, rw.applications[1].id)
        application.status = "approved"
        s.add(m.Project(code="XM-ACC-1", year=rw.world.call.year, title_zh="结项项目", catalog_item_id=rw.world.item.id,
                        organization_id=application.organization_id, department_id=rw.world.dept.id,
                        application_id=application.id, amount_fen=1, status="closing",
                        start_on=date(2027, 1, 1), end_on=date(2027, 12, 31)))
    bot = build_engine(sessions, DialogSettings(), clock=lambda: NOW)
    staff = Person(bot, "staff1")
    await staff.say("/review")
    await staff.press("抽取结项评审")
    await staff.press("开始抽取")
    assert "评审 1 项" in staff.text
    async with sessions() as s, s.begin():
        committee = await review.current_committee(s, rw.world.call.id, "acceptance")
        for member, _ in await review.committee_members(s, committee.id):
            if member.state != "invited":
                continue
            await review.answer_invitation(s, member, True, None, "e", NOW)
            for a in await review.assignments(s, member):
                for code, points in (("output", 29), ("quality", 24), ("budget", 19), ("management", 14), ("impact", 9)):
                    await review.score(s, member, a.subject.id, code, points, NOW)
            await review.submit(s, member, ["output", "quality", "budget", "management", "impact"], "e", NOW)
    await staff.say("/review")
    await staff.press("结项评审结果")
    assert "95.00" in staff.text and "优秀" in staff.text
    await staff.press("确认等级")
    assert "绩效得分 95" in staff.text and "优秀" in staff.text
    await staff.press("品牌项目")
    assert "已设为品牌项目" in staff.text
    async with sessions() as s:
        project = (await s.execute(select(m.Project).where(m.Project.code == "XM-ACC-1"))).scalar_one()
    assert (project.status, project.grade, project.evaluation_score, project.brand) == ("closed", "excellent", 95, True)


async def _objection_filed(sessions, rw, approved_at):  # type: ignore[no-untyped-def]
    """Approve at ``approved_at`` (Tuesday before National Day: the notice ends 2026-10-12); a resident objects."""
    import time_machine

    with time_machine.travel(approved_at, tick=False):
        async with sessions() as s, s.begin():
            project = await _reviewed_and_approved(s, rw, datetime.now(UTC))
            project_id = project.id
        resident = Person(build_engine(sessions, DialogSettings()), "res1")
        await resident.press_data(f"g:run:complain:p{project_id}")
        await resident.press("对公示项目的异议")
        await resident.say("该机构去年的项目没有按时完成，不应立项。")
        for _ in range(2):
            await resident.press("跳过")
        await resident.press("提交")
    return project_id


async def test_upheld_objection_holds_the_contract_and_staff_withdraw_the_approval(sessions, rw) -> None:  # type: ignore[no-untyped-def]
    import time_machine

    from dialogs.committee import contract_reminders

    project_id = await _objection_filed(sessions, rw, datetime(2026, 9, 29, 2, 0, tzinfo=UTC))
    with time_machine.travel(datetime(2026, 10, 13, 2, 0, tzinfo=UTC), tick=False):
        bot = build_engine(sessions, DialogSettings())
        staff = Person(bot, "staff1")
        async with sessions() as s:
            ticket = (await s.execute(select(m.Ticket))).scalar_one()
        await staff.press_data(f"g:run:tickets:t{ticket.id}")
        await staff.press_data(Move(ticket.id, "investigating").pack("tickets"))
        await staff.say("正在核查")
        await staff.press_data(Move(ticket.id, "resolved").pack("tickets"))
        await staff.say("核查属实：去年项目逾期未结项")
        assert "异议已成立" in staff.text
        withdraw = staff.button("撤销立项").data
        async with sessions() as s, s.begin():
            assert await contract_reminders(s, datetime.now(UTC), SCHEDULE) == 0  # upheld: no contract reminder
        # the contract cannot be marked signed either, even with a forged button
        await staff.press_data(f"g:run:committee:k{project_id}")
        assert "异议" in staff.text
        # another department's staff cannot withdraw it
        other = Person(bot, "staff2")
        await other.press_data(f"g:run:committee:w{project_id}")
        assert "其他部门" in other.text
        await staff.press_data(withdraw)
        assert "立项已撤销" in staff.text
    async with sessions() as s:
        project = await s.get(m.Project, project_id)
        assert project.status == "terminated"
        org = (await s.execute(select(m.Identity).where(m.Identity.external_id == "org1"))).scalar_one()
        told = (await s.execute(select(m.OutboxMessage.payload).where(m.OutboxMessage.identity_id == org.id))).scalars()
        assert any(p["key"] == "notify.withdrawn" for p in told)
        audit = (await s.execute(select(m.AuditEntry).where(m.AuditEntry.action == "approval.withdraw"))).scalar_one()
        assert audit.entity_key == project.code and audit.detail["reason"] == ticket.reference


async def test_clean_notice_reminder_lets_staff_mark_the_project_contracted(sessions, rw) -> None:  # type: ignore[no-untyped-def]
    import time_machine

    from dialogs.committee import contract_reminders

    with time_machine.travel(datetime(2026, 9, 29, 2, 0, tzinfo=UTC), tick=False):
        async with sessions() as s, s.begin():
            await s.execute(update(m.Application).values(start_on=date(2026, 10, 8)))  # starts during the notice
            project = await _reviewed_and_approved(s, rw, datetime.now(UTC))
            project_id = project.id
        async with sessions() as s:
            due = await s.scalar(select(m.Milestone.due_at).where(m.Milestone.project_id == project_id,
                                                                 m.Milestone.kind == "contract_signing"))
        # the one notice rule: the contract is due the day after the 5 working days' notice, not 7 calendar days
        assert due.astimezone(SHANGHAI).date() == date(2026, 10, 13)
        staff = Person(build_engine(sessions, DialogSettings()), "staff1")
        await staff.press_data(f"g:run:committee:k{project_id}")
        assert "公示期到 2026年10月12日" in staff.text  # too early
    async with sessions() as s, s.begin():  # 08:30 on the day after the notice: before the send hour
        assert await contract_reminders(s, datetime(2026, 10, 13, 0, 30, tzinfo=UTC), SCHEDULE) == 0
    with time_machine.travel(datetime(2026, 10, 13, 2, 0, tzinfo=UTC), tick=False):
        async with sessions() as s, s.begin():
            assert await contract_reminders(s, datetime.now(UTC), SCHEDULE) == 1
            payload = (await s.execute(select(m.OutboxMessage.payload)
                                       .where(m.OutboxMessage.kind == "contract_due"))).scalar_one()
        staff = Person(build_engine(sessions, DialogSettings()), "staff1")
        await staff.press_data(payload["buttons"][0][0][1])
        assert "已标记为已签订合同" in staff.text
        await staff.press_data(payload["buttons"][0][0][1])
        assert "状态为已签约" in staff.text  # twice: said, nothing changes
    async with sessions() as s:
        project = await s.get(m.Project, project_id)
        assert project.status == "contracted"
        done = await s.scalar(select(m.Milestone.done_at).where(m.Milestone.project_id == project_id,
                                                               m.Milestone.kind == "contract_signing"))
        assert done is not None


async def test_staff_choose_seats_and_reserves_and_a_redraw_asks_first(sessions, rw) -> None:  # type: ignore[no-untyped-def]
    from store import review

    bot = build_engine(sessions, DialogSettings(), clock=lambda: NOW)
    staff = Person(bot, "staff1")
    await staff.say("/review")
    await staff.press("抽取立项评审")
    assert "业务 2 名、财务 1 名、管理 1 名、法律 1 名；每个领域候补 1 名" in staff.text
    await staff.press("业务 ＋")  # three business seats (B1-B3; B4 is affiliated)
    await staff.press("法律 −")  # no law seat
    await staff.press("候补 −")  # no reserves
    assert "业务 3 名、财务 1 名、管理 1 名、法律 0 名；每个领域候补 0 名" in staff.text
    await staff.press("开始抽取")
    assert "已抽取委员会" in staff.text
    async with sessions() as s:
        first = await review.current_committee(s, rw.world.call.id, "approval")
        members = [mm for mm, _ in await review.committee_members(s, first.id)]
    assert sorted(mm.field for mm in members) == ["business"] * 3 + ["finance", "management"]
    assert not any(mm.reserve for mm in members)
    # a redraw says what it replaces and draws nothing until confirmed
    await staff.press("重新抽取")
    assert first.code in staff.text and "确认后才会抽取" in staff.text
    async with sessions() as s:
        assert (await review.current_committee(s, rw.world.call.id, "approval")).id == first.id
    await staff.press("确认重新抽取")
    async with sessions() as s:
        second = await review.current_committee(s, rw.world.call.id, "approval")
        assert second.id != first.id and (await s.get(m.ReviewCommittee, first.id)).state == "redrawn"


async def test_staff_mark_an_expert_unavailable_in_chat_and_the_draw_excludes_them(sessions, rw) -> None:  # type: ignore[no-untyped-def]
    from store import review

    bot = build_engine(sessions, DialogSettings(), clock=lambda: NOW)
    staff = Person(bot, "staff1")
    await staff.say("/review")
    await staff.press("登记专家不可用")
    await staff.say("Z9")
    assert "没有编号为 Z9 的专家" in staff.text
    await staff.say("f1")
    await staff.say("2026-11-20 至 2026-12-20")
    await staff.press("跳过")
    await staff.press("提交")
    assert "专家F1（F1）" in staff.text and "不可用" in staff.text, staff.text
    async with sessions() as s:
        away = (await s.execute(select(m.ExpertUnavailability))).scalar_one()
        assert (away.starts_on, away.ends_on) == (date(2026, 11, 20), date(2026, 12, 20))
        assert await s.scalar(select(func.count()).select_from(m.AuditEntry)
                              .where(m.AuditEntry.action == "expert.unavailable")) == 1
    await staff.say("/review")
    await staff.press("抽取立项评审")
    await staff.press("开始抽取")
    async with sessions() as s:
        committee = await review.current_committee(s, rw.world.call.id, "approval")
        excluded = {e.code: reason for e, reason, _ in await review.committee_exclusions(s, committee.id)}
    assert excluded["F1"] == "unavailable"


async def test_acceptance_batch_takes_imported_projects_of_the_calls_items_and_year(sessions, rw) -> None:  # type: ignore[no-untyped-def]
    from store import review

    year = rw.world.call.year
    async with sessions() as s, s.begin():
        for code, project_year in (("XM-IMP-1", year), ("XM-IMP-OLD", year - 1)):  # imported: no application
            s.add(m.Project(code=code, year=project_year, title_zh="导入的结项项目", catalog_item_id=rw.world.item.id,
                            organization_id=rw.world.org.id, department_id=rw.world.dept.id, amount_fen=1,
                            status="closing", start_on=date(project_year, 1, 1), end_on=date(project_year, 12, 31)))
    staff = Person(build_engine(sessions, DialogSettings(), clock=lambda: NOW), "staff1")
    await staff.say("/review")
    await staff.press("抽取结项评审")
    await staff.press("开始抽取")
    assert "评审 1 项" in staff.text, staff.text
    async with sessions() as s:
        committee = await review.current_committee(s, rw.world.call.id, "acceptance")
        rows = await review.results(s, committee, 0.8)
    assert [r.subject_ref for r in rows] == ["XM-IMP-1"]
