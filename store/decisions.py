"""Applications after submission: the staff queue, each decision with its audit entry, withdrawal, history.

Every status change goes through ``store.lifecycle.move_application`` and is audited under the
application's reference (a draft, which has none, under ``#<id>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from store.audit import record
from store.lifecycle import move_application
from store.models import Application, AuditEntry, BudgetLine, CatalogItem, Organization, Project
from store.projects import create_approved_project
from store.workdays import WorkCalendar, notice_period

PENDING_STATUSES = ("submitted", "eligible", "under_review")
WITHDRAWABLE_STATUSES = ("draft", "submitted", "eligible", "under_review")
ENTITY = "application"


class GrantNotAllowed(ValueError):
    """A granted amount above what was requested or above the catalog item's ceiling."""

    def __init__(self, granted_fen: int, limit_fen: int) -> None:
        super().__init__(f"granted {granted_fen} fen exceeds the limit of {limit_fen} fen")
        self.granted_fen = granted_fen
        self.limit_fen = limit_fen


@dataclass(frozen=True)
class Pending:
    application: Application
    organization_name_zh: str
    organization_name_en: str | None


def audit_key(application: Application) -> str:
    return application.reference or f"#{application.id}"


async def org_applications(session: AsyncSession, organization_id: int) -> list[Application]:
    """All of the organization's applications, drafts included, most recently changed first."""
    stmt = (
        select(Application)
        .where(Application.organization_id == organization_id)
        .order_by(Application.updated_at.desc(), Application.id.desc())
    )
    return list((await session.execute(stmt)).scalars())


async def lock_application(session: AsyncSession, application_id: int) -> Application | None:
    """The application, locked for this transaction so two decisions on it cannot interleave."""
    stmt = (
        select(Application)
        .where(Application.id == application_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def application_department(session: AsyncSession, application: Application) -> int | None:
    """The department that decides the application: the one of its catalog item."""
    if application.catalog_item_id is None:
        return None
    department: int | None = await session.scalar(
        select(CatalogItem.department_id).where(CatalogItem.id == application.catalog_item_id))
    return department


async def pending_applications(session: AsyncSession, department_id: int | None) -> list[Pending]:
    """Applications waiting for a decision, oldest submission first; one department's, or all with ``None``."""
    stmt = (
        select(Application, Organization.name_zh, Organization.name_en)
        .join(Organization, Organization.id == Application.organization_id)
        .where(Application.status.in_(PENDING_STATUSES))
        .order_by(Application.submitted_at, Application.id)
    )
    if department_id is not None:
        stmt = stmt.join(CatalogItem, CatalogItem.id == Application.catalog_item_id).where(
            CatalogItem.department_id == department_id
        )
    return [Pending(*row) for row in (await session.execute(stmt)).all()]


async def budget_lines(session: AsyncSession, application_id: int) -> dict[str, int]:
    stmt = select(BudgetLine.kind, BudgetLine.amount_fen).where(BudgetLine.application_id == application_id)
    return {kind: amount for kind, amount in (await session.execute(stmt)).all()}


async def application_history(session: AsyncSession, application: Application) -> list[AuditEntry]:
    """Audit entries of the application, oldest first (the draft's and the submitted one's)."""
    keys = [f"#{application.id}"] + ([application.reference] if application.reference else [])
    stmt = (
        select(AuditEntry)
        .where(AuditEntry.entity == ENTITY, AuditEntry.entity_key.in_(keys))
        .order_by(AuditEntry.at, AuditEntry.id)
    )
    return list((await session.execute(stmt)).scalars())


async def application_project(session: AsyncSession, application_id: int) -> Project | None:
    return (await session.execute(select(Project).where(Project.application_id == application_id))).scalar_one_or_none()


def _change(application: Application, target: str, now: datetime, reason: str | None, final: bool) -> str:
    """Move the status (the lifecycle refuses an illegal move) and stamp the row; returns the old status."""
    previous = application.status
    move_application(application, target)
    application.updated_at = now
    if reason is not None:
        application.decision_reason = reason
    if final:
        application.decided_at = now
    return previous


async def _move(
    session: AsyncSession, application: Application, target: str, action: str, actor: str, now: datetime,
    *, reason: str | None = None, final: bool = False,
) -> None:
    previous = _change(application, target, now, reason, final)
    detail: dict[str, object] = {"from": previous}
    if reason is not None:
        detail["reason"] = reason
    await record(session, now, actor, action, ENTITY, audit_key(application), **detail)


async def mark_eligible(session: AsyncSession, application: Application, actor: str, now: datetime) -> None:
    await _move(session, application, "eligible", "eligible", actor, now)


async def mark_ineligible(session: AsyncSession, application: Application, reason: str, actor: str, now: datetime) -> None:
    await _move(session, application, "eligibility_failed", "ineligible", actor, now, reason=reason, final=True)


async def start_review(session: AsyncSession, application: Application, actor: str, now: datetime) -> None:
    await _move(session, application, "under_review", "review", actor, now)


async def grant_limit(session: AsyncSession, application: Application) -> int | None:
    """The most that may be granted: the requested total and the item's ceiling, whichever is lower."""
    limits = [application.total_fen] if application.total_fen is not None else []
    if application.catalog_item_id is not None:
        ceiling = await session.scalar(select(CatalogItem.ceiling_fen).where(CatalogItem.id == application.catalog_item_id))
        if ceiling is not None:
            limits.append(ceiling)
    return min(limits) if limits else None


async def approve(
    session: AsyncSession, application: Application, granted_fen: int, actor: str, now: datetime, zone: ZoneInfo,
    calendar: WorkCalendar, notice_days: int, code_prefix: str | None = None,
) -> Project:
    """Approve with ``granted_fen`` and open the project (``publicized``) with its public notice of
    ``notice_days`` working days and its milestones; its code follows ``new_project_code``."""
    if application.catalog_item_id is None or application.start_on is None or application.end_on is None:
        raise ValueError(f"application {application.id} has no catalog item or term: no project can be opened")
    limit = await grant_limit(session, application)
    if granted_fen <= 0 or (limit is not None and granted_fen > limit):
        raise GrantNotAllowed(granted_fen, limit or 0)
    previous = _change(application, "approved", now, None, True)
    application.granted_fen = granted_fen
    notice = notice_period(now.astimezone(zone).date(), notice_days, calendar)
    project = await create_approved_project(session, application, granted_fen, now, zone, notice, code_prefix)
    await record(session, now, actor, "approve", ENTITY, audit_key(application),
                 **{"from": previous, "granted_fen": granted_fen, "project": project.code})
    await record(session, now, actor, "notice.open", "project", project.code, starts_on=notice[0].isoformat(),
                 ends_on=notice[1].isoformat())
    return project


async def reject(session: AsyncSession, application: Application, reason: str, actor: str, now: datetime) -> None:
    await _move(session, application, "rejected", "reject", actor, now, reason=reason, final=True)


async def withdraw(session: AsyncSession, application: Application, actor: str, now: datetime) -> None:
    await _move(session, application, "withdrawn", "withdraw", actor, now)
