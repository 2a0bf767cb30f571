"""Queries and rules for projects: listings, milestones, payments, progress, and opening an approved project."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.leases import advisory_key, is_sqlite
from store.models import (
    Application,
    Call,
    CatalogItem,
    Disbursement,
    Inspection,
    Milestone,
    Organization,
    ProgressUpdate,
    Project,
    PublicNotice,
)

# Projects an organization is delivering, so it reports progress on them.
ACTIVE_STATUSES = ("contracted", "in_progress", "midterm_passed", "closing")
# The normal path of a project, in order (``terminated`` can leave it at any point before ``closed``).
LIFECYCLE = ("publicized", "contracted", "in_progress", "midterm_passed", "closing", "closed")
# Milestones every approved project gets, in order.
STANDARD_MILESTONES = ("contract_signing", "midterm_report", "midterm_inspection", "final_report", "final_acceptance")
MILESTONE_DUE_HOUR = time(17, 0)
CONTRACT_LEAD = timedelta(days=7)  # a contract is due a week before the term starts, never during the notice


@dataclass(frozen=True)
class Payments:
    """What a project has been paid so far: the sum and each tranche in order."""

    total_fen: int
    tranches: list[Disbursement]


@dataclass(frozen=True)
class Deadline:
    kind: str
    due_at: datetime
    overdue: bool


@dataclass(frozen=True)
class FeedEntry:
    """One progress update with what a reader needs to place it."""

    update: ProgressUpdate
    project_code: str
    project_title_zh: str
    project_title_en: str | None
    org_name_zh: str
    org_name_en: str | None


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


async def org_projects(
    session: AsyncSession, organization_id: int, statuses: Sequence[str] | None = None
) -> list[Project]:
    """The organization's projects, newest first; only those in ``statuses`` when given."""
    stmt = select(Project).where(Project.organization_id == organization_id)
    if statuses is not None:
        stmt = stmt.where(Project.status.in_(statuses))
    stmt = stmt.order_by(Project.start_on.desc(), Project.id.desc())
    return list((await session.execute(stmt)).scalars())


async def org_project(session: AsyncSession, organization_id: int, project_id: int) -> Project | None:
    """One project, only when it belongs to the organization."""
    project = await session.get(Project, project_id)
    if project is None or project.organization_id != organization_id:
        return None
    return project


async def project_milestones(session: AsyncSession, project_id: int) -> list[Milestone]:
    stmt = select(Milestone).where(Milestone.project_id == project_id).order_by(Milestone.due_at, Milestone.id)
    return list((await session.execute(stmt)).scalars())


async def next_milestones(session: AsyncSession, project_id: int, now: datetime, limit: int = 3) -> list[Deadline]:
    """Open milestones by due date (overdue ones first, since they come earliest)."""
    stmt = (
        select(Milestone.kind, Milestone.due_at)
        .where(Milestone.project_id == project_id, Milestone.done_at.is_(None))
        .order_by(Milestone.due_at, Milestone.id)
        .limit(limit)
    )
    return [Deadline(kind, due, due < now) for kind, due in (await session.execute(stmt)).all()]


async def project_payments(session: AsyncSession, project_id: int) -> Payments:
    stmt = select(Disbursement).where(Disbursement.project_id == project_id).order_by(Disbursement.installment)
    tranches = list((await session.execute(stmt)).scalars())
    return Payments(sum(t.amount_fen for t in tranches), tranches)


