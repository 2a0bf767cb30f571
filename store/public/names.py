"""Every public name a question may use (projects, organizations, catalog items, categories, districts,
departments), for the NLU gazetteer and for saying what a question covers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import AuditEntry, CatalogItem, Department, District, Organization, Project
from store.public.statements import cached, param, run


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
    projects = [(c, zh, en) for c, zh, en in (await run(session,
        select(Project.code, Project.title_zh, Project.title_en))).all()]
    organizations = [(u, zh, en) for u, zh, en in (await run(session,
        select(Organization.uscc, Organization.name_zh, Organization.name_en))).all()]
    items: dict[str, tuple[str, str, str | None]] = {}
    level1: dict[str, str | None] = {}
    stmt = select(CatalogItem.code, CatalogItem.name_zh, CatalogItem.name_en, CatalogItem.level1_zh, CatalogItem.level1_en)
    for code, name_zh, name_en, l1_zh, l1_en in (await run(session, stmt.order_by(CatalogItem.year))).all():
        items[code] = (code, name_zh, name_en)  # later years overwrite: the newest wording wins
        level1[l1_zh] = l1_en or level1.get(l1_zh)
    departments = [(c, zh, en) for c, zh, en in (await run(session,
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

    row = (await run(session, cached("fingerprint", build))).one()
    return tuple(int(v) for v in row)


async def districts(session: AsyncSession, *, with_organizations: bool = False) -> list[str]:
    """District names of the projects (and of the organizations), sorted."""
    stmt = cached("districts", lambda: select(Project.district).where(Project.district.is_not(None)).distinct())
    found = {d for (d,) in (await run(session, stmt)).all() if d}
    if with_organizations:
        stmt = cached("org_districts", lambda: select(Organization.district)
                       .where(Organization.district.is_not(None)).distinct())
        found |= {d for (d,) in (await run(session, stmt)).all() if d}
    return sorted(found)


async def district_english_names(session: AsyncSession) -> dict[str, str]:
    """The English names the package gives districts: Chinese name -> English name."""
    stmt = cached("district_names", lambda: select(District.name_zh, District.name_en).where(District.name_en.is_not(None)))
    return {zh: en for zh, en in (await run(session, stmt)).all() if en}


async def project_years(session: AsyncSession) -> list[int]:
    """Years that have projects, newest first."""
    stmt = cached("project_years", lambda: select(Project.year).distinct().order_by(Project.year.desc()))
    return [y for (y,) in (await run(session, stmt)).all()]


async def level1_categories(session: AsyncSession) -> list[tuple[str, str | None]]:
    """(level1_zh, level1_en) of the catalog, in catalog-code order of their first item."""
    stmt = cached("level1", lambda: select(CatalogItem.level1_zh, func.max(CatalogItem.level1_en))
                   .group_by(CatalogItem.level1_zh).order_by(func.min(CatalogItem.code)))
    return [(zh, en) for zh, en in (await run(session, stmt)).all()]


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
    stmt = cached("item_list", lambda: select(
        CatalogItem.code, CatalogItem.name_zh, CatalogItem.name_en, CatalogItem.level1_zh, CatalogItem.level1_en,
        CatalogItem.description_zh,
    ).order_by(CatalogItem.code, CatalogItem.year))
    items = {row[0]: ItemName(*row) for row in (await run(session, stmt)).all()}  # later years overwrite
    return list(items.values())


async def catalog_item_names(session: AsyncSession, code: str) -> tuple[str, str | None] | None:
    """(name_zh, name_en) of a catalog item by code, as worded in its latest year."""
    stmt = cached("item_names", lambda: select(CatalogItem.name_zh, CatalogItem.name_en)
                   .where(CatalogItem.code == param("code")).order_by(CatalogItem.year.desc()).limit(1))
    row = (await run(session, stmt, {"code": code})).first()
    return (row[0], row[1]) if row is not None else None


async def organization_names(session: AsyncSession, uscc: str) -> tuple[str, str | None] | None:
    stmt = cached("org_names", lambda: select(Organization.name_zh, Organization.name_en)
                   .where(Organization.uscc == param("uscc")))
    row = (await run(session, stmt, {"uscc": uscc})).first()
    return (row[0], row[1]) if row is not None else None


async def department_names(session: AsyncSession, code: str) -> tuple[str, str | None] | None:
    stmt = cached("dept_names", lambda: select(Department.name_zh, Department.name_en)
                   .where(Department.code == param("code")))
    row = (await run(session, stmt, {"code": code})).first()
    return (row[0], row[1]) if row is not None else None
