"""Lists of approved projects: which ones a filter matches, a page of them with totals, what they were paid,
how they were graded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import CatalogItem, Department, Disbursement, Organization, Project
from store.public.statements import LIMIT, OFFSET, cached, param, run


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
        stmt = stmt.where(Project.year == param("year"))
    if item:
        stmt = stmt.where(Project.catalog_item_id.in_(select(CatalogItem.id).where(CatalogItem.code == param("catalog_code"))))
    if level1:
        name = param("level1")
        stmt = stmt.where(Project.catalog_item_id.in_(
            select(CatalogItem.id).where(or_(CatalogItem.level1_zh == name, CatalogItem.level1_en == name))))
    if district:
        stmt = stmt.where(Project.district == param("district"))
    if organization:
        stmt = stmt.where(Project.organization_id == select(Organization.id)
                          .where(Organization.uscc == param("organization")).scalar_subquery())
    if department:
        stmt = stmt.where(Project.department_id == select(Department.id)
                          .where(Department.code == param("department")).scalar_subquery())
    if statuses:
        stmt = stmt.where(Project.status.in_(param("statuses", expanding=True)))
    if grades:
        stmt = stmt.where(Project.grade.in_(param("grades", expanding=True)))
    if brand:
        stmt = stmt.where(Project.brand.is_(True))
    if title:
        words = param("title")
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
    return _where(_list_columns(), shape).order_by(*order).limit(LIMIT).offset(OFFSET)


def _totals_statement(shape: tuple[bool, ...]) -> Select[Any]:
    return _where(select(func.count(), func.coalesce(func.sum(Project.amount_fen), 0)).select_from(Project), shape)


async def find_projects(
    session: AsyncSession, f: ProjectFilter, *, offset: int = 0, limit: int = 8, by_score: bool = False
) -> ProjectPage:
    """One page of the projects matching ``f`` (newest year first, or best evaluated first), with totals."""
    shape, params = f.shape(), f.params()
    totals = cached(("totals", shape), lambda: _totals_statement(shape))
    total, amount = (await run(session, totals, params)).one()
    rows: list[ProjectRow] = []
    if total and offset < total and limit > 0:
        page = cached(("page", shape, by_score), lambda: _page_statement(shape, by_score))
        result = await run(session, page, {**params, "limit": limit, "offset": offset})
        rows = [ProjectRow(*r) for r in result.all()]
    return ProjectPage(rows, int(total), int(amount))


async def paid_total(session: AsyncSession, f: ProjectFilter) -> int:
    """What has been paid to the projects matching ``f`` so far."""
    shape = f.shape()
    stmt = cached(("paid", shape), lambda: _where(
        select(func.coalesce(func.sum(Disbursement.amount_fen), 0)).join(Project, Project.id == Disbursement.project_id),
        shape))
    return int((await run(session, stmt, f.params())).scalar() or 0)


async def projects_by_code(session: AsyncSession, codes: Sequence[str], f: ProjectFilter | None = None) -> list[ProjectRow]:
    """The list rows of the projects with these codes (only those also matching ``f``), in the given order."""
    if not codes:
        return []
    f = f or ProjectFilter()
    shape = f.shape()
    stmt = cached(("by_code", shape), lambda: _where(_list_columns(), shape)
                   .where(Project.code.in_(param("codes", expanding=True))))
    found = {r.code: ProjectRow(*r) for r in (await run(session, stmt, {**f.params(), "codes": list(codes)})).all()}
    return [found[c] for c in codes if c in found]


async def grade_counts(session: AsyncSession, f: ProjectFilter) -> tuple[dict[str, int], int]:
    """How many projects matching ``f`` got each grade, and how many are brand projects."""
    shape = f.shape()
    stmt = cached(("grades", shape), lambda: _where(
        select(Project.grade, func.count(), func.sum(case((Project.brand.is_(True), 1), else_=0)))
        .where(Project.grade.is_not(None))
        .group_by(Project.grade),
        shape,
    ))
    counts, brands = {}, 0
    for grade, n, brand in (await run(session, stmt, f.params())).all():
        counts[grade] = int(n)
        brands += int(brand or 0)
    return counts, brands
