"""The qualified providers list of each year, and an organization's public profile."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import RATINGS, Organization, Project, Qualification
from store.public.statements import LIMIT, OFFSET, cached, param, run


@dataclass(frozen=True)
class OrganizationRow:
    uscc: str
    name_zh: str
    name_en: str | None
    kind: str
    district: str | None
    rating: str | None


async def qualified_years(session: AsyncSession) -> list[int]:
    stmt = cached("qualified_years", lambda: select(Qualification.year).distinct().order_by(Qualification.year.desc()))
    return [y for (y,) in (await run(session, stmt)).all()]


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
            Qualification.year == param("year"))
        if district is not None:
            stmt = stmt.where(Organization.district == param("district"))
        if ratings:
            stmt = stmt.where(Organization.rating.in_(param("ratings", expanding=True)))
        return stmt

    params: dict[str, Any] = {"year": year}
    if district is not None:
        params["district"] = district
    if ratings:
        params["ratings"] = list(ratings)
    count = cached(("orgs_count", shape), lambda: scoped(select(func.count()).select_from(Organization)))
    total = int((await run(session, count, params)).scalar() or 0)
    if not total or offset >= total or limit <= 0:
        return [], total
    page = cached(("orgs_page", shape), lambda: scoped(select(
        Organization.uscc, Organization.name_zh, Organization.name_en, Organization.kind, Organization.district,
        Organization.rating,
    )).order_by(case((Organization.rating.is_(None), 1), else_=0), Organization.rating.desc(), Organization.uscc)
        .limit(LIMIT).offset(OFFSET))  # unrated last, then 5A before 4A…
    rows = await run(session, page, {**params, "limit": limit, "offset": offset})
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
    stmt = cached("org_record", lambda: select(
        Organization.id, Organization.uscc, Organization.name_zh, Organization.name_en, Organization.kind,
        Organization.district, Organization.rating,
        select(func.count()).select_from(Project).where(Project.organization_id == Organization.id).scalar_subquery(),
    ).where(Organization.uscc == param("uscc")))
    org = (await run(session, stmt, {"uscc": uscc})).first()
    if org is None:
        return None
    years_stmt = cached("org_years", lambda: select(Qualification.year)
                         .where(Qualification.organization_id == param("organization_id")).order_by(Qualification.year))
    years = await run(session, years_stmt, {"organization_id": org[0]})
    _id, uscc_, name_zh, name_en, kind, district, rating, projects = org
    return OrganizationRecord(uscc_, name_zh, name_en, kind, district, rating,
                              qualified_years=[y for (y,) in years.all()], projects=int(projects or 0))
