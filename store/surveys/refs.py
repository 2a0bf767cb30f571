"""Which survey: a project's surveys (imported responses count as one closed survey), the latest, one by id;
and the projects whose surveys staff run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Project, Survey, SurveyResponse
from store.surveys.basics import (
    DEFAULT_ZONE,
)


@dataclass(frozen=True)
class SurveyRef:
    """One survey of a project: a chat survey, or (``survey_id`` None) its imported responses."""

    project_id: int
    survey_id: int | None
    template: str
    opens_on: date
    closes_on: date
    closes_at: datetime | None  # None for the imported survey, which is closed by definition

    @property
    def imported(self) -> bool:
        return self.survey_id is None

    def closed(self, now: datetime) -> bool:
        return self.closes_at is None or self.closes_at <= now


def last_open_day(closes_at: datetime, zone: ZoneInfo) -> date:
    """The last local day a survey can be answered: the one date shown for its closing everywhere
    (a survey closing at local midnight was open through the day before)."""
    return (closes_at.astimezone(zone) - timedelta(microseconds=1)).date()


def _local_end(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(), zone)


async def project_surveys(session: AsyncSession, project_id: int, zone: ZoneInfo = DEFAULT_ZONE) -> list[SurveyRef]:
    """The project's surveys, the one that closes last at the end (imported responses count as one)."""
    refs = [
        SurveyRef(project_id, s.id, s.template, s.opens_at.astimezone(zone).date(),
                  last_open_day(s.closes_at, zone), s.closes_at)
        for s in (await session.execute(select(Survey).where(Survey.project_id == project_id))).scalars()
    ]
    first, last = (
        await session.execute(
            select(func.min(SurveyResponse.submitted_on), func.max(SurveyResponse.submitted_on))
            .where(SurveyResponse.project_id == project_id, SurveyResponse.survey_id.is_(None))
        )
    ).one()
    if last is not None:
        refs.append(SurveyRef(project_id, None, "standard", first, last, None))
    return sorted(refs, key=lambda r: r.closes_at or _local_end(r.closes_on, zone))


async def latest_survey(
    session: AsyncSession, project_id: int, now: datetime, *, closed_only: bool = False, zone: ZoneInfo = DEFAULT_ZONE
) -> SurveyRef | None:
    """The project's survey that closes (or closed) last; with ``closed_only``, the last closed one."""
    refs = [r for r in await project_surveys(session, project_id, zone) if not closed_only or r.closed(now)]
    return refs[-1] if refs else None


async def find_survey(
    session: AsyncSession, project_id: int, survey_id: int | None, zone: ZoneInfo = DEFAULT_ZONE
) -> SurveyRef | None:
    """One survey of the project by id (None: the imported responses)."""
    return next((r for r in await project_surveys(session, project_id, zone) if r.survey_id == survey_id), None)


# --- lookups for staff ---------------------------------------------------------------------------

async def staff_projects(session: AsyncSession, department_id: int | None, *, limit: int = 200) -> list[Project]:
    """Projects whose surveys staff of ``department_id`` run (None: every department), newest first."""
    stmt = select(Project).order_by(Project.year.desc(), Project.code).limit(limit)
    if department_id is not None:
        stmt = stmt.where(Project.department_id == department_id)
    return list((await session.execute(stmt)).scalars())
