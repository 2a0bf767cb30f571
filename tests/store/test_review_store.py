"""The expert review store on SQLite and PostgreSQL: draw and verification, invitations, sheets, results, approval."""

from __future__ import annotations

import asyncio
import secrets
import shutil
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from store import approval, review
from store import models as m
from store.db import create_engine, sessionmaker
from store.workdays import WorkCalendar, notice_period
from testing.factories import EXPERT_POOL, NOW, build_review_world

ZONE = ZoneInfo("Asia/Shanghai")
TODAY = NOW.astimezone(ZONE).date()
SMALL = {"business": 2, "finance": 1, "management": 1, "law": 1}


async def _draw(s, rw, **kw):  # type: ignore[no-untyped-def]
    return await review.draw_committee(s, rw.world.call, "approval", "staff:1", NOW, TODAY, members=SMALL, **kw)


async def test_draw_excludes_affiliated_and_unreachable_and_verifies(sessions) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        rw = await build_review_world(s)
        rw.identities["L2"].unreachable = True
        committed = await review.commit_seed(s, rw.world.call, "approval", "cli", NOW)
        result = await _draw(s, rw)
        assert result.committee.id == committed.id and result.committee.commitment == review.commitment_of(result.committee.seed)
        reasons = {e.code: r for e, r, _ in result.excluded}
        assert reasons == {"B4": "affiliated", "L2": "unreachable"}
        drawn = {rw.experts[[e.id for e in rw.experts].index(mm.expert_id)].code for mm in result.members}
        assert "B4" not in drawn and "L2" not in drawn
        sitting = [mm for mm in result.members if mm.state == "invited"]
        assert len(sitting) == 5
        statuses = set((await s.execute(select(m.Application.status))).scalars())
        assert statuses == {"under_review"}
        from store.decisions import application_history

        history = await application_history(s, rw.applications[0])
        assert [(h.action, h.detail) for h in history] == [("review", {"from": "eligible", "committee": result.committee.code})]
        assert (await review.verify(s, result.committee)).ok
        code = result.committee.code
    async with sessions() as s, s.begin():
        committee = await review.committee_by_code(s, code)
        first = (await review.committee_members(s, committee.id))[0][0]
        other = (await s.execute(select(m.Expert.id).where(m.Expert.code == "B4"))).scalar_one()
        await s.execute(update(m.ReviewMember).where(m.ReviewMember.id == first.id).values(expert_id=other))
    async with sessions() as s, s.begin():
        committee = await review.committee_by_code(s, code)
        verdict = await review.verify(s, committee)
        assert not verdict.ok and "business" in verdict.problems[0]


async def test_too_few_says_field_and_repeat_refused_redraw_audited(sessions) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        rw = await build_review_world(s)
        with pytest.raises(review.ReviewError) as too_few:
            await review.draw_committee(s, rw.world.call, "approval", "x", NOW, TODAY, members={**SMALL, "law": 3})
        assert too_few.value.code == "too_few" and too_few.value.params["field"] == "law"
        assert (await s.scalar(select(m.ReviewMember.id).limit(1))) is None
        first = await _draw(s, rw)
        with pytest.raises(review.ReviewError) as again:
            await _draw(s, rw)
        assert again.value.code == "active"
        second = await _draw(s, rw, redraw=True)
        assert first.committee.state == "redrawn" and second.committee.state == "active"
        assert second.subjects == 3
        actions = list((await s.execute(select(m.AuditEntry.action).where(m.AuditEntry.entity == "committee"))).scalars())
        assert actions.count("review.draw") == 2 and "review.redraw" in actions


