"""The expert pool: experts by code, standing conflicts, unavailability."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from store.audit import record
from store.models import (
    Expert,
    ExpertConflict,
    ExpertUnavailability,
    Organization,
)
from store.review.base import ReviewError


async def expert_by_code(session: AsyncSession, code: str) -> Expert | None:
    return (await session.execute(select(Expert).where(Expert.code == code))).scalar_one_or_none()


async def find_organizations(session: AsyncSession, text: str, limit: int = 5) -> list[Organization]:
    """Organizations by exact USCC or by a part of the Chinese name."""
    stmt = select(Organization).where((Organization.uscc == text.upper()) | Organization.name_zh.contains(text))
    return list((await session.execute(stmt.order_by(Organization.name_zh).limit(limit))).scalars())


async def declare_standing_conflict(
    session: AsyncSession, expert_id: int, organization_id: int, actor: str, now: datetime
) -> bool:
    """The expert is never drawn for a batch with this organization; False when it was declared before."""
    if await session.get(ExpertConflict, (expert_id, organization_id)) is not None:
        return False
    session.add(ExpertConflict(expert_id=expert_id, organization_id=organization_id, created_at=now))
    await record(session, now, actor, "expert.conflict", "expert", str(expert_id), organization=organization_id)
    return True


async def mark_unavailable(
    session: AsyncSession, expert: Expert, starts_on: date, ends_on: date, reason: str | None, actor: str, now: datetime
) -> None:
    if ends_on < starts_on:
        raise ReviewError("period", "the period ends before it starts")
    session.add(ExpertUnavailability(expert_id=expert.id, starts_on=starts_on, ends_on=ends_on, reason=reason))
    await record(session, now, actor, "expert.unavailable", "expert", expert.code, starts_on=starts_on.isoformat(),
                 ends_on=ends_on.isoformat(), reason=reason)
