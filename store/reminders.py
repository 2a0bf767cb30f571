"""When milestone reminders fall due, and the queries that find the milestones concerned.

A reminder moment is the send hour (local) on the calendar day ``due date − offset`` (offsets 14, 7,
3, 1, 0 by default) or ``due date + n × every`` while overdue (n = 1 … max). An evaluation looks
at the moments in the window ``(after, until]`` since the previous one, so it reads only the
milestones whose due date can have a moment there — a handful of index range scans on
``ix_milestones_open_due`` — and never the whole table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from store.decisions import PENDING_STATUSES
from store.inserts import InsertIgnore
from store.models import Application, CatalogItem, Identity, Milestone, Organization, Project
from store.outbox import insert_selected
from store.types import UTCDateTime

# Projects whose milestones nobody is chased for any more.
FINISHED_PROJECT_STATUSES = ("closed", "terminated")


@dataclass(frozen=True)
class Moment:
    """One reminder moment of a milestone: ``rule`` is ``d<days before>`` or ``o<n-th overdue>``."""

    rule: str
    day: date
    overdue: bool


@dataclass(frozen=True)
class Schedule:
    zone: ZoneInfo
    send_time: time
    offsets: tuple[int, ...] = (14, 7, 3, 1, 0)
    overdue_every: int = 3
    overdue_max: int = 5

    def at(self, day: date) -> datetime:
        """The send moment of a local calendar day, in UTC."""
        return datetime.combine(day, self.send_time, tzinfo=self.zone).astimezone(UTC)

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def moments(self, due_day: date) -> list[Moment]:
        """Every reminder moment of a milestone due on ``due_day``, earliest first."""
        before = [Moment(f"d{k}", due_day - timedelta(days=k), False) for k in sorted(set(self.offsets), reverse=True)]
        overdue = [
            Moment(f"o{n}", due_day + timedelta(days=n * self.overdue_every), True)
            for n in range(1, self.overdue_max + 1)
        ]
        return before + overdue

    def send_days(self, after: datetime, until: datetime) -> tuple[date, date] | None:
        """First and last local day whose send moment lies in ``(after, until]``; None when there is none."""
        first = self.local_day(after)
        if self.at(first) <= after:
            first += timedelta(days=1)
        last = self.local_day(until)
        if self.at(last) > until:
            last -= timedelta(days=1)
        return (first, last) if first <= last else None

    def latest(self, due_day: date, days: tuple[date, date]) -> Moment | None:
        """The latest moment of a milestone due on ``due_day`` among the send days ``days`` (inclusive)."""
        first, last = days
        for moment in reversed(self.moments(due_day)):
            if first <= moment.day <= last:
                return moment
            if moment.day < first:
                return None
        return None

    def shifts(self) -> list[int]:
        """Days from a moment to the due date, over every rule (negative once overdue)."""
        return sorted({*self.offsets, *(-n * self.overdue_every for n in range(1, self.overdue_max + 1))})

    def due_days(self, days: tuple[date, date]) -> list[date]:
        """Every due date that has a moment on one of the send days ``days`` (inclusive)."""
        first, last = days
        span = (last - first).days
        return sorted({first + timedelta(days=s + i) for s in self.shifts() for i in range(span + 1)})

    def day_range(self, day: date) -> tuple[datetime, datetime]:
        """The local calendar day as a half-open UTC range."""
        return self._midnight(day), self._midnight(day + timedelta(days=1))

    def due_ranges(self, days: tuple[date, date]) -> list[tuple[datetime, datetime]]:
        """Half-open UTC ranges of ``due_at`` whose milestones have a moment on one of ``days``, merged."""
        first, last = days
        spans = sorted((first + timedelta(days=s), last + timedelta(days=s)) for s in self.shifts())
        merged: list[list[date]] = []
        for lo, hi in spans:
            if merged and lo <= merged[-1][1] + timedelta(days=1):
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        return [(self._midnight(lo), self._midnight(hi + timedelta(days=1))) for lo, hi in merged]

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.zone).astimezone(UTC)


def merge_ranges(ranges: Sequence[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Half-open ranges merged where they touch or overlap, so no row is read twice."""
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(r for r in ranges if r[0] < r[1]):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


@dataclass(frozen=True)
class OpenMilestone:
    """An open milestone of a running project, with what a reminder about it says and whom it goes to."""

    id: int
    kind: str
    due_at: datetime
    project_id: int
    project_code: str
    title_zh: str
    title_en: str | None
    organization_id: int
    department_id: int


def _open_milestones() -> Select[Any]:
    return (
        select(
            Milestone.id, Milestone.kind, Milestone.due_at, Project.id, Project.code, Project.title_zh,
            Project.title_en, Project.organization_id, Project.department_id,
        )
        .join(Project, Project.id == Milestone.project_id)
        .where(Milestone.done_at.is_(None), Project.status.not_in(FINISHED_PROJECT_STATUSES))
    )


