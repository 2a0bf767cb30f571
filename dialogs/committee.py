"""What the expert review sends and draws: invitations with accept/decline, the review's reminder rules,
the contract reminder after a clean public notice, and the ranking as a chart and a workbook.

Shared by the staff's ``/review`` flow, the expert's flow, the reminder evaluation and the command line.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from io import BytesIO

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from openpyxl import Workbook
from sqlalchemy.ext.asyncio import AsyncSession

from dialogs import i18n
from dialogs.flow import run_button
from dialogs.notices import bilingual, day, money, queue_notice, text
from dialogs.rubrics import Rubric
from dialogs.surveys.drawing import cjk_text
from store import approval, review
from store.models import Call, Expert, ReviewCommittee, ReviewMember
from store.notices import Names
from store.recipients import department_staff
from store.reminders import Schedule

KIND_INVITATION = "review_invitation"
KIND_REMINDER = "review_reminder"
KIND_CONTRACT = "contract_due"
KIND_CONFLICT = "review_conflict"
STAGE_KEYS = {"approval": "committee.stage.approval", "acceptance": "committee.stage.acceptance"}


def _call_title(call: Call) -> Names:
    return bilingual(call.title_zh, call.title_en)


async def invite_members(
    session: AsyncSession, committee: ReviewCommittee, members: Sequence[ReviewMember], now: datetime, hours: int = 48
) -> int:
    """Queue an invitation with accept/decline buttons to each member's chat identity (once per member)."""
    call = await session.get(Call, committee.call_id)
    assert call is not None
    identities = await review.expert_identities(session, [m.expert_id for m in members])
    queued = 0
    for member in members:
        identity_id = identities.get(member.expert_id)
        if identity_id is None:
            continue
        queued += await queue_notice(
            session, identity_id, "committee.invitation", f"review:invite:{member.id}", now, kind=KIND_INVITATION,
            buttons=[[("expert.accept", run_button("expert", f"y{member.id}")),
                      ("expert.decline", run_button("expert", f"n{member.id}"))]],
            call=_call_title(call), stage=text(STAGE_KEYS[committee.stage]), committee=committee.code,
            field=text(f"committee.field.{member.field}"), hours=hours,
        )
    return queued


async def invite_drawn(session: AsyncSession, committee: ReviewCommittee, now: datetime, hours: int = 48) -> int:
    members = [m for m, _ in await review.committee_members(session, committee.id) if m.state == "invited"]
    return await invite_members(session, committee, members, now, hours)


async def review_rules(session: AsyncSession, now: datetime, hours: int, schedule: Schedule) -> int:
    """Unanswered invitations time out to the next reserve at once (the outbox holds it through quiet
    hours); experts who have not finished are reminded once a day from the send hour, like milestones."""
    queued = 0
    for _member, reserve in await review.expire_invitations(session, now, hours):
        if reserve is not None:
            committee = await session.get(ReviewCommittee, reserve.committee_id)
            assert committee is not None
            queued += await invite_members(session, committee, [reserve], now, hours)
    today = schedule.local_day(now)
    if now < schedule.at(today):
        return queued
    unfinished = await review.unfinished_members(session)
    identities = await review.expert_identities(session, [m.expert_id for m, _ in unfinished])
    for member, committee in unfinished:
        identity_id = identities.get(member.expert_id)
        # from the day after they accepted: the invitation itself was that day's word
        if identity_id is None or schedule.local_day(member.answered_at or now) >= today:
            continue
        queued += await queue_notice(
            session, identity_id, "committee.reminder", f"review:remind:{member.id}:{today.isoformat()}", now,
            kind=KIND_REMINDER, buttons=[[("expert.open", run_button("expert", f"m{member.id}"))]],
            committee=committee.code,
        )
    return queued