async def test_decline_and_timeout_call_reserves(sessions) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        rw = await build_review_world(s)
        result = await _draw(s, rw, reserves=1)
        finance = [mm for mm in result.members if mm.field == "finance"]
        sitting = next(mm for mm in finance if mm.state == "invited")
        reserve = await review.answer_invitation(s, sitting, False, "出差", "expert", NOW)
        assert reserve is not None and reserve.expert_id != sitting.expert_id and reserve.state == "invited"
        assert sitting.state == "declined" and sitting.reason == "出差"
        law = next(mm for mm in result.members if mm.field == "law" and mm.state == "invited")
        assert await review.expire_invitations(s, NOW + timedelta(hours=47), 48) == []
        expired = await review.expire_invitations(s, NOW + timedelta(hours=49), 48)
        timed_out = [pair for pair in expired if pair[0].id == law.id]
        assert timed_out and law.state == "timeout" and timed_out[0][1] is not None


async def _score_all(s, rw, result, points):  # type: ignore[no-untyped-def]
    """Every sitting member accepts and gives each subject ``points[member index][subject index]`` on one criterion."""
    sitting = [mm for mm in result.members if mm.state == "invited"]
    subjects = [a.subject.id for a in await review.assignments(s, sitting[0])]
    for i, mm in enumerate(sitting):
        await review.answer_invitation(s, mm, True, None, "e", NOW)
        for j, subject_id in enumerate(subjects):
            value = points[i][j]
            if value is None:
                await review.declare_conflict(s, mm, subject_id, "e", NOW)
            else:
                await review.score(s, mm, subject_id, "need", value, NOW)
        await review.submit(s, mm, ["need"], "e", NOW)
    return sitting, subjects


async def test_trimmed_mean_previous_year_ranking_and_approval_within_budget(sessions) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        rw = await build_review_world(s, budget_fen=60_000_000)
        # previous year: org (applications 1 and 3) scored 60 and 70 on average 65; org2 has none
        rw.world.project.year = rw.world.call.year - 1
        rw.world.project.evaluation_score = 60
        rw.world.other_project.year = rw.world.call.year - 1
        s.add(m.Project(code="OLD-2", year=rw.world.call.year - 1, title_zh="旧", catalog_item_id=rw.world.project.catalog_item_id,
                        organization_id=rw.world.org.id, department_id=rw.world.dept.id, amount_fen=1, status="closed",
                        start_on=date(2026, 1, 1), end_on=date(2026, 12, 31), evaluation_score=70))
        result = await _draw(s, rw)
        points = [[90, 80, 70], [85, 80, 72], [70, 80, 71], [95, 80, 74], [60, None, 73]]
        sitting, subjects = await _score_all(s, rw, result, points)
        with pytest.raises(review.ReviewError) as final:
            await review.score(s, sitting[0], subjects[0], "need", 1, NOW)
        assert final.value.code == "final"
        ranked = await review.results(s, result.committee, 0.8)
        by_ref = {r.subject_ref: r for r in ranked}
        first, second, third = (by_ref[a.reference] for a in rw.applications)
        # application 1: five totals, drop 95 and 60 → (90+85+70)/3; four totals for application 2 (one conflict)
        assert first.expert_score == round(245 / 3, 2) and first.scores == 5
        assert second.expert_score == 80.0 and second.scores == 4 and second.previous_score is None
        assert third.expert_score == 72.0
        assert first.previous_score == 65.0
        assert first.ranking_score == round(0.8 * 245 / 3 + 0.2 * 65, 2)
        assert second.ranking_score == 80.0
        assert [r.subject_ref for r in ranked] == [second.subject_ref, first.subject_ref, third.subject_ref]
        assert {k: float(v) for k, v in first.criteria.items()} == {"need": 80.0}
        cal = WorkCalendar()
        apps = {a.reference: a for a in rw.applications}
        with pytest.raises(review.ReviewError) as order:
            await approval.approve(s, result.committee, apps[first.subject_ref], 1, "staff", NOW, ZONE, cal, 5, 0.8)
        assert order.value.code == "order"
        with pytest.raises(review.ReviewError) as over:
            await approval.approve(s, result.committee, apps[second.subject_ref], 30_000_001, "s", NOW, ZONE, cal, 5, 0.8)
        assert over.value.code == "over_request"
        done = await approval.approve(s, result.committee, apps[second.subject_ref], 25_000_000, "s", NOW, ZONE, cal, 5, 0.8)
        assert done.remaining_fen == 35_000_000 and done.project.status == "publicized"
        with pytest.raises(review.ReviewError) as budget:
            await approval.approve(s, result.committee, apps[first.subject_ref], 36_000_000, "s", NOW, ZONE, cal, 5, 0.8)
        assert budget.value.code == "over_budget" and budget.value.params["remaining"] == 35_000_000
        await approval.reject(s, apps[first.subject_ref], "预算不足", "s", NOW)
        assert apps[first.subject_ref].status == "rejected"


