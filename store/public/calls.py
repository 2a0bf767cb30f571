"""Calls for applications: open, still to open, and the one that closed last."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Call, CallItem
from store.public.statements import cached, run


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

    rows = [CallRow(*r) for r in (await run(session, cached("calls", build))).all()]
    closed = [r for r in rows if r.closes_at <= now]
    return CallWindows(
        open=[r for r in rows if r.opens_at <= now < r.closes_at],
        upcoming=[r for r in rows if r.opens_at > now],
        last_closed=max(closed, key=lambda r: r.closes_at) if closed else None,
    )
