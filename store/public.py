"""Queries behind the answers to the public's questions: disclosable fields only.

Everything here may be shown to anyone (DESIGN.md, "public data is public"): approved projects and
amounts, payments, progress marked public, inspection and evaluation results, catalogs, budgets,
calls and the qualified list. Nothing here reads contacts, drafts or application content, survey
answers, tickets, needs or chat identities; satisfaction figures come from ``surveys.public_satisfaction``.

Statements are built once per shape with bound parameters and reused: building a SQLAlchemy
statement costs more than running these indexed queries, and answers must stay close to their SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Integer, Result, Select, bindparam, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import (
    RATINGS,
    AuditEntry,
    Budget,
    Call,
    CallItem,
    CatalogItem,
    Department,
    Disbursement,
    District,
    Inspection,
    Milestone,
    Organization,
    ProgressUpdate,
    Project,
    Qualification,
)

_statements: dict[Hashable, Any] = {}


def _cached(key: Hashable, build: Callable[[], Any]) -> Any:
    """The statement of this shape, built on first use."""
    statement = _statements.get(key)
    if statement is None:
        statement = _statements[key] = build()
    return statement


def _param(name: str, **kw: Any) -> Any:
    return bindparam(name, **kw)


async def _run(session: AsyncSession, statement: Any, params: dict[str, Any] | None = None) -> Result[Any]:
    """Run a column statement on the session's connection (its transaction), past the ORM: these
    queries load no entities, and the ORM's execution path costs several times the query itself."""
    connection = await session.connection()
    return await connection.execute(statement, params or {})


_LIMIT = bindparam("limit", type_=Integer)
_OFFSET = bindparam("offset", type_=Integer)

# --- names for understanding questions ---------------------------------------------------------


@dataclass(frozen=True)
class Names:
    """Every public name a question may use, for the NLU gazetteer."""

    projects: list[tuple[str, str, str | None]]  # code, title_zh, title_en
    organizations: list[tuple[str, str, str | None]]  # uscc, name_zh, name_en
    catalog: list[tuple[str, str, str | None]]  # code, name_zh, name_en (the latest year's names)
    level1: list[tuple[str, str | None]]  # level1_zh, level1_en
    districts: list[str]
    departments: list[tuple[str, str, str | None]]  # code, name_zh, name_en


async def names(session: AsyncSession) -> Names:
    projects = [(c, zh, en) for c, zh, en in (await _run(session,
        select(Project.code, Project.title_zh, Project.title_en))).all()]
    organizations = [(u, zh, en) for u, zh, en in (await _run(session,
        select(Organization.uscc, Organization.name_zh, Organization.name_en))).all()]
    items: dict[str, tuple[str, str, str | None]] = {}
    level1: dict[str, str | None] = {}
    stmt = select(CatalogItem.code, CatalogItem.name_zh, CatalogItem.name_en, CatalogItem.level1_zh, CatalogItem.level1_en)
    for code, name_zh, name_en, l1_zh, l1_en in (await _run(session, stmt.order_by(CatalogItem.year))).all():
        items[code] = (code, name_zh, name_en)  # later years overwrite: the newest wording wins
        level1[l1_zh] = l1_en or level1.get(l1_zh)
    departments = [(c, zh, en) for c, zh, en in (await _run(session,
        select(Department.code, Department.name_zh, Department.name_en))).all()]
    return Names(
        projects=projects,
        organizations=organizations,
        catalog=list(items.values()),
        level1=list(level1.items()),
        districts=await districts(session, with_organizations=True),
        departments=departments,
    )


async def names_fingerprint(session: AsyncSession) -> tuple[int, ...]:
    """A cheap summary that changes when any name may have: new rows (counts, max ids) or an import
    (every imported change is audited)."""
    def build() -> Select[Any]:
        columns = [select(func.coalesce(func.max(AuditEntry.id), 0)).scalar_subquery()]
        for model in (Project, Organization, CatalogItem, Department):
            columns += [select(func.count()).select_from(model).scalar_subquery(),
                        select(func.coalesce(func.max(model.id), 0)).scalar_subquery()]
        return select(*columns)

    row = (await _run(session, _cached("fingerprint", build))).one()
    return tuple(int(v) for v in row)