async def contract_reminders(session: AsyncSession, now: datetime, schedule: Schedule) -> int:
    """From the send hour of the day after a notice ended clean, staff of the project's department are
    reminded to sign the contract, with a button that marks it signed."""
    today = schedule.local_day(now)
    if now < schedule.at(today):
        return 0
    queued = 0
    for notice, project in await approval.notices_ended_clean(session, today):
        for staff in (await department_staff(session, [project.department_id])).get(project.department_id, []):
            queued += await queue_notice(
                session, staff.identity_id, "committee.contract_due", f"notice:contract:{project.id}:{staff.identity_id}",
                now, kind=KIND_CONTRACT, buttons=[[("committee.mark_contracted", run_button("committee", f"k{project.id}"))]],
                code=project.code, title=bilingual(project.title_zh, project.title_en),
                amount=money(project.amount_fen), ended=day(notice.ends_on),
            )
        notice.contract_reminded_at = now
    return queued


def ranking_chart_png(rows: Sequence[review.ResultRow], locale: str, title: str) -> bytes:
    """Horizontal bars of the ranking score, best at the top, the expert score marked on each."""
    ranked = [r for r in rows if r.ranking_score is not None][:30]
    ranked.reverse()
    with cjk_text():
        figure = Figure(figsize=(8.5, 1.6 + 0.36 * max(len(ranked), 1)), dpi=150)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        for y, row in enumerate(ranked):
            axes.barh(y, row.ranking_score or 0, color="#1f618d", height=0.6)
            axes.plot([row.expert_score or 0], [y], marker="|", color="#e67e22", markersize=12)
            axes.text((row.ranking_score or 0) + 0.5, y, f"{row.ranking_score:.1f}", va="center", fontsize=7)
        axes.set_yticks(range(len(ranked)), [f"{r.rank}. {r.subject_ref} {r.organization}"[:40] for r in ranked],
                        fontsize=8)
        axes.set_xlim(0, 105)
        axes.set_xlabel(i18n.t(locale, "committee.chart.axis"), fontsize=8)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        figure.suptitle(title, fontsize=12, x=0.02, ha="left")
        out = BytesIO()
        figure.savefig(out, format="png", bbox_inches="tight", facecolor="white")
    return out.getvalue()


def results_workbook(rows: Sequence[review.ResultRow], rubric: Rubric, locale: str) -> Workbook:
    """One sheet: the ranking with every figure of ``review results --json`` and the per-criterion means."""
    t = i18n.t
    book = Workbook()
    sheet = book.worksheets[0]
    sheet.title = "Ranking"
    head = [t(locale, f"committee.xlsx.{k}") for k in
            ("rank", "application", "organization", "requested", "expert_score", "previous_score", "ranking_score",
             "scores")]
    sheet.append(head + [c.label.get(locale) or c.label["zh-Hans"] for c in rubric.criteria])
    for row in rows:
        values: list[object] = [row.rank, row.subject_ref, row.organization,
                                None if row.requested_fen is None else row.requested_fen / 100, row.expert_score,
                                row.previous_score, row.ranking_score, row.scores]
        means = [row.criteria.get(c.code) for c in rubric.criteria]
        sheet.append(values + [None if mean is None else round(float(mean), 2) for mean in means])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # names people typed stay text, never formulas
    return book


async def conflict_declared(
    session: AsyncSession, committee: ReviewCommittee, member: ReviewMember, reference: str, now: datetime
) -> int:
    """Staff of the call's departments are told that a member left one application for a conflict."""
    expert = await session.get(Expert, member.expert_id)
    departments = await review.call_departments(session, committee.call_id)
    queued = 0
    for staff_list in (await department_staff(session, departments)).values():
        for staff in staff_list:
            queued += await queue_notice(
                session, staff.identity_id, "committee.conflict_notice",
                f"review:conflict:{member.id}:{reference}:{staff.identity_id}", now, kind=KIND_CONFLICT,
                committee=committee.code, expert=expert.name if expert else "", reference=reference)
    return queued