async def milestones_due_in(
    session: AsyncSession, ranges: Sequence[tuple[datetime, datetime]]
) -> list[OpenMilestone]:
    """Open milestones of running projects with ``due_at`` in any of the half-open ``ranges``.

    One SELECT per range joined by UNION ALL, so each is an index range scan on (done_at, due_at)
    (an OR of ranges would make SQLite scan the open milestones instead).
    """
    ranges = merge_ranges(ranges)
    if not ranges:
        return []
    parts = [_open_milestones().where(Milestone.due_at >= lo, Milestone.due_at < hi) for lo, hi in ranges]
    stmt = parts[0] if len(parts) == 1 else union_all(*parts)
    return [OpenMilestone(*row) for row in (await session.execute(stmt)).all()]


async def unalerted_milestones_due_in(
    session: AsyncSession, ranges: Sequence[tuple[datetime, datetime]]
) -> list[OpenMilestone]:
    """Like ``milestones_due_in``, but only milestones whose staff were never alerted of their due date
    (overdue before the service first evaluated them, imported overdue, or re-dated)."""
    ranges = merge_ranges(ranges)
    unalerted = or_(Milestone.alerted_due_at.is_(None), Milestone.alerted_due_at != Milestone.due_at)
    parts = [_open_milestones().where(Milestone.due_at >= lo, Milestone.due_at < hi, unalerted) for lo, hi in ranges]
    if not parts:
        return []
    stmt = parts[0] if len(parts) == 1 else union_all(*parts)
    return [OpenMilestone(*row) for row in (await session.execute(stmt)).all()]


async def mark_alerted(session: AsyncSession, milestone_ids: Iterable[int]) -> None:
    """Staff were alerted of these milestones' current due dates."""
    wanted = sorted(set(milestone_ids))
    if wanted:
        await session.execute(
            update(Milestone).where(Milestone.id.in_(wanted)).values(alerted_due_at=Milestone.due_at)
            .execution_options(synchronize_session=False)
        )


def member_reminder_source(due_from: Any, due_to: Any) -> Select[Any]:
    """Open milestones of running projects due in ``[due_from, due_to)``, once per reachable member of the
    project's organization: the rows reminders are queued from (columns labelled for the caller).

    The bounds are constants of the statement, so SQLite scans ``ix_milestones_open_due`` and
    PostgreSQL's planner knows how few rows to expect (and joins by index, not by hashing projects)."""
    return (
        select(
            Milestone.id.label("milestone_id"), Milestone.kind.label("milestone_kind"),
            Project.id.label("project_id"), Project.code.label("project_code"), Project.title_zh.label("title_zh"),
            Project.title_en.label("title_en"), Identity.id.label("identity_id"),
        )
        .join(Project, Project.id == Milestone.project_id)
        .join(Identity, and_(Identity.organization_id == Project.organization_id, Identity.role == "org",
                             Identity.unreachable.is_(False)))
        .where(Milestone.done_at.is_(None), Milestone.due_at >= due_from, Milestone.due_at < due_to,
               Project.status.not_in(FINISHED_PROJECT_STATUSES))
    )


@cache
def reminder_rows() -> Select[Any]:
    """(dedup_key, identity_id, milestone_id) of the organizations' reminders about the open milestones due
    on one day, once per reachable member — bind parameters ``due_from``, ``due_to`` (the day as a UTC
    range) and ``dedup_suffix`` (``:<rule>:<day>``): built once, run per due day, fanned out by the
    database; no milestone or member row comes into Python."""
    # the day's bounds are rendered into the SQL at execution (the compiled form stays cached), so
    # PostgreSQL plans each run for its own few rows instead of a generic plan after five runs
    rows = member_reminder_source(
        bindparam("due_from", type_=UTCDateTime(), literal_execute=True),
        bindparam("due_to", type_=UTCDateTime(), literal_execute=True),
    ).subquery()
    dedup = (literal("remind:") + cast(rows.c.milestone_id, String) + ":" + cast(rows.c.identity_id, String)
             + bindparam("dedup_suffix", type_=String()))
    return select(dedup.label("dedup_key"), rows.c.identity_id, rows.c.milestone_id)


@cache
def reminder_insert() -> InsertIgnore:
    """The reminders' INSERT … SELECT (``store.outbox.enqueue_selected``), one object for the life of the
    process (its cache key is computed once)."""
    return insert_selected(reminder_rows())


async def organization_names(session: AsyncSession, ids: Iterable[int]) -> dict[int, tuple[str, str | None]]:
    """Chinese and English names of the organizations ``ids``."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    stmt = select(Organization.id, Organization.name_zh, Organization.name_en).where(Organization.id.in_(wanted))
    return {org_id: (zh, en) for org_id, zh, en in (await session.execute(stmt)).all()}


@dataclass(frozen=True)
class MilestoneSubject:
    """A milestone a queued notice is about, as it stands when the notice is sent."""

    id: int
    kind: str
    due_at: datetime
    done_at: datetime | None
    project_id: int
    project_code: str
    title_zh: str
    title_en: str | None


async def milestone_subjects(session: AsyncSession, ids: Iterable[int]) -> dict[int, MilestoneSubject]:
    """The milestones ``ids`` (those still in the database) with their project's code and title."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    stmt = (
        select(Milestone.id, Milestone.kind, Milestone.due_at, Milestone.done_at, Project.id, Project.code,
               Project.title_zh, Project.title_en)
        .join(Project, Project.id == Milestone.project_id)
        .where(Milestone.id.in_(wanted))
    )
    return {row[0]: MilestoneSubject(*row) for row in (await session.execute(stmt)).all()}