async def public_progress(session: AsyncSession, project_id: int, limit: int = 10) -> list[ProgressUpdate]:
    """The project's progress updates marked public, newest first; internal ones never leave this query."""
    stmt = (
        select(ProgressUpdate)
        .where(ProgressUpdate.project_id == project_id, ProgressUpdate.public.is_(True))
        .order_by(ProgressUpdate.reported_on.desc(), ProgressUpdate.id.desc())
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def department_progress(
    session: AsyncSession, department_id: int | None, *, offset: int = 0, limit: int = 8
) -> tuple[list[FeedEntry], int]:
    """Latest updates (public and internal) of one department's projects, or of all with ``None``; and their count."""
    scope = select(ProgressUpdate.id).join(Project, Project.id == ProgressUpdate.project_id)
    if department_id is not None:
        scope = scope.where(Project.department_id == department_id)
    total = await session.scalar(select(func.count()).select_from(scope.subquery())) or 0
    stmt = (
        select(ProgressUpdate, Project.code, Project.title_zh, Project.title_en, Organization.name_zh, Organization.name_en)
        .join(Project, Project.id == ProgressUpdate.project_id)
        .join(Organization, Organization.id == Project.organization_id)
        .order_by(ProgressUpdate.reported_on.desc(), ProgressUpdate.id.desc())
        .offset(offset)
        .limit(limit)
    )
    if department_id is not None:
        stmt = stmt.where(Project.department_id == department_id)
    rows = (await session.execute(stmt)).all()
    return [FeedEntry(*row) for row in rows], total


async def add_progress(
    session: AsyncSession,
    project_id: int,
    *,
    reported_on: date,
    text: str,
    public: bool,
    author_identity_id: int | None,
    media_path: str | None = None,
    media_kind: str | None = None,
) -> tuple[ProgressUpdate, bool]:
    """Record an update; the same text on the same day is one update, so a repeat returns (existing, False)."""
    digest = text_digest(text)
    existing = (
        await session.execute(
            select(ProgressUpdate).where(
                ProgressUpdate.project_id == project_id,
                ProgressUpdate.reported_on == reported_on,
                ProgressUpdate.text_digest == digest,
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing, False
    update = ProgressUpdate(
        project_id=project_id, reported_on=reported_on, text_zh=text, text_digest=digest, public=public,
        author_identity_id=author_identity_id, media_path=media_path, media_kind=media_kind,
    )
    session.add(update)
    await session.flush()
    return update, True


def milestone_dates(start: date, end: date, notice_ends_on: date) -> dict[str, date]:
    """Due dates of the standard milestones for a term, never earlier than the one before; the contract
    cannot be due before the day after the public notice ends (``store.workdays.notice_period``)."""
    mid = start + (end - start) // 2
    planned = (
        max(start - CONTRACT_LEAD, notice_ends_on + timedelta(days=1)),
        mid - timedelta(days=7),
        mid + timedelta(days=7),
        end + timedelta(days=10),
        end + timedelta(days=30),
    )
    dates: dict[str, date] = {}
    previous = planned[0]
    for kind, due in zip(STANDARD_MILESTONES, planned, strict=True):
        previous = max(previous, due)
        dates[kind] = previous
    return dates


PROJECT_CODE = re.compile(r"([A-Z][A-Z0-9]*)-(\d{4})-(\d+)")
DEFAULT_CODE_PREFIX = "XM"
CODE_DIGITS = 3


async def new_project_code(session: AsyncSession, year: int, prefix: str | None = None) -> str:
    """The next code in the city's pattern ``PREFIX-YEAR-NNN``: ``prefix`` when given, else the prefix most
    existing codes of that form have (``XM`` when none has); numbered after the highest one of that
    prefix and year, with as many digits as the existing codes use."""
    if not is_sqlite(session):
        # two approvals at once would count the same codes: the second waits for the first to commit
        # (SQLite turns are serialized by BEGIN IMMEDIATE already)
        await session.execute(select(func.pg_advisory_xact_lock(advisory_key("project_codes"))))
    found = [m for code in (await session.scalars(select(Project.code))).all() if (m := PROJECT_CODE.fullmatch(code))]
    if prefix is None:
        counts = Counter(m.group(1) for m in found)
        prefix = counts.most_common(1)[0][0] if counts else DEFAULT_CODE_PREFIX
    same = [m for m in found if m.group(1) == prefix]
    digits = max((len(m.group(3)) for m in same), default=CODE_DIGITS)
    serial = max((int(m.group(3)) for m in same if int(m.group(2)) == year), default=0) + 1
    return f"{prefix}-{year}-{serial:0{digits}d}"


async def create_approved_project(
    session: AsyncSession, application: Application, granted_fen: int, now: datetime, zone: ZoneInfo,
    notice: tuple[date, date],
    code_prefix: str | None = None,
) -> Project:
    """The project an approval opens: in ``publicized`` under its public ``notice`` (first and last day),
    with the standard milestones over its term."""
    if application.catalog_item_id is None or application.start_on is None or application.end_on is None:
        raise ValueError(f"application {application.id} has no catalog item or term")
    item = await session.get(CatalogItem, application.catalog_item_id)
    org = await session.get(Organization, application.organization_id)
    call = await session.get(Call, application.call_id)
    assert item is not None and org is not None and call is not None
    content = application.content or {}
    beneficiaries = content.get("beneficiaries")
    project = Project(
        code=await new_project_code(session, call.year, code_prefix),
        year=call.year,
        title_zh=application.title or content.get("title") or application.reference or "",
        catalog_item_id=item.id,
        organization_id=org.id,
        department_id=item.department_id,
        application_id=application.id,
        district=org.district,
        recipients=beneficiaries if isinstance(beneficiaries, int) else None,
        amount_fen=granted_fen,
        status="publicized",
        start_on=application.start_on,
        end_on=application.end_on,
        target_group_zh=content.get("target_group"),
        summary_zh=content.get("objectives"),
        brand=False,
    )
    session.add(project)
    await session.flush()
    session.add(PublicNotice(project_id=project.id, starts_on=notice[0], ends_on=notice[1]))
    for kind, due in milestone_dates(application.start_on, application.end_on, notice[1]).items():
        due_at = datetime.combine(due, MILESTONE_DUE_HOUR, tzinfo=zone).astimezone(UTC)
        session.add(Milestone(project_id=project.id, kind=kind, due_at=due_at))
    await session.flush()
    return project


async def recorded_since(
    session: AsyncSession, model: type[Disbursement] | type[Inspection], after_id: int, limit: int = 5000
) -> list[tuple[Project, Disbursement | Inspection]]:
    """Payments or inspections recorded (by import or in chat) after ``after_id``, with their project."""
    stmt = (
        select(Project, model).join(model, model.project_id == Project.id)
        .where(model.id > after_id).order_by(model.id).limit(limit)
    )
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]


async def last_id(session: AsyncSession, model: type[Disbursement] | type[Inspection]) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(model.id), 0))) or 0)


async def imported_projects_since(session: AsyncSession, after_id: int, limit: int = 5000) -> list[Project]:
    """Projects created after ``after_id`` other than by an approval in chat (i.e. by an import)."""
    stmt = (
        select(Project).where(Project.id > after_id, Project.application_id.is_(None))
        .order_by(Project.id).limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def last_project_id(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(Project.id), 0))) or 0)


async def project_by_code(session: AsyncSession, code: str) -> Project | None:
    """A project by its code, as typed in any letter case (the unique index answers it)."""
    code = code.strip()
    if not code:
        return None
    rows = await session.execute(select(Project).where(Project.code.in_({code, code.upper()})))
    return rows.scalars().first()


async def projects_by_codes(session: AsyncSession, codes: Sequence[str]) -> list[Project]:
    """The projects with these codes, in the order given (codes that no longer exist are skipped)."""
    rows = {p.code: p for p in (await session.execute(select(Project).where(Project.code.in_(set(codes))))).scalars()}
    return [rows[code] for code in dict.fromkeys(codes) if code in rows]