def test_notice_skips_chinese_holidays() -> None:
    # approved on Tuesday 2026-09-29: 10-01..10-08 is the National Day holiday, 10-10 (Saturday) a make-up workday
    cal = WorkCalendar()
    assert notice_period(date(2026, 9, 29), 5, cal) == (date(2026, 9, 30), date(2026, 10, 12))


@settings(max_examples=60, deadline=None)
@given(
    experts=st.lists(st.tuples(st.text("ABCDEFGH0123", min_size=1, max_size=4), st.sampled_from(m.EXPERT_FIELDS)),
                     unique_by=lambda e: e[0], min_size=4, max_size=30),
    excluded=st.sets(st.text("ABCDEFGH0123", min_size=1, max_size=4)),
    seed=st.text("0123456789abcdef", min_size=64, max_size=64),
    reserves=st.integers(0, 3),
)
def test_draw_never_picks_excluded_and_is_reproducible(experts, excluded, seed, reserves) -> None:  # type: ignore[no-untyped-def]
    pool = [e for e in experts if e[0] not in excluded]
    seats = {"business": 1, "finance": 1, "management": 0, "law": 1}
    try:
        drawn = review.draw_from(seed, pool, seats, reserves)
    except review.ReviewError as exc:
        short = exc.params["field"]
        assert sum(1 for _, f in pool if f == short) < seats[short]
        return
    picked = [code for codes in drawn.order.values() for code in codes]
    assert not set(picked) & excluded and len(picked) == len(set(picked))
    assert review.draw_from(seed, list(reversed(pool)), seats, reserves) == drawn
    fields = dict(pool)
    assert all(fields[c] == f for f, codes in drawn.order.items() for c in codes)


async def test_acceptance_committee_grades_and_closes_projects(sessions) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        rw = await build_review_world(s)
        grades = {}
        for n, application in enumerate(rw.applications):
            application.status = "approved"
            s.add(m.Project(code=f"XM-A-{n}", year=rw.world.call.year, title_zh=f"项目{n}", catalog_item_id=rw.world.item.id,
                            organization_id=application.organization_id, department_id=rw.world.dept.id,
                            application_id=application.id, amount_fen=1, status="closing",
                            start_on=date(2027, 1, 1), end_on=date(2027, 12, 31)))
        await s.flush()
        drawn = await review.draw_committee(s, rw.world.call, "acceptance", "staff", NOW, TODAY, members=SMALL)
        assert drawn.subjects == 3 and "B4" in {e.code for e, _, _ in drawn.excluded}
        sitting = [mm for mm in drawn.members if mm.state == "invited"]
        for i, member in enumerate(sitting):
            await review.answer_invitation(s, member, True, None, "e", NOW)
            for a in await review.assignments(s, member):
                points = {"XM-A-0": 95, "XM-A-1": 85, "XM-A-2": 50}[a.reference] - i % 2
                await review.score(s, member, a.subject.id, "output", points, NOW)
            await review.submit(s, member, ["output"], "e", NOW)
        ranked = await review.results(s, drawn.committee, 0.8)
        for row in ranked:
            project = await s.get(m.Project, row.project_id)
            grades[project.code] = await approval.confirm_acceptance(s, project, row.expert_score, "staff", NOW)
            assert project.status == "closed" and project.evaluation_score == round(row.expert_score)
        assert grades == {"XM-A-0": "excellent", "XM-A-1": "good", "XM-A-2": "fail"}
        with pytest.raises(review.ReviewError):
            await approval.confirm_acceptance(s, project, 70, "staff", NOW)