async def districts(session: AsyncSession, *, with_organizations: bool = False) -> list[str]:
    """District names of the projects (and of the organizations), sorted."""
    stmt = _cached("districts", lambda: select(Project.district).where(Project.district.is_not(None)).distinct())
    found = {d for (d,) in (await _run(session, stmt)).all() if d}
    if with_organizations:
        stmt = _cached("org_districts", lambda: select(Organization.district)
                       .where(Organization.district.is_not(None)).distinct())
        found |= {d for (d,) in (await _run(session, stmt)).all() if d}
    return sorted(found)


async def district_english_names(session: AsyncSession) -> dict[str, str]:
    """The English names the package gives districts: Chinese name -> English name."""
    stmt = _cached("district_names", lambda: select(District.name_zh, District.name_en).where(District.name_en.is_not(None)))
    return {zh: en for zh, en in (await _run(session, stmt)).all() if en}


async def project_years(session: AsyncSession) -> list[int]:
    """Years that have projects, newest first."""
    stmt = _cached("project_years", lambda: select(Project.year).distinct().order_by(Project.year.desc()))
    return [y for (y,) in (await _run(session, stmt)).all()]


async def level1_categories(session: AsyncSession) -> list[tuple[str, str | None]]:
    """(level1_zh, level1_en) of the catalog, in catalog-code order of their first item."""
    stmt = _cached("level1", lambda: select(CatalogItem.level1_zh, func.max(CatalogItem.level1_en))
                   .group_by(CatalogItem.level1_zh).order_by(func.min(CatalogItem.code)))
    return [(zh, en) for zh, en in (await _run(session, stmt)).all()]


@dataclass(frozen=True)
class ItemName:
    code: str
    name_zh: str
    name_en: str | None
    level1_zh: str
    level1_en: str | None
    description_zh: str | None


async def catalog_item_list(session: AsyncSession) -> list[ItemName]:
    """Every catalog item once, as worded in its latest year, in code order (what topics are matched to)."""
    stmt = _cached("item_list", lambda: select(
        CatalogItem.code, CatalogItem.name_zh, CatalogItem.name_en, CatalogItem.level1_zh, CatalogItem.level1_en,
        CatalogItem.description_zh,
    ).order_by(CatalogItem.code, CatalogItem.year))
    items = {row[0]: ItemName(*row) for row in (await _run(session, stmt)).all()}  # later years overwrite
    return list(items.values())


async def catalog_item_names(session: AsyncSession, code: str) -> tuple[str, str | None] | None:
    """(name_zh, name_en) of a catalog item by code, as worded in its latest year."""
    stmt = _cached("item_names", lambda: select(CatalogItem.name_zh, CatalogItem.name_en)
                   .where(CatalogItem.code == _param("code")).order_by(CatalogItem.year.desc()).limit(1))
    row = (await _run(session, stmt, {"code": code})).first()
    return (row[0], row[1]) if row is not None else None


async def organization_names(session: AsyncSession, uscc: str) -> tuple[str, str | None] | None:
    stmt = _cached("org_names", lambda: select(Organization.name_zh, Organization.name_en)
                   .where(Organization.uscc == _param("uscc")))
    row = (await _run(session, stmt, {"uscc": uscc})).first()
    return (row[0], row[1]) if row is not None else None


async def department_names(session: AsyncSession, code: str) -> tuple[str, str | None] | None:
    stmt = _cached("dept_names", lambda: select(Department.name_zh, Department.name_en)
                   .where(Department.code == _param("code")))
    row = (await _run(session, stmt, {"code": code})).first()
    return (row[0], row[1]) if row is not None else None


