"""What every part of the review shares: the refusal shown to people, the audit entity, the lookups."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import (
    Call,
    CallItem,
    CatalogItem,
    ReviewCommittee,
)

BLOCKING = ("active", "published")  # a committee in these states refuses another draw of its call and stage
ENTITY = "committee"


class ReviewError(ValueError):
    """A refusal the caller shows to a person: ``code`` names the message, ``params`` fill it."""

    def __init__(self, code: str, message: str, **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


async def call_by_code(session: AsyncSession, code: str) -> Call | None:
    return (await session.execute(select(Call).where(Call.code == code))).scalar_one_or_none()


async def call_departments(session: AsyncSession, call_id: int) -> set[int]:
    """Departments whose catalog items the call opens: their staff may act on its review."""
    stmt = select(CatalogItem.department_id).join(CallItem, CallItem.catalog_item_id == CatalogItem.id).where(
        CallItem.call_id == call_id)
    return set((await session.execute(stmt)).scalars())


async def committee_by_code(session: AsyncSession, code: str) -> ReviewCommittee | None:
    return (await session.execute(select(ReviewCommittee).where(ReviewCommittee.code == code))).scalar_one_or_none()


async def current_committee(session: AsyncSession, call_id: int, stage: str) -> ReviewCommittee | None:
    """The call's active or published committee of the stage, if any."""
    stmt = select(ReviewCommittee).where(
        ReviewCommittee.call_id == call_id, ReviewCommittee.stage == stage, ReviewCommittee.state.in_(BLOCKING)
    ).order_by(ReviewCommittee.id.desc()).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