def test_grade_boundaries() -> None:
    assert [review.grade_of(x) for x in (100, 90, 89.9, 80, 79.5, 60, 59.99, 0)] == [
        "excellent", "excellent", "good", "good", "pass", "pass", "fail", "fail"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    flags=st.lists(st.sampled_from(("ok", "affiliated", "conflict", "unavailable", "unreachable")),
                   min_size=len(EXPERT_POOL), max_size=len(EXPERT_POOL)),
    reserves=st.integers(0, 2),
)
def test_drawn_committees_never_hold_an_excluded_expert_and_verify(sqlite_template, tmp_path, flags, reserves) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / f"h{secrets.token_hex(4)}.db"
    shutil.copyfile(sqlite_template, target)

    async def scenario() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{target}")
        try:
            async with sessionmaker(engine)() as s, s.begin():
                rw = await build_review_world(s)
                for expert, flag in zip(rw.experts, flags, strict=True):
                    if flag == "affiliated":
                        expert.affiliation_uscc = rw.world.org2.uscc
                    elif flag == "conflict":
                        s.add(m.ExpertConflict(expert_id=expert.id, organization_id=rw.world.org.id, created_at=NOW))
                    elif flag == "unavailable":
                        s.add(m.ExpertUnavailability(expert_id=expert.id, starts_on=TODAY, ends_on=TODAY))
                    elif flag == "unreachable":
                        rw.identities[expert.code].unreachable = True
                await s.flush()
                expected_out = {e.code for e, f in zip(rw.experts, flags, strict=True) if f != "ok"} | {"B4"}
                seats = {"business": 1, "finance": 1, "management": 1, "law": 1}
                try:
                    drawn = await review.draw_committee(s, rw.world.call, "approval", "h", NOW, TODAY,
                                                        members=seats, reserves=reserves)
                except review.ReviewError as exc:
                    assert exc.code == "too_few"
                    short = exc.params["field"]
                    left = [e for e in rw.experts if e.field == short and e.code not in expected_out]
                    assert len(left) < seats[short]
                    return
                codes = {e.id: e.code for e in rw.experts}
                picked = {codes[mm.expert_id] for mm in drawn.members}
                assert not picked & expected_out
                assert {e.code for e, _, _ in drawn.excluded} == expected_out
                again = review.draw_from(drawn.committee.seed, [tuple(p) for p in drawn.committee.pool["experts"]],
                                         seats, reserves)
                assert {c for cs in again.order.values() for c in cs} == picked
                assert (await review.verify(s, drawn.committee)).ok
        finally:
            await engine.dispose()

    asyncio.run(scenario())


def test_ties_go_to_the_higher_expert_score_then_the_earlier_submission() -> None:
    def row(n: int, ranking: float | None, expert: float | None, days: int) -> review.ResultRow:
        return review.ResultRow(n, f"A{n}", n, None, 1, "org", 1, NOW - timedelta(days=days), "under_review",
                                expert, None, ranking, 5, {})

    ranked = review.rank_rows([row(1, 80.0, 78.0, 1), row(2, 80.0, 82.0, 1), row(3, None, None, 9),
                               row(4, 80.0, 78.0, 5), row(5, 81.0, 70.0, 0)])
    assert [(r.subject_ref, r.rank) for r in ranked] == [("A5", 1), ("A2", 2), ("A4", 3), ("A1", 4), ("A3", None)]
