"""The verifiable draw (seed, pool snapshot, algorithm version), the seed commitment, and its verification.

The draw is reproducible from what the committee stores: the seed (from ``secrets``), the sorted
pool of expert codes left after the exclusions, and the algorithm version. Algorithm ``hmac-sha256/1``
orders each field's pool by HMAC-SHA256(seed, "field|code") and takes members, then reserves, from
the front. The commitment published before a draw is the SHA-256 of the seed's text.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from typing import Any

from sqlalchemy import Select, String, and_, cast, func, insert, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.audit import record
from store.lifecycle import APPLICATION_MOVES, check_move
from store.models import (
    EXPERT_FIELDS,
    Application,
    AuditEntry,
    Call,
    CallItem,
    Expert,
    ExpertConflict,
    ExpertUnavailability,
    Identity,
    Organization,
    Project,
    ReviewCommittee,
    ReviewExclusion,
    ReviewMember,
    ReviewSubject,
)
from store.review.base import ENTITY, ReviewError, current_committee
from store.review.invitations import committee_exclusions

ALGORITHM = "hmac-sha256/1"
DEFAULT_MEMBERS = {"business": 2, "finance": 1, "management": 1, "law": 1}
DEFAULT_RESERVES = 1


@dataclass(frozen=True)
class Draw:
    """Codes per field in draw order: the first ``members[field]`` sit, the rest are reserves."""

    order: dict[str, list[str]]


def new_seed() -> str:
    return secrets.token_hex(32)


def commitment_of(seed: str) -> str:
    """SHA-256 of the seed's text: anyone can check it with ``printf %s SEED | sha256sum``."""
    return hashlib.sha256(seed.encode("ascii")).hexdigest()


def _rank_key(seed: str, expert_field: str, code: str) -> str:
    return hmac.new(seed.encode("ascii"), f"{expert_field}|{code}".encode(), hashlib.sha256).hexdigest()


def draw_from(seed: str, pool: Sequence[tuple[str, str]], members: Mapping[str, int], reserves: int) -> Draw:
    """The committee a seed picks from ``pool`` ((code, field) pairs): pure, so verification can rerun it.

    Raises ``ReviewError('too_few')`` naming the first field with fewer experts than seats.
    """
    by_field: dict[str, list[str]] = {f: [] for f in members}
    for code, expert_field in sorted(pool):
        if expert_field in by_field:
            by_field[expert_field].append(code)
    order: dict[str, list[str]] = {}
    for expert_field, seats in members.items():
        codes = by_field[expert_field]
        if len(codes) < seats:
            raise ReviewError("too_few", f"too few experts in the field {expert_field}: {len(codes)} left after "
                              f"the exclusions, {seats} needed", field=expert_field, available=len(codes), needed=seats)
        ranked = sorted(codes, key=partial(_rank_key, seed, expert_field))
        order[expert_field] = ranked[: seats + reserves]
    return Draw(order)


async def _committed(session: AsyncSession, call_id: int, stage: str) -> ReviewCommittee | None:
    stmt = select(ReviewCommittee).where(
        ReviewCommittee.call_id == call_id, ReviewCommittee.stage == stage, ReviewCommittee.state == "committed"
    ).order_by(ReviewCommittee.id.desc()).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


async def _new_code(session: AsyncSession, call: Call, stage: str) -> str:
    count = await session.scalar(select(func.count()).select_from(ReviewCommittee).where(ReviewCommittee.call_id == call.id))
    return f"{call.code}-{'A' if stage == 'approval' else 'C'}{int(count or 0) + 1}"


async def commit_seed(session: AsyncSession, call: Call, stage: str, actor: str, now: datetime) -> ReviewCommittee:
    """The seed the next draw of the call and stage will use, chosen now so its SHA-256 can be published."""
    existing = await _committed(session, call.id, stage)
    if existing is not None:
        return existing
    seed = new_seed()
    committee = ReviewCommittee(
        code=await _new_code(session, call, stage), call_id=call.id, stage=stage, state="committed", seed=seed,
        commitment=commitment_of(seed), algorithm=ALGORITHM, pool={}, counts={}, created_at=now,
    )
    session.add(committee)
    await session.flush()
    await record(session, now, actor, "review.commit", ENTITY, committee.code, commitment=committee.commitment)
    return committee


def _batch_source(call: Call, stage: str, previous: ReviewCommittee | None) -> Select[Any]:
    """(subject, org) of what a draw reviews: the previous committee's batch on a redraw, else the call's
    eligible applications (approval) or closing projects (acceptance), imported ones included."""
    if previous is not None:
        if stage == "approval":
            return (select(ReviewSubject.application_id.label("subject"), Application.organization_id.label("org"))
                    .join(Application, Application.id == ReviewSubject.application_id)
                    .where(ReviewSubject.committee_id == previous.id))
        return (select(ReviewSubject.project_id.label("subject"), Project.organization_id.label("org"))
                .join(Project, Project.id == ReviewSubject.project_id).where(ReviewSubject.committee_id == previous.id))
    if stage == "approval":
        return select(Application.id.label("subject"), Application.organization_id.label("org")).where(
            Application.call_id == call.id, Application.status == "eligible")
    # a project imported without an application belongs to the call of its catalog item and year
    call_items = select(CallItem.catalog_item_id).where(CallItem.call_id == call.id)
    return (select(Project.id.label("subject"), Project.organization_id.label("org"))
            .outerjoin(Application, Application.id == Project.application_id)
            .where(Project.status == "closing",
                   or_(Application.call_id == call.id,
                       and_(Project.application_id.is_(None), Project.year == call.year,
                            Project.catalog_item_id.in_(call_items)))))