# --- projects ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectFilter:
    """Which projects a list shows; every field narrows it, None/empty means any."""

    year: int | None = None
    catalog_code: str | None = None
    level1: str | None = None  # a level-1 category name (Chinese or English)
    district: str | None = None
    organization: str | None = None  # USCC
    department: str | None = None  # department code
    statuses: tuple[str, ...] = ()
    grades: tuple[str, ...] = ()
    brand: bool = False
    title: str | None = None  # words the Chinese or English title contains (any case)

    def shape(self) -> tuple[bool, ...]:
        """Which conditions are set: the statement depends on this, the values are parameters."""
        return (self.year is not None, self.catalog_code is not None, self.level1 is not None,
                self.district is not None, self.organization is not None, self.department is not None,
                bool(self.statuses), bool(self.grades), self.brand, bool(self.title))

    def params(self) -> dict[str, Any]:
        values = {"year": self.year, "catalog_code": self.catalog_code, "level1": self.level1,
                  "district": self.district, "organization": self.organization, "department": self.department,
                  "statuses": list(self.statuses), "grades": list(self.grades),
                  "title": f"%{_escape_like(self.title.lower())}%" if self.title else None}
        return {k: v for k, v in values.items() if v not in (None, [])}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _where(stmt: Select[Any], shape: tuple[bool, ...]) -> Select[Any]:
    year, item, level1, district, organization, department, statuses, grades, brand, title = shape
    if year:
        stmt = stmt.where(Project.year == _param("year"))
    if item:
        stmt = stmt.where(Project.catalog_item_id.in_(select(CatalogItem.id).where(CatalogItem.code == _param("catalog_code"))))
    if level1:
        name = _param("level1")
        stmt = stmt.where(Project.catalog_item_id.in_(
            select(CatalogItem.id).where(or_(CatalogItem.level1_zh == name, CatalogItem.level1_en == name))))
    if district:
        stmt = stmt.where(Project.district == _param("district"))
    if organization:
        stmt = stmt.where(Project.organization_id == select(Organization.id)
                          .where(Organization.uscc == _param("organization")).scalar_subquery())
    if department:
        stmt = stmt.where(Project.department_id == select(Department.id)
                          .where(Department.code == _param("department")).scalar_subquery())
    if statuses:
        stmt = stmt.where(Project.status.in_(_param("statuses", expanding=True)))
    if grades:
        stmt = stmt.where(Project.grade.in_(_param("grades", expanding=True)))
    if brand:
        stmt = stmt.where(Project.brand.is_(True))
    if title:
        words = _param("title")
        # lower() on both: SQLite's LIKE ignores ASCII case, PostgreSQL's does not (a title_zh may hold "AI")
        stmt = stmt.where(or_(func.lower(Project.title_zh).like(words, escape="\\"),
                              func.lower(Project.title_en).like(words, escape="\\")))
    return stmt


@dataclass(frozen=True)
class ProjectRow:
    id: int
    code: str
    year: int
    title_zh: str
    title_en: str | None
    status: str
    amount_fen: int
    district: str | None
    grade: str | None
    evaluation_score: int | None
    brand: bool
    org_name_zh: str
    org_name_en: str | None


@dataclass(frozen=True)
class ProjectPage:
    rows: list[ProjectRow]
    total: int
    amount_fen: int  # approved amount of every project the filter matches, not only this page's


def _list_columns() -> Select[Any]:
    return select(
        Project.id, Project.code, Project.year, Project.title_zh, Project.title_en, Project.status, Project.amount_fen,
        Project.district, Project.grade, Project.evaluation_score, Project.brand, Organization.name_zh,
        Organization.name_en,
    ).join(Organization, Organization.id == Project.organization_id)


def _page_statement(shape: tuple[bool, ...], by_score: bool) -> Select[Any]:
    # unscored last on both databases (PostgreSQL sorts NULL first in a descending order, SQLite last)
    order = (Project.evaluation_score.desc().nulls_last(), Project.code) if by_score else (Project.year.desc(), Project.code)
    return _where(_list_columns(), shape).order_by(*order).limit(_LIMIT).offset(_OFFSET)


def _totals_statement(shape: tuple[bool, ...]) -> Select[Any]:
    return _where(select(func.count(), func.coalesce(func.sum(Project.amount_fen), 0)).select_from(Project), shape)


async def find_projects(
    session: AsyncSession, f: ProjectFilter, *, offset: int = 0, limit: int = 8, by_score: bool = False
) -> ProjectPage:
    """One page of the projects matching ``f`` (newest year first, or best evaluated first), with totals."""
    shape, params = f.shape(), f.params()
    totals = _cached(("totals", shape), lambda: _totals_statement(shape))
    total, amount = (await _run(session, totals, params)).one()
    rows: list[ProjectRow] = []
    if total and offset < total and limit > 0:
        page = _cached(("page", shape, by_score), lambda: _page_statement(shape, by_score))
        result = await _run(session, page, {**params, "limit": limit, "offset": offset})
        rows = [ProjectRow(*r) for r in result.all()]
    return ProjectPage(rows, int(total), int(amount))


