"""Results of a committee: trimmed expert scores, the ranking, grades, publication and what the public may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.audit import record
from store.models import (
    Application,
    Call,
    Expert,
    Organization,
    Project,
    ReviewCommittee,
    ReviewMember,
    ReviewScore,
    ReviewSheet,
    ReviewSubject,
)
from store.review.base import ENTITY, ReviewError

TRIM_FROM = 5  # with this many totals or more, the single highest and lowest are dropped


def expert_score(count: int, total: float, lowest: float, highest: float) -> float | None:
    """Mean of ``count`` totals summing to ``total``, without the single highest and lowest when there are
    five or more (given as aggregates so the database never sends each expert's total)."""
    if count <= 0:
        return None
    if count >= TRIM_FROM:
        return (total - lowest - highest) / (count - 2)
    return total / count


@dataclass
class ResultRow:
    subject_id: int
    subject_ref: str  # application reference or project code
    application_id: int | None
    project_id: int | None
    organization_id: int
    organization: str
    requested_fen: int | None
    submitted_at: datetime | None
    status: str
    expert_score: float | None
    previous_score: float | None
    ranking_score: float | None
    scores: int
    criteria: dict[str, float]
    rank: int | None = None


async def results(session: AsyncSession, committee: ReviewCommittee, weight: float) -> list[ResultRow]:
    """Every subject of the committee, ranked: submitted sheets only; unscored ones last, unranked.

    Rows are read through the connection (Core), not the ORM: thousands of plain tuples need no identity map.
    """
    await session.flush()  # the Core reads below do not autoflush pending sheet and member changes
    conn = await session.connection()
    members = select(ReviewMember.id).where(ReviewMember.committee_id == committee.id, ReviewMember.state == "submitted")
    counted = (ReviewSheet.member_id.in_(members), ReviewSheet.conflict.is_(False), ReviewSheet.total.is_not(None))
    totals = {subject_id: (n, total, low, high) for subject_id, n, total, low, high in (await conn.execute(
        select(ReviewSheet.subject_id, func.count(), func.sum(ReviewSheet.total), func.min(ReviewSheet.total),
               func.max(ReviewSheet.total)).where(*counted).group_by(ReviewSheet.subject_id))).all()}
    criteria_stmt = (select(ReviewSheet.subject_id, ReviewScore.criterion, func.avg(ReviewScore.points))
                     .join(ReviewSheet, ReviewSheet.id == ReviewScore.sheet_id)
                     .where(*counted).group_by(ReviewSheet.subject_id, ReviewScore.criterion))
    criteria: dict[int, dict[str, float]] = {}
    for subject_id, criterion, mean in (await conn.execute(criteria_stmt)).all():
        # unrounded (SQLite gives floats, PostgreSQL Decimals): the outputs round what they show
        criteria.setdefault(subject_id, {})[criterion] = mean
    call = await session.get(Call, committee.call_id)
    assert call is not None
    stmt: Select[Any]
    if committee.stage == "approval":
        stmt = (select(ReviewSubject.id, Application.reference, Application.id, Application.organization_id,
                       Organization.name_zh, Application.total_fen, Application.submitted_at, Application.status,
                       ReviewSubject.project_id)
                .join(Application, Application.id == ReviewSubject.application_id))
    else:
        stmt = (select(ReviewSubject.id, Project.code, Project.application_id, Project.organization_id,
                       Organization.name_zh, Project.amount_fen, Application.submitted_at, Project.status,
                       ReviewSubject.project_id)
                .join(Project, Project.id == ReviewSubject.project_id)
                .outerjoin(Application, Application.id == Project.application_id))
    stmt = stmt.join(Organization, Organization.id == stmt.selected_columns[3]).where(
        ReviewSubject.committee_id == committee.id)
    rows = (await conn.execute(stmt)).all()
    previous: dict[int, Any] = {org: average for org, average in await conn.execute(
        select(Project.organization_id, func.avg(Project.evaluation_score))
        .where(Project.year == call.year - 1, Project.evaluation_score.is_not(None))
        .group_by(Project.organization_id))}
    out: list[ResultRow] = []
    for subject_id, ref, application_id, org_id, org_name, requested, submitted_at, status, project_id in rows:
        count, total, lowest, highest = totals.get(subject_id, (0, 0, 0, 0))
        expert = expert_score(count, total, lowest, highest)
        prev = float(previous[org_id]) if org_id in previous and previous[org_id] is not None else None
        ranking = None if expert is None else (expert if prev is None else weight * expert + (1 - weight) * prev)
        out.append(ResultRow(
            subject_id, ref or f"#{application_id}", application_id, project_id, org_id, org_name, requested, submitted_at, status,
            None if expert is None else round(expert, 2), None if prev is None else round(prev, 2),
            None if ranking is None else round(ranking, 2), count,
            criteria.get(subject_id, {}),
        ))
    return rank_rows(out)


def rank_rows(rows: list[ResultRow]) -> list[ResultRow]:
    """Order by ranking score; ties: the higher expert score, then the earlier submission. Unscored rows
    come last without a rank."""
    far = float("inf")
    rows.sort(key=lambda r: (r.ranking_score is None, -(r.ranking_score or 0), -(r.expert_score or 0),
                             r.submitted_at.timestamp() if r.submitted_at else far, r.subject_id))
    for rank, row in enumerate(rows, start=1):
        row.rank = rank if row.ranking_score is not None else None
    return rows



async def publish(session: AsyncSession, committee: ReviewCommittee, actor: str, now: datetime) -> None:
    """Make the committee's names and aggregate scores public; individual sheets stay private."""
    if committee.state != "active":
        raise ReviewError("not_active", f"committee {committee.code} is {committee.state}", state=committee.state)
    committee.state = "published"
    committee.published_at = now
    await record(session, now, actor, "review.publish", ENTITY, committee.code)


@dataclass(frozen=True)
class PublishedReview:
    """What the public may know of a published committee's review of one project: the aggregate and the names."""

    committee: str
    stage: str
    expert_score: float | None
    members: list[str]


async def published_reviews(session: AsyncSession, project_id: int) -> list[PublishedReview]:
    """The published committees that reviewed the project (as an application, then at acceptance)."""
    project = await session.get(Project, project_id)
    if project is None:
        return []
    subject_match = ReviewSubject.project_id == project.id
    if project.application_id is not None:
        subject_match = subject_match | (ReviewSubject.application_id == project.application_id)
    stmt = (select(ReviewCommittee, ReviewSubject.id).join(ReviewSubject, ReviewSubject.committee_id == ReviewCommittee.id)
            .where(subject_match, ReviewCommittee.state == "published").order_by(ReviewCommittee.id))
    found = []
    for committee, subject_id in (await session.execute(stmt)).all():
        submitted = select(ReviewMember.id).where(ReviewMember.committee_id == committee.id,
                                                  ReviewMember.state == "submitted")
        n, total, low, high = (await session.execute(
            select(func.count(), func.coalesce(func.sum(ReviewSheet.total), 0), func.min(ReviewSheet.total),
                   func.max(ReviewSheet.total))
            .where(ReviewSheet.subject_id == subject_id, ReviewSheet.member_id.in_(submitted),
                   ReviewSheet.conflict.is_(False), ReviewSheet.total.is_not(None)))).one()
        names = list((await session.execute(
            select(Expert.name).join(ReviewMember, ReviewMember.expert_id == Expert.id)
            .where(ReviewMember.committee_id == committee.id, ReviewMember.state == "submitted")
            .order_by(ReviewMember.field, ReviewMember.position))).scalars())
        score = expert_score(int(n), float(total), float(low or 0), float(high or 0))
        found.append(PublishedReview(committee.code, committee.stage, None if score is None else round(score, 2), names))
    return found
