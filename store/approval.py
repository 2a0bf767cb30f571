"""After the review: approval in ranking order within the budget (经费核定), the public notice (公示), acceptance grades.

Approval goes through ``store.decisions.approve`` (the lifecycle, the project in ``publicized``);
this module adds what the review decides: the order, the department's remaining budget of the year,
the notice of ``notice_days`` working days, and the contract reminder once it ends without objection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store import decisions
from store.audit import record
from store.lifecycle import move_project
from store.models import Application, Budget, Call, Milestone, Project, PublicNotice, ReviewCommittee, Ticket
from store.review import ResultRow, ReviewError, grade_of, results
from store.workdays import WorkCalendar

SPENDING = ("publicized", "contracted", "in_progress", "midterm_passed", "closing", "closed")
# An objection blocks the contract while it is open (received, investigating) or once staff upheld it
# (``resolved``: the objection was founded); only one found ``unfounded`` lets the notice end clean.
BLOCKING_OBJECTION = ("received", "investigating", "resolved")


async def remaining_budget(session: AsyncSession, department_id: int, year: int) -> int | None:
    """The department's budget of the year less every project it funds that year; None without a budget."""
    budget = await session.scalar(select(Budget.amount_fen).where(Budget.year == year, Budget.department_id == department_id))
    if budget is None:
        return None
    spent = await session.scalar(select(func.coalesce(func.sum(Project.amount_fen), 0)).where(
        Project.year == year, Project.department_id == department_id, Project.status.in_(SPENDING)))
    return int(budget) - int(spent or 0)


def _check_order(ranked: list[ResultRow], application_id: int) -> None:
    """Refuse to decide an application while a better-ranked one is still undecided."""
    for row in ranked:
        if row.application_id == application_id:
            if row.rank is None:
                raise ReviewError("unscored", "this application has no submitted scores yet")
            return
        if row.status == "under_review" and row.rank is not None:
            raise ReviewError("order", f"decide {row.subject_ref} first: it ranks higher", ahead=row.subject_ref)
    raise ReviewError("not_in_committee", "this application is not reviewed by the committee")


@dataclass(frozen=True)
class Approved:
    project: Project
    notice: PublicNotice
    remaining_fen: int | None


async def approve(
    session: AsyncSession, committee: ReviewCommittee, application: Application, granted_fen: int, actor: str,
    now: datetime, zone: ZoneInfo, calendar: WorkCalendar, notice_days: int, weight: float,
    code_prefix: str | None = None,
) -> Approved:
    """Approve the next application of the ranking with at most what it asked and what the budget has left
    (the project's code: ``projects.new_project_code`` with ``code_prefix``)."""
    if committee.stage != "approval" or committee.state not in ("active", "published"):
        raise ReviewError("not_active", f"committee {committee.code} cannot approve ({committee.stage}, {committee.state})",
                          state=committee.state)
    if application.status != "under_review":
        raise ReviewError("decided", f"the application is already {application.status}", state=application.status)
    _check_order(await results(session, committee, weight), application.id)
    if application.total_fen is not None and granted_fen > application.total_fen:
        raise ReviewError("over_request", "the approved amount exceeds the requested one",
                          requested=application.total_fen)
    department_id = await decisions.application_department(session, application)
    call = await session.get(Call, application.call_id)  # the call's year is the budget year
    assert call is not None and department_id is not None
    remaining = await remaining_budget(session, department_id, call.year)
    if remaining is not None and granted_fen > remaining:
        raise ReviewError("over_budget", f"only {remaining} fen of the department's budget for {call.year} remain",
                          remaining=remaining)
    try:
        project = await decisions.approve(session, application, granted_fen, actor, now, zone, calendar, notice_days,
                                          code_prefix)
    except decisions.GrantNotAllowed as exc:  # the catalog item's ceiling
        raise ReviewError("over_limit", str(exc), limit=exc.limit_fen) from None
    notice = await session.get(PublicNotice, project.id)
    assert notice is not None
    await record(session, now, actor, "review.approve", "project", project.code, committee=committee.code)
    return Approved(project, notice, None if remaining is None else remaining - granted_fen)


async def reject(session: AsyncSession, application: Application, reason: str, actor: str, now: datetime) -> None:
    if application.status != "under_review":
        raise ReviewError("decided", f"the application is already {application.status}", state=application.status)
    await decisions.reject(session, application, reason, actor, now)


async def notices_ended_clean(session: AsyncSession, today: date) -> list[tuple[PublicNotice, Project]]:
    """Notices over before ``today`` with no objection open or upheld and no contract reminder yet."""
    open_objection = select(Ticket.id).where(
        Ticket.project_id == PublicNotice.project_id, Ticket.kind == "objection",
        Ticket.state.in_(BLOCKING_OBJECTION)).exists()
    stmt = (select(PublicNotice, Project).join(Project, Project.id == PublicNotice.project_id)
            .where(PublicNotice.ends_on < today, PublicNotice.contract_reminded_at.is_(None),
                   Project.status == "publicized", ~open_objection)
            .order_by(PublicNotice.ends_on, PublicNotice.project_id).with_for_update(of=PublicNotice))
    return [(n, p) for n, p in (await session.execute(stmt)).all()]


async def blocking_objections(session: AsyncSession, project_id: int) -> list[Ticket]:
    stmt = select(Ticket).where(Ticket.project_id == project_id, Ticket.kind == "objection",
                                Ticket.state.in_(BLOCKING_OBJECTION)).order_by(Ticket.id)
    return list((await session.execute(stmt)).scalars())


async def mark_contracted(session: AsyncSession, project: Project, actor: str, now: datetime, today: date) -> None:
    """The contract is signed: only after the notice ended clean; the contract milestone is done with it."""
    notice = await session.get(PublicNotice, project.id)
    if notice is not None and notice.ends_on >= today:
        raise ReviewError("notice_running", f"the public notice of {project.code} runs until {notice.ends_on}",
                          ends=notice.ends_on)
    if await blocking_objections(session, project.id):
        raise ReviewError("objection", f"an objection to {project.code} is open or upheld")
    move_project(project, "contracted")
    milestone = await session.scalar(select(Milestone).where(
        Milestone.project_id == project.id, Milestone.kind == "contract_signing", Milestone.done_at.is_(None)))
    if milestone is not None:
        milestone.done_at = now
    await record(session, now, actor, "project.contracted", "project", project.code)


async def withdraw_approval(session: AsyncSession, project: Project, reason: str, actor: str, now: datetime) -> None:
    """An upheld objection: the project under notice is not contracted but terminated, audited with the reason."""
    if not any(t.state == "resolved" for t in await blocking_objections(session, project.id)):
        raise ReviewError("no_upheld_objection", f"no objection to {project.code} was upheld")
    move_project(project, "terminated")
    await record(session, now, actor, "approval.withdraw", "project", project.code, reason=reason)


async def notice_of(session: AsyncSession, project_id: int) -> PublicNotice | None:
    return await session.get(PublicNotice, project_id)


async def confirm_acceptance(session: AsyncSession, project: Project, score: float, actor: str, now: datetime) -> str:
    """The committee's score becomes the project's performance score and grade; the project closes."""
    if project.status != "closing":
        raise ReviewError("not_closing", f"project {project.code} is {project.status}, not closing", state=project.status)
    project.evaluation_score = round(score)
    project.grade = grade_of(score)
    move_project(project, "closed")
    await record(session, now, actor, "acceptance.confirm", "project", project.code, score=project.evaluation_score,
                 grade=project.grade)
    return project.grade
