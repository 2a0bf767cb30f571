"""Residents' service needs (需求征集): filing, the staff decision, and the category × district report.

Report figures are counted by the database (GROUP BY over a created_at range that uses
``ix_needs_created``); periods are local calendar days turned into UTC bounds here.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from store.lifecycle import check_move
from store.models import CatalogItem, Need, Organization, Project

NEED_MOVES: dict[str, tuple[str, ...]] = {
    "new": ("taken", "declined"),
    "taken": (),
    "declined": (),
}
OTHER_CATEGORY = "other"


def need_reference(year: int, need_id: int) -> str:
    return f"XQ-{year}-{need_id:06d}"


# --- what residents choose from ----------------------------------------------------------

async def catalog_classes(session: AsyncSession) -> list[tuple[str, str | None]]:
    """The catalog's level-1 classes as (zh, en), newest catalogs first for the English name."""
    stmt = (
        select(CatalogItem.level1_zh, func.max(CatalogItem.level1_en))
        .group_by(CatalogItem.level1_zh)
        .order_by(func.min(CatalogItem.code), CatalogItem.level1_zh)
    )
    return [(zh, en) for zh, en in (await session.execute(stmt)).all()]


async def known_districts(session: AsyncSession) -> list[str]:
    """Every district named in the data (projects and organizations), sorted."""
    names = union(
        select(Project.district).where(Project.district.is_not(None)),
        select(Organization.district).where(Organization.district.is_not(None)),
    ).subquery()
    rows = await session.execute(select(names.c.district).order_by(names.c.district))
    return [name for (name,) in rows.all() if name]


# --- filing and deciding -----------------------------------------------------------------

async def create_need(
    session: AsyncSession,
    *,
    category: str,
    district: str | None,
    target_group: str,
    description: str,
    media_path: str | None,
    consent: bool,
    identity_id: int,
    contact: str | None,
    now: datetime,
    zone: ZoneInfo,
) -> Need:
    """File a need. Who filed it (``identity_id``) and ``contact`` are kept only with ``consent``;
    without it the time is kept as the local day only, so it cannot be matched with the moments that
    other tables record for the person (their conversation, their submission count)."""
    local_day = now.astimezone(zone).date()
    created_at = now if consent else datetime.combine(local_day, time(0), zone).astimezone(UTC)
    need = Need(
        # a unique placeholder until the id, which the reference is made of, is known
        reference=f"tmp-{secrets.token_hex(8)}",
        category=category, district=district, target_group=target_group, description=description,
        media_path=media_path, contact_consent=consent, contact=contact if consent else None,
        identity_id=identity_id if consent else None, state="new", created_at=created_at,
    )
    session.add(need)
    await session.flush()
    need.reference = need_reference(local_day.year, need.id)
    await session.flush()
    return need


async def lock_need(session: AsyncSession, need_id: int) -> Need | None:
    return (
        await session.execute(
            select(Need).where(Need.id == need_id).with_for_update().execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


def decide_need(need: Need, state: str, now: datetime, *, catalog_year: int | None = None, note: str | None = None) -> None:
    """Mark a new need ``taken`` (into the catalog of ``catalog_year``) or ``declined`` (with ``note``)."""
    check_move(NEED_MOVES, "need", need.state, state)
    need.state = state
    need.catalog_year = catalog_year if state == "taken" else None
    need.decision_note = note
    need.decided_at = now


async def latest_needs(session: AsyncSession, offset: int, limit: int) -> tuple[list[Need], int]:
    """A page of needs, newest first, and how many there are."""
    total = await session.scalar(select(func.count()).select_from(Need)) or 0
    stmt = select(Need).order_by(Need.created_at.desc(), Need.id.desc()).offset(offset).limit(limit)
    return list((await session.execute(stmt)).scalars()), total


# --- the report --------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """Local calendar days ``since`` … ``until``, both included."""

    since: date
    until: date

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1

    def previous(self) -> Period:
        """The period of the same length that ends the day before this one starts."""
        return Period(self.since - timedelta(days=self.days), self.since - timedelta(days=1))

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        start = datetime.combine(self.since, time(0), zone).astimezone(UTC)
        end = datetime.combine(self.until + timedelta(days=1), time(0), zone).astimezone(UTC)
        return start, end


@dataclass(frozen=True)
class Counts:
    period: Period
    total: int
    by_category: dict[str, int]
    by_district: dict[str | None, int]
    matrix: dict[tuple[str, str | None], int]
    by_target_group: dict[str, int]
    by_state: dict[str, int]


@dataclass(frozen=True)
class NeedsReport:
    current: Counts
    previous: Counts | None  # None when the period is "everything so far"

    def change(self, category: str | None = None) -> int | None:
        """How many more (or fewer) needs than in the previous period; overall or for one category."""
        if self.previous is None:
            return None
        if category is None:
            return self.current.total - self.previous.total
        return self.current.by_category.get(category, 0) - self.previous.by_category.get(category, 0)


def _ordered(rows: list[tuple[Any, ...]]) -> dict[Any, int]:
    # largest first, then by name, so reports read the same every time
    return {key: n for key, n in sorted(rows, key=lambda r: (-r[1], "" if r[0] is None else str(r[0])))}


async def count_needs(session: AsyncSession, period: Period, zone: ZoneInfo) -> Counts:
    start, end = period.bounds(zone)
    where = (Need.created_at >= start, Need.created_at < end)

    async def grouped(*columns: Any) -> list[tuple[Any, ...]]:
        stmt = select(*columns, func.count()).where(*where).group_by(*columns)
        return [tuple(row) for row in (await session.execute(stmt)).all()]

    total = await session.scalar(select(func.count()).select_from(Need).where(*where)) or 0
    matrix_rows = await grouped(Need.category, Need.district)
    matrix = {(cat, dist): n for cat, dist, n in sorted(matrix_rows, key=lambda r: (str(r[0]), str(r[1] or "")))}
    return Counts(
        period=period,
        total=total,
        by_category=_ordered(await grouped(Need.category)),
        by_district=_ordered(await grouped(Need.district)),
        matrix=matrix,
        by_target_group=_ordered(await grouped(Need.target_group)),
        by_state=_ordered(await grouped(Need.state)),
    )


async def first_need_day(session: AsyncSession, zone: ZoneInfo) -> date | None:
    first = await session.scalar(select(func.min(Need.created_at)))
    return first.astimezone(zone).date() if first is not None else None


async def needs_report(session: AsyncSession, period: Period, zone: ZoneInfo, *, compare: bool = True) -> NeedsReport:
    current = await count_needs(session, period, zone)
    previous = await count_needs(session, period.previous(), zone) if compare else None
    return NeedsReport(current, previous)


async def needs_in_period(session: AsyncSession, period: Period, zone: ZoneInfo) -> list[Need]:
    """Every need filed in the period, oldest first (for the export)."""
    start, end = period.bounds(zone)
    stmt = select(Need).where(Need.created_at >= start, Need.created_at < end).order_by(Need.created_at, Need.id)
    return list((await session.execute(stmt)).scalars())
