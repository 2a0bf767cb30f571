"""The guidance catalog of purchasable services, by year."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import CatalogItem, Department
from store.public.statements import cached, param, run


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
    stmt = cached("catalog_years", lambda: select(CatalogItem.year).distinct().order_by(CatalogItem.year.desc()))
    return [y for (y,) in (await run(session, stmt)).all()]


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
            .where(CatalogItem.year == param("year"))
            .order_by(CatalogItem.code)
        )
        if code is not None:
            stmt = stmt.where(CatalogItem.code == param("code"))
        if level1 is not None:
            name = param("level1")
            stmt = stmt.where(or_(CatalogItem.level1_zh == name, CatalogItem.level1_en == name))
        return stmt

    stmt = cached(("catalog", code is not None, level1 is not None), build)
    params = {k: v for k, v in {"year": year, "code": code, "level1": level1}.items() if v is not None}
    return [CatalogRow(*r) for r in (await run(session, stmt, params)).all()]