async def paid_total(session: AsyncSession, f: ProjectFilter) -> int:
    """What has been paid to the projects matching ``f`` so far."""
    shape = f.shape()
    stmt = _cached(("paid", shape), lambda: _where(
        select(func.coalesce(func.sum(Disbursement.amount_fen), 0)).join(Project, Project.id == Disbursement.project_id),
        shape))
    return int((await _run(session, stmt, f.params())).scalar() or 0)


async def projects_by_code(session: AsyncSession, codes: Sequence[str], f: ProjectFilter | None = None) -> list[ProjectRow]:
    """The list rows of the projects with these codes (only those also matching ``f``), in the given order."""
    if not codes:
        return []
    f = f or ProjectFilter()
    shape = f.shape()
    stmt = _cached(("by_code", shape), lambda: _where(_list_columns(), shape)
                   .where(Project.code.in_(_param("codes", expanding=True))))
    found = {r.code: ProjectRow(*r) for r in (await _run(session, stmt, {**f.params(), "codes": list(codes)})).all()}
    return [found[c] for c in codes if c in found]


async def grade_counts(session: AsyncSession, f: ProjectFilter) -> tuple[dict[str, int], int]:
    """How many projects matching ``f`` got each grade, and how many are brand projects."""
    shape = f.shape()
    stmt = _cached(("grades", shape), lambda: _where(
        select(Project.grade, func.count(), func.sum(case((Project.brand.is_(True), 1), else_=0)))
        .where(Project.grade.is_not(None))
        .group_by(Project.grade),
        shape,
    ))
    counts, brands = {}, 0
    for grade, n, brand in (await _run(session, stmt, f.params())).all():
        counts[grade] = int(n)
        brands += int(brand or 0)
    return counts, brands


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
        .where(Project.code == _param("code"))
    )


async def project_record(session: AsyncSession, code: str) -> ProjectRecord | None:
    row = (await _run(session, _cached("record", _record_statement), {"code": code})).first()
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
    stmt = _cached("inspections", lambda: select(
        Inspection.kind, Inspection.held_on, Inspection.score, Inspection.result, Inspection.summary_zh,
        Inspection.summary_en,
    ).where(Inspection.project_id == _param("project_id"), Inspection.kind.in_(_param("kinds", expanding=True)))
        .order_by(Inspection.held_on, Inspection.id))
    rows = await _run(session, stmt, {"project_id": project_id, "kinds": list(kinds)})
    return [InspectionRow(*r) for r in rows.all()]


@dataclass(frozen=True)
class Tranche:
    installment: int
    amount_fen: int
    paid_on: date


async def tranches(session: AsyncSession, project_id: int) -> list[Tranche]:
    """The payments made to the project, in order."""
    stmt = _cached("tranches", lambda: select(Disbursement.installment, Disbursement.amount_fen, Disbursement.paid_on)
                   .where(Disbursement.project_id == _param("project_id")).order_by(Disbursement.installment))
    return [Tranche(*r) for r in (await _run(session, stmt, {"project_id": project_id})).all()]


@dataclass(frozen=True)
class Update:
    reported_on: date
    text_zh: str
    text_en: str | None


async def public_updates(session: AsyncSession, project_id: int, limit: int = 5) -> list[Update]:
    """The project's progress updates marked public, newest first: their date and text only (never the
    author, the photo path or an internal update)."""
    stmt = _cached("updates", lambda: select(ProgressUpdate.reported_on, ProgressUpdate.text_zh, ProgressUpdate.text_en)
                   .where(ProgressUpdate.project_id == _param("project_id"), ProgressUpdate.public.is_(True))
                   .order_by(ProgressUpdate.reported_on.desc(), ProgressUpdate.id.desc()).limit(_LIMIT))
    return [Update(*r) for r in (await _run(session, stmt, {"project_id": project_id, "limit": limit})).all()]


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
    stmt = _cached("milestones", lambda: select(Milestone.kind, Milestone.due_at, Milestone.done_at)
                   .where(Milestone.project_id == _param("project_id")))
    rows = (await _run(session, stmt, {"project_id": project_id})).all()
    open_ = sorted((due, kind) for kind, due, done in rows if done is None)
    return [Due(kind, due, due < now) for due, kind in open_[:limit]]


