"""Expert review committees (专家评审): the verifiable draw, invitations and reserves, score sheets, results.

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
from datetime import date, datetime, timedelta
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
    CatalogItem,
    Expert,
    ExpertConflict,
    ExpertUnavailability,
    Identity,
    Organization,
    Project,
    ReviewCommittee,
    ReviewExclusion,
    ReviewMember,
    ReviewScore,
    ReviewSheet,
    ReviewSubject,
)

ALGORITHM = "hmac-sha256/1"
DEFAULT_MEMBERS = {"business": 2, "finance": 1, "management": 1, "law": 1}
DEFAULT_RESERVES = 1
BLOCKING = ("active", "published")  # a committee in these states refuses another draw of its call and stage
ENTITY = "committee"
TRIM_FROM = 5  # with this many totals or more, the single highest and lowest are dropped


class ReviewError(ValueError):
    """A refusal the caller shows to a person: ``code`` names the message, ``params`` fill it."""

    def __init__(self, code: str, message: str, **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


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
        ranked = sorted(codes, key=lambda c, f=expert_field: _rank_key(seed, f, c))  # type: ignore[misc]
        order[expert_field] = ranked[: seats + reserves]
    return Draw(order)


# --- lookups -----------------------------------------------------------------------------------

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


# --- the draw ----------------------------------------------------------------------------------

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


# --- members and invitations -------------------------------------------------------------------

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
    codes = dict((await session.execute(select(Expert.id, Expert.code).where(
        Expert.id.in_([member.expert_id] + ([reserve.expert_id] if reserve else []))))).all())
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


# --- score sheets ------------------------------------------------------------------------------

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
    return dict((await session.execute(
        select(ReviewScore.criterion, ReviewScore.points).where(ReviewScore.sheet_id == sheet_id))).all())


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
    await session.execute(ReviewScore.__table__.delete().where(ReviewScore.sheet_id == sheet.id))
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


# --- results -----------------------------------------------------------------------------------

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
    previous = dict((await conn.execute(
        select(Project.organization_id, func.avg(Project.evaluation_score))
        .where(Project.year == call.year - 1, Project.evaluation_score.is_not(None))
        .group_by(Project.organization_id))).all())
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


def grade_of(score: float) -> str:
    """优秀 ≥ 90, 良好 80–89, 合格 60–79, 不合格 < 60 (domain.md)."""
    if score >= 90:
        return "excellent"
    if score >= 80:
        return "good"
    if score >= 60:
        return "pass"
    return "fail"


async def unfinished_members(session: AsyncSession) -> list[tuple[ReviewMember, ReviewCommittee]]:
    """Accepted members of active committees who have not submitted: the reminder rule's recipients."""
    stmt = (select(ReviewMember, ReviewCommittee).join(ReviewCommittee, ReviewCommittee.id == ReviewMember.committee_id)
            .where(ReviewCommittee.state == "active", ReviewMember.state == "accepted"))
    return [(m, c) for m, c in (await session.execute(stmt)).all()]


async def publish(session: AsyncSession, committee: ReviewCommittee, actor: str, now: datetime) -> None:
    """Make the committee's names and aggregate scores public; individual sheets stay private."""
    if committee.state != "active":
        raise ReviewError("not_active", f"committee {committee.code} is {committee.state}", state=committee.state)
    committee.state = "published"
    committee.published_at = now
    await record(session, now, actor, "review.publish", ENTITY, committee.code)


# --- the pool ----------------------------------------------------------------------------------

async def expert_by_code(session: AsyncSession, code: str) -> Expert | None:
    return (await session.execute(select(Expert).where(Expert.code == code))).scalar_one_or_none()


async def find_organizations(session: AsyncSession, text: str, limit: int = 5) -> list[Organization]:
    """Organizations by exact USCC or by a part of the Chinese name."""
    stmt = select(Organization).where((Organization.uscc == text.upper()) | Organization.name_zh.contains(text))
    return list((await session.execute(stmt.order_by(Organization.name_zh).limit(limit))).scalars())


async def declare_standing_conflict(
    session: AsyncSession, expert_id: int, organization_id: int, actor: str, now: datetime
) -> bool:
    """The expert is never drawn for a batch with this organization; False when it was declared before."""
    if await session.get(ExpertConflict, (expert_id, organization_id)) is not None:
        return False
    session.add(ExpertConflict(expert_id=expert_id, organization_id=organization_id, created_at=now))
    await record(session, now, actor, "expert.conflict", "expert", str(expert_id), organization=organization_id)
    return True


async def mark_unavailable(
    session: AsyncSession, expert: Expert, starts_on: date, ends_on: date, reason: str | None, actor: str, now: datetime
) -> None:
    if ends_on < starts_on:
        raise ReviewError("period", "the period ends before it starts")
    session.add(ExpertUnavailability(expert_id=expert.id, starts_on=starts_on, ends_on=ends_on, reason=reason))
    await record(session, now, actor, "expert.unavailable", "expert", expert.code, starts_on=starts_on.isoformat(),
                 ends_on=ends_on.isoformat(), reason=reason)


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
