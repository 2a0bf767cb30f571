"""Each department's yearly purchase budget, with what its approved projects already take."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Budget, Department, Project
from store.public.statements import cached, param, run


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
    stmt = cached("budget_years", lambda: select(Budget.year).distinct().order_by(Budget.year.desc()))
    return [y for (y,) in (await run(session, stmt)).all()]


async def budgets(session: AsyncSession, year: int, department: str | None = None) -> list[BudgetRow]:
    """Each department's purchase budget of ``year`` with what its approved projects already take."""
    def build() -> Select[Any]:
        approved = (
            select(
                Project.department_id.label("department_id"),
                func.sum(Project.amount_fen).label("approved"),
                func.count().label("projects"),
            )
            .where(Project.year == param("year"))
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
            .where(Budget.year == param("year"))
            .order_by(Budget.amount_fen.desc(), Department.code)
        )
        return stmt.where(Department.code == param("department")) if department is not None else stmt

    stmt = cached(("budgets", department is not None), build)
    params: dict[str, Any] = {"year": year} if department is None else {"year": year, "department": department}
    return [BudgetRow(*r) for r in (await run(session, stmt, params)).all()]