async def exclusions(session: AsyncSession, organizations: Select[Any], today: date) -> dict[int, tuple[str, str | None]]:
    """Expert id → (reason, detail) for every expert who may not sit on a committee for the organizations
    ``organizations`` selects (one column of ids): the database matches them, no id list is sent."""
    excluded: dict[int, tuple[str, str | None]] = {}
    # NOT IN over one scan of the bound identities: identities has no index on expert_id to probe per expert
    reachable = select(Identity.expert_id).where(
        Identity.role == "expert", Identity.unreachable.is_(False), Identity.expert_id.is_not(None))
    unreachable_stmt = select(Expert.id).where(Expert.id.not_in(reachable))
    for expert_id in (await session.execute(unreachable_stmt)).scalars():
        excluded[expert_id] = ("unreachable", None)
    unavailable = select(ExpertUnavailability.expert_id, ExpertUnavailability.ends_on).where(
        ExpertUnavailability.starts_on <= today, ExpertUnavailability.ends_on >= today)
    for expert_id, ends_on in (await session.execute(unavailable)).all():
        excluded[expert_id] = ("unavailable", ends_on.isoformat())
    conflicts = (select(ExpertConflict.expert_id, Organization.name_zh)
                 .join(Organization, Organization.id == ExpertConflict.organization_id)
                 .where(ExpertConflict.organization_id.in_(organizations)))
    for expert_id, name in (await session.execute(conflicts)).all():
        excluded[expert_id] = ("conflict", name)
    affiliated = (select(Expert.id, Organization.name_zh)
                  .join(Organization, Organization.uscc == Expert.affiliation_uscc)
                  .where(Organization.id.in_(organizations)))
    for expert_id, name in (await session.execute(affiliated)).all():
        excluded[expert_id] = ("affiliated", name)
    return excluded


@dataclass
class DrawResult:
    committee: ReviewCommittee
    members: list[ReviewMember]
    excluded: list[tuple[Expert, str, str | None]] = field(default_factory=list)
    subjects: int = 0


def _check_counts(members: Mapping[str, int], reserves: int) -> None:
    for expert_field, seats in members.items():
        if expert_field not in EXPERT_FIELDS:
            raise ReviewError("bad_field", f"unknown field {expert_field!r}", field=expert_field)
        if not 0 <= seats <= 20:
            raise ReviewError("bad_count", f"{expert_field}: expected 0 to 20 seats, got {seats}", field=expert_field)
    if sum(members.values()) < 1:
        raise ReviewError("bad_count", "a committee needs at least one seat", field="")
    if not 0 <= reserves <= 20:
        raise ReviewError("bad_count", f"reserves: expected 0 to 20, got {reserves}", field="reserve")


