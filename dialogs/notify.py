"""Status-change notices to an organization's members: one function per event, called by the flow (or
job) that made the change, inside its transaction — so the notice is queued exactly when the change commits.

Each notice is queued once per member and event (the de-duplication key names both), and rendered at
send time in the member's language.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from dialogs.flow import run_button
from dialogs.notices import bilingual, day, money, text
from store.audit import imported_changes_since, last_audit_id
from store.leases import get_cursor, past_cursors, set_cursor
from store.models import Application, AuditEntry, Disbursement, Inspection, Project
from store.notices import Names, Notice, Value
from store.outbox import Outgoing, enqueue
from store.projects import (
    imported_projects_since,
    last_id,
    last_project_id,
    projects_by_codes,
    recorded_since,
)
from store.recipients import organization_members

KIND = "status"


def _title(zh: str | None, en: str | None = None) -> Names:
    return bilingual(zh, en)


async def _to_members(
    session: AsyncSession,
    organization_id: int,
    event: str,
    entity: str,
    key: str,
    now: datetime,
    button: tuple[str, str],
    values: Mapping[str, Value],
    *,
    exclude_identity_id: int | None = None,
) -> int:
    notice = Notice(key, values, ((button,),), kind=KIND)
    members = (await organization_members(session, [organization_id])).get(organization_id, [])
    return await enqueue(session, [
        Outgoing(member.identity_id, f"notify:{event}:{entity}:{member.identity_id}", notice)
        for member in members if member.identity_id != exclude_identity_id
    ], now)


def _application_values(application: Application) -> dict[str, Value]:
    title = application.title or (application.content or {}).get("title") or application.reference or ""
    return {"reference": application.reference or "", "title": _title(title)}


def _application_button(application: Application) -> tuple[str, str]:
    return ("notify.open", run_button("status", f"a{application.id}"))


def _project_values(project: Project) -> dict[str, Value]:
    return {"code": project.code, "title": _title(project.title_zh, project.title_en)}


def _project_button(project: Project) -> tuple[str, str]:
    return ("notify.open", run_button("status", f"p{project.id}"))


async def application_submitted(
    session: AsyncSession, application: Application, now: datetime, *, submitted_by: int | None = None
) -> int:
    """To the organization's other members (the one who submitted got the answer in their chat)."""
    return await _to_members(
        session, application.organization_id, "submitted", f"a{application.id}", "notify.submitted", now,
        _application_button(application), _application_values(application), exclude_identity_id=submitted_by,
    )


async def eligibility_decided(session: AsyncSession, application: Application, now: datetime) -> int:
    """After the eligibility check: passed (``eligible``) or not (``eligibility_failed``, with the reason)."""
    if application.status == "eligible":
        return await _to_members(
            session, application.organization_id, "eligible", f"a{application.id}", "notify.eligible", now,
            _application_button(application), _application_values(application),
        )
    if application.status == "eligibility_failed":
        return await _to_members(
            session, application.organization_id, "ineligible", f"a{application.id}", "notify.ineligible", now,
            _application_button(application),
            {"reason": application.decision_reason or "", **_application_values(application)},
        )
    raise ValueError(f"application {application.id} is {application.status!r}, not an eligibility result")


async def application_approved(session: AsyncSession, application: Application, project: Project, now: datetime) -> int:
    """Approval opens the project in public notice (公示); one notice says both."""
    return await _to_members(
        session, application.organization_id, "approved", f"a{application.id}", "notify.approved", now,
        _project_button(project),
        {"granted": money(application.granted_fen), "code": project.code, **_application_values(application)},
    )


async def application_rejected(session: AsyncSession, application: Application, now: datetime) -> int:
    return await _to_members(
        session, application.organization_id, "rejected", f"a{application.id}", "notify.rejected", now,
        _application_button(application),
        {"reason": application.decision_reason or "", **_application_values(application)},
    )


async def project_publicized(session: AsyncSession, project: Project, now: datetime) -> int:
    """For a project put in public notice other than by an approval in chat (e.g. imported)."""
    return await _to_members(
        session, project.organization_id, "publicized", f"p{project.id}", "notify.publicized", now,
        _project_button(project), _project_values(project),
    )


