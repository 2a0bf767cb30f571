"""Queries and rules for calls and applications: open calls, eligibility, drafts, submission."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.lifecycle import move_application
from store.models import Application, BudgetLine, Call, CallItem, CatalogItem, Organization, Qualification
from store.uscc import validate_uscc

BUDGET_LINES = ("personnel", "activities", "materials", "administration", "other")


async def open_calls(session: AsyncSession, now: datetime) -> list[Call]:
    stmt = select(Call).where(Call.opens_at <= now, Call.closes_at > now).order_by(Call.closes_at, Call.code)
    return list((await session.execute(stmt)).scalars())


async def call_items(session: AsyncSession, call_id: int) -> list[CatalogItem]:
    stmt = (
        select(CatalogItem)
        .join(CallItem, CallItem.catalog_item_id == CatalogItem.id)
        .where(CallItem.call_id == call_id)
        .order_by(CatalogItem.code)
    )
    return list((await session.execute(stmt)).scalars())


@dataclass(frozen=True)
class Ineligible:
    """One reason an organization may not apply to a call (``code`` names a catalog message)."""

    code: str  # "not_qualified" | "barred" | "bad_uscc" | "window"
    detail: Any = None


async def eligibility(session: AsyncSession, org: Organization, call: Call, now: datetime, today: date) -> list[Ineligible]:
    """The reasons ``org`` may not apply to ``call`` now; empty when it may."""
    reasons: list[Ineligible] = []
    qualified = await session.scalar(
        select(Qualification.year).where(Qualification.organization_id == org.id, Qualification.year == call.year)
    )
    if qualified is None:
        reasons.append(Ineligible("not_qualified", call.year))
    if org.barred_until is not None and org.barred_until >= today:
        reasons.append(Ineligible("barred", org.barred_until))
    if validate_uscc(org.uscc) is not None:
        reasons.append(Ineligible("bad_uscc", org.uscc))
    if not (call.opens_at <= now < call.closes_at):
        reasons.append(Ineligible("window", call.closes_at))
    return reasons


async def find_draft(session: AsyncSession, organization_id: int, call_id: int) -> Application | None:
    stmt = select(Application).where(
        Application.organization_id == organization_id, Application.call_id == call_id, Application.status == "draft"
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def drafts_in_open_calls(session: AsyncSession, organization_id: int, now: datetime) -> list[Application]:
    stmt = (
        select(Application)
        .join(Call, Call.id == Application.call_id)
        .where(
            Application.organization_id == organization_id,
            Application.status == "draft",
            Call.opens_at <= now,
            Call.closes_at > now,
        )
        .order_by(Application.updated_at.desc())
    )
    return list((await session.execute(stmt)).scalars())


async def get_or_create_draft(session: AsyncSession, organization_id: int, call_id: int, now: datetime) -> Application:
    """The organization's one open draft for the call, created if there is none."""
    draft = await find_draft(session, organization_id, call_id)
    if draft is not None:
        return draft
    draft = Application(
        call_id=call_id, organization_id=organization_id, status="draft", content={}, created_at=now, updated_at=now
    )
    session.add(draft)
    await session.flush()
    return draft


def reference_for(year: int, application_id: int) -> str:
    return f"SQ-{year}-{application_id:06d}"


async def submit_application(
    session: AsyncSession, application: Application, call: Call, lines: dict[str, int], now: datetime
) -> str:
    """Move a complete draft to ``submitted``: reference number, budget lines, timestamps."""
    move_application(application, "submitted")
    application.reference = reference_for(call.year, application.id)
    application.submitted_at = now
    application.updated_at = now
    # one executemany (the unit of work would insert the lines one by one to learn their ids)
    await session.execute(
        insert(BudgetLine),
        [{"application_id": application.id, "kind": kind, "amount_fen": lines.get(kind, 0)} for kind in BUDGET_LINES],
    )
    return application.reference