# --- catalog, budgets, calls ------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogRow:
    code: str
    level1_zh: str
    level1_en: str | None
    name_zh: str
    name_en: str | None
    description_zh: str | None
    description_en: str | None
    ceiling_fen: int | None
    department_zh: str
    department_en: str | None


async def catalog_years(session: AsyncSession) -> list[int]:
    stmt = _cached("catalog_years", lambda: select(CatalogItem.year).distinct().order_by(CatalogItem.year.desc()))
    return [y for (y,) in (await _run(session, stmt)).all()]


async def catalog(
    session: AsyncSession, year: int, *, code: str | None = None, level1: str | None = None
) -> list[CatalogRow]:
    """The guidance catalog of ``year`` (one item by code, or one level-1 class), in code order."""
    def build() -> Select[Any]:
        stmt = (
            select(
                CatalogItem.code, CatalogItem.level1_zh, CatalogItem.level1_en, CatalogItem.name_zh,
                CatalogItem.name_en, CatalogItem.description_zh, CatalogItem.description_en, CatalogItem.ceiling_fen,
                Department.name_zh, Department.name_en,
            )
            .join(Department, Department.id == CatalogItem.department_id)
            .where(CatalogItem.year == _param("year"))
            .order_by(CatalogItem.code)
        )
        if code is not None:
            stmt = stmt.where(CatalogItem.code == _param("code"))
        if level1 is not None:
            name = _param("level1")
            stmt = stmt.where(or_(CatalogItem.level1_zh == name, CatalogItem.level1_en == name))
        return stmt

    stmt = _cached(("catalog", code is not None, level1 is not None), build)
    params = {k: v for k, v in {"year": year, "code": code, "level1": level1}.items() if v is not None}
    return [CatalogRow(*r) for r in (await _run(session, stmt, params)).all()]


@dataclass(frozen=True)
class BudgetRow:
    department_code: str
    department_zh: str
    department_en: str | None
    amount_fen: int
    note_zh: str | None
    note_en: str | None
    approved_fen: int  # approved amounts of the department's projects of that year
    projects: int


async def budget_years(session: AsyncSession) -> list[int]:
    stmt = _cached("budget_years", lambda: select(Budget.year).distinct().order_by(Budget.year.desc()))
    return [y for (y,) in (await _run(session, stmt)).all()]


async def budgets(session: AsyncSession, year: int, department: str | None = None) -> list[BudgetRow]:
    """Each department's purchase budget of ``year`` with what its approved projects already take."""
    def build() -> Select[Any]:
        approved = (
            select(
                Project.department_id.label("department_id"),
                func.sum(Project.amount_fen).label("approved"),
                func.count().label("projects"),
            )
            .where(Project.year == _param("year"))
            .group_by(Project.department_id)
            .subquery()
        )
        stmt = (
            select(
                Department.code, Department.name_zh, Department.name_en, Budget.amount_fen, Budget.note_zh,
                Budget.note_en, func.coalesce(approved.c.approved, 0), func.coalesce(approved.c.projects, 0),
            )
            .join(Department, Department.id == Budget.department_id)
            .outerjoin(approved, approved.c.department_id == Budget.department_id)
            .where(Budget.year == _param("year"))
            .order_by(Budget.amount_fen.desc(), Department.code)
        )
        return stmt.where(Department.code == _param("department")) if department is not None else stmt

    stmt = _cached(("budgets", department is not None), build)
    params: dict[str, Any] = {"year": year} if department is None else {"year": year, "department": department}
    return [BudgetRow(*r) for r in (await _run(session, stmt, params)).all()]


@dataclass(frozen=True)
class CallRow:
    code: str
    year: int
    title_zh: str
    title_en: str | None
    opens_at: datetime
    closes_at: datetime
    items: int


@dataclass(frozen=True)
class CallWindows:
    open: list[CallRow]
    upcoming: list[CallRow]
    last_closed: CallRow | None


