"""Committee members and their invitations: accept, decline, time out to the next reserve."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from store.audit import record
from store.models import (
    Expert,
    Identity,
    ReviewCommittee,
    ReviewExclusion,
    ReviewMember,
)
from store.review.base import BLOCKING, ENTITY, ReviewError


async def committee_members(session: AsyncSession, committee_id: int) -> list[tuple[ReviewMember, Expert]]:
    stmt = (select(ReviewMember, Expert).join(Expert, Expert.id == ReviewMember.expert_id)
            .where(ReviewMember.committee_id == committee_id)
            .order_by(ReviewMember.field, ReviewMember.position))
    return [(m, e) for m, e in (await session.execute(stmt)).all()]


async def committee_exclusions(session: AsyncSession, committee_id: int) -> list[tuple[Expert, str, str | None]]:
    stmt = (select(Expert, ReviewExclusion.reason, ReviewExclusion.detail)
            .join(ReviewExclusion, ReviewExclusion.expert_id == Expert.id)
            .where(ReviewExclusion.committee_id == committee_id).order_by(Expert.code))
    return [(e, r, d) for e, r, d in (await session.execute(stmt)).all()]


async def expert_identities(session: AsyncSession, expert_ids: Sequence[int]) -> dict[int, int]:
    """Expert id → a reachable chat identity bound to the expert."""
    stmt = select(Identity.expert_id, Identity.id).where(
        Identity.expert_id.in_(expert_ids), Identity.role == "expert", Identity.unreachable.is_(False)
    ).order_by(Identity.id)
    return {expert_id: identity_id for expert_id, identity_id in (await session.execute(stmt)).all()}


async def member_of(session: AsyncSession, member_id: int, expert_id: int) -> ReviewMember | None:
    """The membership, only when it is the expert's own and its committee is still in use."""
    stmt = (select(ReviewMember).join(ReviewCommittee, ReviewCommittee.id == ReviewMember.committee_id)
            .where(ReviewMember.id == member_id, ReviewMember.expert_id == expert_id,
                   ReviewCommittee.state.in_(BLOCKING)).with_for_update(of=ReviewMember))
    return (await session.execute(stmt)).scalar_one_or_none()


async def expert_memberships(session: AsyncSession, expert_id: int) -> list[tuple[ReviewMember, ReviewCommittee]]:
    stmt = (select(ReviewMember, ReviewCommittee).join(ReviewCommittee, ReviewCommittee.id == ReviewMember.committee_id)
            .where(ReviewMember.expert_id == expert_id, ReviewCommittee.state == "active",
                   ReviewMember.state.in_(("invited", "accepted", "submitted")))
            .order_by(ReviewCommittee.id))
    return [(m, c) for m, c in (await session.execute(stmt)).all()]


async def _next_reserve(session: AsyncSession, committee_id: int, expert_field: str) -> ReviewMember | None:
    stmt = (select(ReviewMember).where(ReviewMember.committee_id == committee_id, ReviewMember.field == expert_field,
                                       ReviewMember.state == "reserve")
            .order_by(ReviewMember.position).limit(1).with_for_update())
    return (await session.execute(stmt)).scalar_one_or_none()


async def _replace(session: AsyncSession, member: ReviewMember, state: str, reason: str | None, actor: str,
                   now: datetime) -> ReviewMember | None:
    member.state = state
    member.reason = reason
    member.answered_at = now
    reserve = await _next_reserve(session, member.committee_id, member.field)
    if reserve is not None:
        reserve.state = "invited"
        reserve.invited_at = now
    committee = await session.get(ReviewCommittee, member.committee_id)
    codes = {expert_id: code for expert_id, code in await session.execute(select(Expert.id, Expert.code).where(
        Expert.id.in_([member.expert_id] + ([reserve.expert_id] if reserve else []))))}
    await record(session, now, actor, f"review.{state}", ENTITY, committee.code if committee else str(member.committee_id),
                 expert=codes[member.expert_id], field=member.field, reason=reason,
                 reserve=codes.get(reserve.expert_id) if reserve else None)
    await session.flush()
    return reserve


async def answer_invitation(
    session: AsyncSession, member: ReviewMember, accept: bool, reason: str | None, actor: str, now: datetime
) -> ReviewMember | None:
    """Accept, or decline with a reason (the field's next reserve is invited and returned)."""
    if member.state != "invited":
        raise ReviewError("answered", f"the invitation was already answered ({member.state})", state=member.state)
    if accept:
        member.state = "accepted"
        member.answered_at = now
        committee = await session.get(ReviewCommittee, member.committee_id)
        await record(session, now, actor, "review.accepted", ENTITY, committee.code if committee else "", member=member.id)
        return None
    return await _replace(session, member, "declined", reason, actor, now)


async def expire_invitations(session: AsyncSession, now: datetime, hours: int) -> list[tuple[ReviewMember, ReviewMember | None]]:
    """Invitations unanswered for ``hours``: each times out and calls its field's next reserve."""
    stmt = (select(ReviewMember).join(ReviewCommittee, ReviewCommittee.id == ReviewMember.committee_id)
            .where(ReviewCommittee.state == "active", ReviewMember.state == "invited",
                   ReviewMember.invited_at <= now - timedelta(hours=hours))
            .order_by(ReviewMember.id).with_for_update(of=ReviewMember))
    out = []
    for member in (await session.execute(stmt)).scalars():
        out.append((member, await _replace(session, member, "timeout", None, "reminders", now)))
    return out


async def unfinished_members(session: AsyncSession) -> list[tuple[ReviewMember, ReviewCommittee]]:
    """Accepted members of active committees who have not submitted: the reminder rule's recipients."""
    stmt = (select(ReviewMember, ReviewCommittee).join(ReviewCommittee, ReviewCommittee.id == ReviewMember.committee_id)
            .where(ReviewCommittee.state == "active", ReviewMember.state == "accepted"))
    return [(m, c) for m, c in (await session.execute(stmt)).all()]