# --- the staff digest --------------------------------------------------------------------------

@dataclass(frozen=True)
class DigestItem:
    milestone_kind: str
    due_at: datetime
    project_id: int
    project_code: str
    title_zh: str
    title_en: str | None


@dataclass
class DigestScope:
    """What one department's staff (or, with ``department_id`` None, an administrator) hear about."""

    department_id: int | None
    overdue: int = 0
    due_soon: int = 0
    applications: int = 0
    overdue_items: list[DigestItem] = field(default_factory=list)
    soon_items: list[DigestItem] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.overdue or self.due_soon or self.applications)


async def digest_scopes(
    session: AsyncSession,
    department_ids: Sequence[int],
    include_all: bool,
    now: datetime,
    horizon: datetime,
    limit: int,
) -> dict[int | None, DigestScope]:
    """Digest content for each of ``department_ids`` (and the whole city under None when ``include_all``).

    One GROUP BY pass counts the open milestones due before ``horizon`` per department and list (overdue,
    due soon) without bringing them into Python; then each list is read in due order, a page at a time
    with a LIMIT (so both planners walk the open-due index), until every scope has its first ``limit``.
    (Ranking every row with window functions sorted them all; a LIMIT query per department lets
    PostgreSQL misjudge how few open milestones are overdue, and scan them all each time.)
    """
    scopes: dict[int | None, DigestScope] = {d: DigestScope(d) for d in department_ids}
    if include_all:
        scopes[None] = DigestScope(None)
    if not scopes:
        return scopes
    late = case((Milestone.due_at < now, 1), else_=0)
    running = (Milestone.done_at.is_(None), Project.status.not_in(FINISHED_PROJECT_STATUSES))
    counts = (
        select(Project.department_id, late, func.count())
        .select_from(Milestone)
        .join(Project, Project.id == Milestone.project_id)
        .where(*running, Milestone.due_at < horizon)
        .group_by(Project.department_id, late)
    )
    if not include_all:
        counts = counts.where(Project.department_id.in_(list(department_ids)))
    for department_id, overdue, count in (await session.execute(counts)).all():
        for key in {department_id, None} & scopes.keys():
            if overdue:
                scopes[key].overdue += count
            else:
                scopes[key].due_soon += count
    # the first ``limit`` of each list, per department and for the city: pages of the open milestones in
    # due order, until every scope has as many as it counts (few pages: departments interleave)
    due_order = (Milestone.due_at, Milestone.project_id, Milestone.kind)  # unique: (project, kind) is
    for overdue in (True, False):
        lists = {key: scope.overdue_items if overdue else scope.soon_items for key, scope in scopes.items()}
        wanted = {key: min(limit, scope.overdue if overdue else scope.due_soon) for key, scope in scopes.items()}
        window = (Milestone.due_at < now,) if overdue else (Milestone.due_at >= now, Milestone.due_at < horizon)
        page, after = max(64, 4 * limit * len(scopes)), None
        while any(len(lists[key]) < wanted[key] for key in scopes):
            stmt = (
                select(Milestone.id, Milestone.kind, Milestone.due_at, Project.id.label("project_id"), Project.code,
                       Project.title_zh, Project.title_en, Project.department_id)
                .join(Project, Project.id == Milestone.project_id)
                .where(*running, *window)
                .order_by(*due_order)  # the index's own order: walked, never sorted
                .limit(page)
            )
            if not include_all:
                stmt = stmt.where(Project.department_id.in_(list(department_ids)))
            if after is not None:
                stmt = stmt.where(tuple_(*due_order) > tuple_(*after))
            rows = (await session.execute(stmt)).all()
            for row in rows:
                for key in {row.department_id, None} & scopes.keys():
                    if len(lists[key]) < wanted[key]:
                        lists[key].append(DigestItem(row.kind, row.due_at, row.project_id, row.code, row.title_zh,
                                                     row.title_en))
            if len(rows) < page:
                break
            after, page = (rows[-1].due_at, rows[-1].project_id, rows[-1].kind), page * 4
    waiting = (
        select(CatalogItem.department_id, func.count())
        .select_from(Application)
        .join(CatalogItem, CatalogItem.id == Application.catalog_item_id)
        .where(Application.status.in_(PENDING_STATUSES))
        .group_by(CatalogItem.department_id)
    )
    for department_id, count in (await session.execute(waiting)).all():
        for key in {department_id, None} & scopes.keys():
            scopes[key].applications += count
    return scopes