async def project_contracted(session: AsyncSession, project: Project, now: datetime) -> int:
    return await _to_members(
        session, project.organization_id, "contracted", f"p{project.id}", "notify.contracted", now,
        _project_button(project), {"amount": money(project.amount_fen), **_project_values(project)},
    )


async def approval_withdrawn(session: AsyncSession, project: Project, now: datetime) -> int:
    """An objection to the project under public notice was upheld: no contract, the approval withdrawn."""
    return await _to_members(
        session, project.organization_id, "withdrawn", f"p{project.id}", "notify.withdrawn", now,
        _project_button(project), _project_values(project),
    )


async def inspection_recorded(session: AsyncSession, project: Project, inspection: Inspection, now: datetime) -> int:
    key = "notify.inspection_scored" if inspection.score is not None else "notify.inspection"
    return await _to_members(
        session, project.organization_id, "inspection", f"i{inspection.id}", key, now, _project_button(project),
        {"inspection": text(f"notify.inspection_kind.{inspection.kind}"),
         "result": text(f"notify.inspection_result.{inspection.result}"), "score": inspection.score or 0,
         "held_on": day(inspection.held_on), **_project_values(project)},
    )


async def payment_made(session: AsyncSession, project: Project, payment: Disbursement, now: datetime) -> int:
    return await _to_members(
        session, project.organization_id, "payment", f"d{payment.id}", "notify.payment", now,
        _project_button(project),
        {"installment": payment.installment, "amount": money(payment.amount_fen), "paid_on": day(payment.paid_on),
         **_project_values(project)},
    )


EVENT_CURSORS: dict[str, type[Disbursement] | type[Inspection]] = {
    "events.disbursements": Disbursement, "events.inspections": Inspection}
# every cursor the events below keep, with the id it follows
ALL_CURSORS = {
    **{name: model.id for name, model in EVENT_CURSORS.items()},
    "events.projects": Project.id, "events.audit": AuditEntry.id,
}


async def recorded_events(session: AsyncSession, now: datetime) -> int:
    """Tell organizations of payments and inspections recorded since the last evaluation — by an import as
    much as in chat. The first evaluation only notes where the tables stand: history is not news."""
    if not await past_cursors(session, ALL_CURSORS):
        return 0
    queued = 0
    for cursor, model in EVENT_CURSORS.items():
        seen = await get_cursor(session, cursor)
        if seen is None:
            await set_cursor(session, cursor, await last_id(session, model), now)
            continue
        rows = await recorded_since(session, model, seen)
        for project, event in rows:
            if isinstance(event, Disbursement):
                queued += await payment_made(session, project, event, now)
            else:
                queued += await inspection_recorded(session, project, event, now)
        if rows:
            await set_cursor(session, cursor, rows[-1][1].id, now)
    return queued + await _imported_project_states(session, now)


PROJECT_NOTICES = {"publicized": project_publicized, "contracted": project_contracted}


async def _imported_project_states(session: AsyncSession, now: datetime) -> int:
    """Projects an import created, or moved, into public notice or contract (chat approvals tell their own)."""
    queued = 0
    seen = await get_cursor(session, "events.projects")
    if seen is None:
        await set_cursor(session, "events.projects", await last_project_id(session), now)
    else:
        created = await imported_projects_since(session, seen)
        for project in created:
            if project.status in PROJECT_NOTICES:
                queued += await PROJECT_NOTICES[project.status](session, project, now)
        if created:
            await set_cursor(session, "events.projects", created[-1].id, now)
    seen = await get_cursor(session, "events.audit")
    if seen is None:
        await set_cursor(session, "events.audit", await last_audit_id(session), now)
        return queued
    changes = await imported_changes_since(session, "projects", "status", seen)
    moved = [(key, status) for _, key, status in changes if status in PROJECT_NOTICES]
    projects = {p.code: p for p in await projects_by_codes(session, [key for key, _ in moved])} if moved else {}
    for key, status in moved:
        if key in projects:
            queued += await PROJECT_NOTICES[status](session, projects[key], now)
    if changes:
        await set_cursor(session, "events.audit", changes[-1][0], now)
    return queued