async def call_windows(session: AsyncSession, now: datetime) -> CallWindows:
    """Calls open at ``now``, those still to open, and the one that closed last."""
    def build() -> Select[Any]:
        items = select(CallItem.call_id, func.count().label("n")).group_by(CallItem.call_id).subquery()
        return (
            select(Call.code, Call.year, Call.title_zh, Call.title_en, Call.opens_at, Call.closes_at,
                   func.coalesce(items.c.n, 0))
            .outerjoin(items, items.c.call_id == Call.id)
            .order_by(Call.opens_at, Call.code)
        )

    rows = [CallRow(*r) for r in (await _run(session, _cached("calls", build))).all()]
    closed = [r for r in rows if r.closes_at <= now]
    return CallWindows(
        open=[r for r in rows if r.opens_at <= now < r.closes_at],
        upcoming=[r for r in rows if r.opens_at > now],
        last_closed=max(closed, key=lambda r: r.closes_at) if closed else None,
    )


# --- organizations ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrganizationRow:
    uscc: str
    name_zh: str
    name_en: str | None
    kind: str
    district: str | None
    rating: str | None


async def qualified_years(session: AsyncSession) -> list[int]:
    stmt = _cached("qualified_years", lambda: select(Qualification.year).distinct().order_by(Qualification.year.desc()))
    return [y for (y,) in (await _run(session, stmt)).all()]


def ratings_from(minimum: str) -> tuple[str, ...]:
    """The ratings at least as good as ``minimum`` (3A -> 3A, 4A, 5A)."""
    return RATINGS[RATINGS.index(minimum):] if minimum in RATINGS else ()


async def qualified_organizations(
    session: AsyncSession,
    year: int,
    *,
    district: str | None = None,
    ratings: Sequence[str] = (),
    offset: int = 0,
    limit: int = 8,
) -> tuple[list[OrganizationRow], int]:
    """One page of the qualified providers list of ``year`` (best rated first), and its length."""
    shape = (district is not None, bool(ratings))

    def scoped(stmt: Select[Any]) -> Select[Any]:
        stmt = stmt.join(Qualification, Qualification.organization_id == Organization.id).where(
            Qualification.year == _param("year"))
        if district is not None:
            stmt = stmt.where(Organization.district == _param("district"))
        if ratings:
            stmt = stmt.where(Organization.rating.in_(_param("ratings", expanding=True)))
        return stmt

    params: dict[str, Any] = {"year": year}
    if district is not None:
        params["district"] = district
    if ratings:
        params["ratings"] = list(ratings)
    count = _cached(("orgs_count", shape), lambda: scoped(select(func.count()).select_from(Organization)))
    total = int((await _run(session, count, params)).scalar() or 0)
    if not total or offset >= total or limit <= 0:
        return [], total
    page = _cached(("orgs_page", shape), lambda: scoped(select(
        Organization.uscc, Organization.name_zh, Organization.name_en, Organization.kind, Organization.district,
        Organization.rating,
    )).order_by(case((Organization.rating.is_(None), 1), else_=0), Organization.rating.desc(), Organization.uscc)
        .limit(_LIMIT).offset(_OFFSET))  # unrated last, then 5A before 4A…
    rows = await _run(session, page, {**params, "limit": limit, "offset": offset})
    return [OrganizationRow(*r) for r in rows.all()], total


@dataclass(frozen=True)
class OrganizationRecord:
    uscc: str
    name_zh: str
    name_en: str | None
    kind: str
    district: str | None
    rating: str | None
    qualified_years: list[int]
    projects: int


async def organization_record(session: AsyncSession, uscc: str) -> OrganizationRecord | None:
    """An organization's public profile: qualification years, rating and how many projects it runs."""
    stmt = _cached("org_record", lambda: select(
        Organization.id, Organization.uscc, Organization.name_zh, Organization.name_en, Organization.kind,
        Organization.district, Organization.rating,
        select(func.count()).select_from(Project).where(Project.organization_id == Organization.id).scalar_subquery(),
    ).where(Organization.uscc == _param("uscc")))
    org = (await _run(session, stmt, {"uscc": uscc})).first()
    if org is None:
        return None
    years_stmt = _cached("org_years", lambda: select(Qualification.year)
                         .where(Qualification.organization_id == _param("organization_id")).order_by(Qualification.year))
    years = await _run(session, years_stmt, {"organization_id": org[0]})
    _id, uscc_, name_zh, name_en, kind, district, rating, projects = org
    return OrganizationRecord(uscc_, name_zh, name_en, kind, district, rating,
                              qualified_years=[y for (y,) in years.all()], projects=int(projects or 0))
