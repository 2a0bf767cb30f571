"""One project's public record, and its inspections, payments, public progress updates and open milestones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import (
    CatalogItem,
    Department,
    Disbursement,
    Inspection,
    Milestone,
    Organization,
    ProgressUpdate,
    Project,
)
from store.public.statements import LIMIT, cached, param, run


@dataclass(frozen=True)
class ProjectRecord:
    """One project's public record."""

    id: int
    code: str
    year: int
    title_zh: str
    title_en: str | None
    status: str
    amount_fen: int
    district: str | None
    start_on: date
    end_on: date
    grade: str | None
    evaluation_score: int | None
    brand: bool
    target_group_zh: str | None
    target_group_en: str | None
    summary_zh: str | None
    summary_en: str | None
    org_uscc: str
    org_name_zh: str
    org_name_en: str | None
    department_code: str
    department_zh: str
    department_en: str | None
    item_code: str
    item_zh: str
    item_en: str | None


def _record_statement() -> Select[Any]:
    return (
        select(
            Project.id, Project.code, Project.year, Project.title_zh, Project.title_en, Project.status,
            Project.amount_fen, Project.district, Project.start_on, Project.end_on, Project.grade,
            Project.evaluation_score, Project.brand, Project.target_group_zh, Project.target_group_en,
            Project.summary_zh, Project.summary_en, Organization.uscc, Organization.name_zh, Organization.name_en,
            Department.code, Department.name_zh, Department.name_en, CatalogItem.code, CatalogItem.name_zh,
            CatalogItem.name_en,
        )
        .join(Organization, Organization.id == Project.organization_id)
        .join(Department, Department.id == Project.department_id)
        .join(CatalogItem, CatalogItem.id == Project.catalog_item_id)
        .where(Project.code == param("code"))
    )


async def project_record(session: AsyncSession, code: str) -> ProjectRecord | None:
    row = (await run(session, cached("record", _record_statement), {"code": code})).first()
    return ProjectRecord(*row) if row is not None else None


@dataclass(frozen=True)
class InspectionRow:
    kind: str
    held_on: date
    score: int | None
    result: str
    summary_zh: str | None
    summary_en: str | None


async def inspections(session: AsyncSession, project_id: int, kinds: Sequence[str]) -> list[InspectionRow]:
    """The project's inspection and evaluation results of these kinds, oldest first."""
    stmt = cached("inspections", lambda: select(
        Inspection.kind, Inspection.held_on, Inspection.score, Inspection.result, Inspection.summary_zh,
        Inspection.summary_en,
    ).where(Inspection.project_id == param("project_id"), Inspection.kind.in_(param("kinds", expanding=True)))
        .order_by(Inspection.held_on, Inspection.id))
    rows = await run(session, stmt, {"project_id": project_id, "kinds": list(kinds)})
    return [InspectionRow(*r) for r in rows.all()]


@dataclass(frozen=True)
class Tranche:
    installment: int
    amount_fen: int
    paid_on: date


async def tranches(session: AsyncSession, project_id: int) -> list[Tranche]:
    """The payments made to the project, in order."""
    stmt = cached("tranches", lambda: select(Disbursement.installment, Disbursement.amount_fen, Disbursement.paid_on)
                   .where(Disbursement.project_id == param("project_id")).order_by(Disbursement.installment))
    return [Tranche(*r) for r in (await run(session, stmt, {"project_id": project_id})).all()]


@dataclass(frozen=True)
class Update:
    reported_on: date
    text_zh: str
    text_en: str | None


async def public_updates(session: AsyncSession, project_id: int, limit: int = 5) -> list[Update]:
    """The project's progress updates marked public, newest first: their date and text only (never the
    author, the photo path or an internal update)."""
    stmt = cached("updates", lambda: select(ProgressUpdate.reported_on, ProgressUpdate.text_zh, ProgressUpdate.text_en)
                   .where(ProgressUpdate.project_id == param("project_id"), ProgressUpdate.public.is_(True))
                   .order_by(ProgressUpdate.reported_on.desc(), ProgressUpdate.id.desc()).limit(LIMIT))
    return [Update(*r) for r in (await run(session, stmt, {"project_id": project_id, "limit": limit})).all()]


@dataclass(frozen=True)
class Due:
    kind: str
    due_at: datetime
    overdue: bool


async def next_milestones(session: AsyncSession, project_id: int, now: datetime, limit: int = 3) -> list[Due]:
    """The project's open milestones by due date (overdue ones first, as they come earliest).

    A project has at most one milestone of each kind, so its few rows are read by the (project, kind)
    key and sorted here: a ``done_at IS NULL`` condition in SQL can lead SQLite's planner to the
    open-milestones index, which scans every open milestone of every project."""
    stmt = cached("milestones", lambda: select(Milestone.kind, Milestone.due_at, Milestone.done_at)
                   .where(Milestone.project_id == param("project_id")))
    rows = (await run(session, stmt, {"project_id": project_id})).all()
    open_ = sorted((due, kind) for kind, due, done in rows if done is None)
    return [Due(kind, due, due < now) for due, kind in open_[:limit]]
