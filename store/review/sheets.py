"""Score sheets: the assignments of a member, scores per criterion, comments, conflicts, submission."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.audit import record
from store.models import (
    Application,
    Project,
    ReviewCommittee,
    ReviewMember,
    ReviewScore,
    ReviewSheet,
    ReviewSubject,
)
from store.review.base import ENTITY, ReviewError


@dataclass(frozen=True)
class Assignment:
    subject: ReviewSubject
    title: str
    reference: str
    organization_id: int
    sheet: ReviewSheet | None


async def assignments(session: AsyncSession, member: ReviewMember) -> list[Assignment]:
    """The member's subjects in batch order, with the member's sheet of each."""
    committee = await session.get(ReviewCommittee, member.committee_id)
    assert committee is not None
    stmt: Select[Any]
    if committee.stage == "approval":
        stmt = (select(ReviewSubject, Application.title, Application.reference, Application.organization_id)
                .join(Application, Application.id == ReviewSubject.application_id))
    else:
        stmt = (select(ReviewSubject, Project.title_zh, Project.code, Project.organization_id)
                .join(Project, Project.id == ReviewSubject.project_id))
    stmt = stmt.where(ReviewSubject.committee_id == committee.id).order_by(ReviewSubject.id)
    rows = (await session.execute(stmt)).all()
    sheets = {s.subject_id: s for s in (await session.execute(
        select(ReviewSheet).where(ReviewSheet.member_id == member.id))).scalars()}
    return [Assignment(subject, title or ref or "", ref or f"#{subject.id}", org, sheets.get(subject.id))
            for subject, title, ref, org in rows]


async def sheet_scores(session: AsyncSession, sheet_id: int) -> dict[str, int]:
    rows = await session.execute(
        select(ReviewScore.criterion, ReviewScore.points).where(ReviewScore.sheet_id == sheet_id))
    return {criterion: points for criterion, points in rows}


async def _sheet(session: AsyncSession, member: ReviewMember, subject_id: int, now: datetime) -> ReviewSheet:
    if member.state == "submitted":
        raise ReviewError("final", "the scores were submitted and are final")
    if member.state != "accepted":
        raise ReviewError("not_accepted", "accept the invitation before scoring")
    subject = await session.get(ReviewSubject, subject_id)
    if subject is None or subject.committee_id != member.committee_id:
        raise ReviewError("not_assigned", "this application is not assigned to you")
    sheet = (await session.execute(select(ReviewSheet).where(
        ReviewSheet.member_id == member.id, ReviewSheet.subject_id == subject_id))).scalar_one_or_none()
    if sheet is None:
        sheet = ReviewSheet(member_id=member.id, subject_id=subject_id, conflict=False, updated_at=now)
        session.add(sheet)
        await session.flush()
    if sheet.conflict:
        raise ReviewError("conflict", "you declared a conflict of interest with this application")
    return sheet


async def score(session: AsyncSession, member: ReviewMember, subject_id: int, criterion: str, points: int,
                now: datetime) -> ReviewSheet:
    """Set one criterion's points (bounds are the rubric's, checked by the caller) and the sheet's total."""
    sheet = await _sheet(session, member, subject_id, now)
    existing = await session.get(ReviewScore, (sheet.id, criterion))
    if existing is None:
        session.add(ReviewScore(sheet_id=sheet.id, criterion=criterion, points=points))
    else:
        existing.points = points
    await session.flush()
    sheet.total = sum((await sheet_scores(session, sheet.id)).values())
    sheet.updated_at = now
    return sheet


async def set_comment(session: AsyncSession, member: ReviewMember, subject_id: int, comment: str, now: datetime) -> None:
    sheet = await _sheet(session, member, subject_id, now)
    sheet.comment = comment
    sheet.updated_at = now


async def declare_conflict(session: AsyncSession, member: ReviewMember, subject_id: int, actor: str, now: datetime) -> None:
    """Exclude the member from one subject: its scores are dropped and it no longer counts."""
    sheet = await _sheet(session, member, subject_id, now)
    sheet.conflict = True
    sheet.total = None
    sheet.updated_at = now
    await session.execute(delete(ReviewScore).where(ReviewScore.sheet_id == sheet.id))
    committee = await session.get(ReviewCommittee, member.committee_id)
    await record(session, now, actor, "review.conflict", ENTITY, committee.code if committee else "",
                 member=member.id, subject=subject_id)


async def submit(session: AsyncSession, member: ReviewMember, criteria: Sequence[str], actor: str, now: datetime) -> None:
    """Make the member's sheets final; every subject must be fully scored or declared a conflict."""
    if member.state == "submitted":
        raise ReviewError("final", "the scores were already submitted")
    missing = []
    for a in await assignments(session, member):
        if a.sheet is not None and a.sheet.conflict:
            continue
        scored = await sheet_scores(session, a.sheet.id) if a.sheet is not None else {}
        if set(criteria) - set(scored):
            missing.append(a.reference)
    if missing:
        raise ReviewError("incomplete", f"not fully scored: {', '.join(missing)}", missing=", ".join(missing))
    member.state = "submitted"
    member.submitted_at = now
    committee = await session.get(ReviewCommittee, member.committee_id)
    await record(session, now, actor, "review.submit", ENTITY, committee.code if committee else "", member=member.id)