async def draw_committee(
    session: AsyncSession, call: Call, stage: str, actor: str, now: datetime, today: date, *,
    members: Mapping[str, int] | None = None, reserves: int = DEFAULT_RESERVES, redraw: bool = False,
) -> DrawResult:
    """Draw the committee of a call and stage; a second draw needs ``redraw`` and replaces the active one."""
    seats = dict(members or DEFAULT_MEMBERS)
    _check_counts(seats, reserves)
    # two staff drawing at once: the second waits here, then finds the first one's committee active
    await session.execute(select(Call.id).where(Call.id == call.id).with_for_update())
    current = await current_committee(session, call.id, stage)
    if current is not None and (current.state == "published" or not redraw):
        raise ReviewError("active", f"committee {current.code} is already {current.state} for {call.code} ({stage})",
                          committee=current.code, state=current.state)
    if redraw and current is None:
        raise ReviewError("nothing_to_redraw", f"{call.code} has no active {stage} committee to redraw",
                          call=call.code)
    batch = _batch_source(call, stage, current).subquery()
    subjects = int(await session.scalar(select(func.count()).select_from(batch)) or 0)
    if not subjects:
        raise ReviewError("no_subjects", f"{call.code} has nothing to review at the {stage} stage "
                          f"({'no eligible applications' if stage == 'approval' else 'no closing projects'})",
                          call=call.code, stage=stage)
    excluded = await exclusions(session, select(batch.c.org), today)
    experts = {i: (code, f) for i, code, f in (await session.execute(select(Expert.id, Expert.code, Expert.field))).all()}
    pool = sorted((code, f) for i, (code, f) in experts.items() if i not in excluded)
    committee = await _committed(session, call.id, stage)
    seed = committee.seed if committee is not None else new_seed()
    chosen = draw_from(seed, pool, seats, reserves)  # raises too_few before anything is written
    if current is not None:
        current.state = "redrawn"
        await record(session, now, actor, "review.redraw", ENTITY, current.code, call=call.code)
    if committee is None:
        committee = ReviewCommittee(code=await _new_code(session, call, stage), call_id=call.id, stage=stage,
                                    seed=seed, commitment=commitment_of(seed), created_at=now)
        session.add(committee)
    committee.state = "active"
    committee.algorithm = ALGORITHM
    committee.pool = {"experts": [list(p) for p in pool]}
    committee.counts = {"members": seats, "reserves": reserves}
    committee.drawn_at = now
    await session.flush()
    by_code = {code: i for i, (code, _) in experts.items()}
    drawn: list[ReviewMember] = []
    for expert_field, codes in chosen.order.items():
        for position, code in enumerate(codes):
            sitting = position < seats[expert_field]
            drawn.append(ReviewMember(
                committee_id=committee.id, expert_id=by_code[code], field=expert_field, position=position,
                reserve=not sitting, state="invited" if sitting else "reserve", invited_at=now if sitting else None))
    session.add_all(drawn)
    session.add_all([ReviewExclusion(committee_id=committee.id, expert_id=expert_id, reason=reason, detail=detail)
                     for expert_id, (reason, detail) in excluded.items()])
    subject_column = ReviewSubject.application_id if stage == "approval" else ReviewSubject.project_id
    await session.execute(insert(ReviewSubject).from_select(
        [ReviewSubject.committee_id, subject_column], select(literal(committee.id), batch.c.subject)))
    if stage == "approval" and current is None:
        check_move(APPLICATION_MOVES, "application", "eligible", "under_review")
        # each application's history gets its move, as store.decisions audits one (one INSERT … SELECT for all)
        eligible = (Application.call_id == call.id, Application.status == "eligible")
        detail = literal({"from": "eligible", "committee": committee.code}, AuditEntry.__table__.c.detail.type)
        await session.execute(insert(AuditEntry).from_select(
            [AuditEntry.at, AuditEntry.actor, AuditEntry.action, AuditEntry.entity, AuditEntry.entity_key,
             AuditEntry.detail],
            select(literal(now, AuditEntry.__table__.c.at.type), literal(actor), literal("review"),
                   literal("application"), func.coalesce(Application.reference, "#" + cast(Application.id, String)),
                   detail).where(*eligible)))
        await session.execute(
            update(Application).where(*eligible).values(status="under_review", updated_at=now))
    await session.flush()
    await record(
        session, now, actor, "review.draw", ENTITY, committee.code, call=call.code, stage=stage, seed=seed,
        commitment=committee.commitment, algorithm=ALGORITHM, pool_size=len(pool), subjects=subjects,
        members={f: codes for f, codes in chosen.order.items()},
        excluded={experts[i][0]: reason for i, (reason, _) in excluded.items()},
    )
    return DrawResult(committee, drawn, await committee_exclusions(session, committee.id), subjects)


@dataclass(frozen=True)
class Verification:
    ok: bool
    problems: list[str]


async def verify(session: AsyncSession, committee: ReviewCommittee) -> Verification:
    """Recompute the draw from the stored seed, pool and algorithm and compare it with the stored members."""
    problems: list[str] = []
    if committee.state == "committed":
        return Verification(False, [f"{committee.code} has not been drawn yet"])
    if committee.algorithm != ALGORITHM:
        return Verification(False, [f"unknown algorithm {committee.algorithm!r}"])
    if commitment_of(committee.seed) != committee.commitment:
        problems.append("the seed does not match its published commitment")
    pool = [(code, f) for code, f in committee.pool.get("experts", [])]
    counts = committee.counts
    try:
        expected = draw_from(committee.seed, pool, counts.get("members", {}), int(counts.get("reserves", 0)))
    except ReviewError as exc:
        return Verification(False, [*problems, str(exc)])
    stmt = (select(ReviewMember.field, ReviewMember.position, Expert.code)
            .join(Expert, Expert.id == ReviewMember.expert_id)
            .where(ReviewMember.committee_id == committee.id))
    stored: dict[str, dict[int, str]] = {}
    for member_field, position, code in (await session.execute(stmt)).all():
        stored.setdefault(member_field, {})[position] = code
    for expert_field, codes in expected.order.items():
        got = [stored.get(expert_field, {}).get(i) for i in range(len(codes))]
        if got != codes or len(stored.get(expert_field, {})) != len(codes):
            problems.append(f"{expert_field}: stored {got} but the seed draws {codes}")
    extra = set(stored) - set(expected.order)
    problems.extend(f"{f}: stored members the draw has no seat for" for f in sorted(extra))
    excluded_codes = set((await session.execute(
        select(Expert.code).join(ReviewExclusion, ReviewExclusion.expert_id == Expert.id)
        .where(ReviewExclusion.committee_id == committee.id))).scalars())
    overlap = excluded_codes & {code for code, _ in pool}
    if overlap:
        problems.append(f"excluded experts in the pool: {', '.join(sorted(overlap))}")
    return Verification(not problems, problems)
