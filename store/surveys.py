"""Satisfaction surveys: opening one, single-use invitations, anonymous responses, and results in SQL.

A response keeps no link to the person or the token: the invitation is only marked used with a
date, and the response gets a random key and a date. Results are aggregated by the database
(GROUP BY), never by loading responses; imported responses (``survey_id`` NULL) count as one
closed survey of their project.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Project, Survey, SurveyAnswer, SurveyInvitation, SurveyResponse

TOKEN_PREFIX = "s"  # /start payloads of survey invitations; binding codes use "b"
TOKEN_BYTES = 16  # 128 random bits, 22 URL-safe characters
MAX_TOKEN_LENGTH = 64  # Telegram's /start payload limit
MAX_INVITATIONS = 1000  # per call, so a typo cannot flood the table
DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")

SCALE5, SCALE10, SINGLE, MULTI, TEXT, NUMBER = "scale5", "scale10", "single", "multi", "text", "number"
KINDS = (SCALE5, SCALE10, SINGLE, MULTI, TEXT, NUMBER)
OVERALL, RECOMMEND = "overall", "recommend"
# Item codes of the standard template and their kinds, fixed by the import format (survey_responses.csv).
STANDARD_ITEMS: dict[str, str] = {
    "needs_met": SCALE5, "attitude": SCALE5, "skill": SCALE5, "convenience": SCALE5,
    "helpfulness": SCALE5, "responsiveness": SCALE5, OVERALL: SCALE5, RECOMMEND: SCALE10,
    "suggestion": TEXT, "age_group": SINGLE, "sessions": NUMBER, "what_went_wrong": TEXT,
}
TOP_TWO = (4, 5)  # 满意 and 非常满意
PROMOTER_MIN, DETRACTOR_MAX = 9, 6
Z_95 = 1.96
LIST_SEPARATOR = ";"  # a multiple-choice answer is stored as its codes joined, as in the import format

Answer = int | str | list[str]


class SurveyError(Exception):
    """A survey action that cannot be done as asked (the message says why)."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


# --- surveys and invitations ------------------------------------------------------------------

async def open_survey_of(session: AsyncSession, project_id: int, now: datetime) -> Survey | None:
    """The project's survey that is open at ``now``, if any."""
    stmt = (
        select(Survey)
        .where(Survey.project_id == project_id, Survey.opens_at <= now, Survey.closes_at > now)
        .order_by(Survey.closes_at.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def open_survey(
    session: AsyncSession, project_id: int, now: datetime, closes_at: datetime, *, template: str = "standard"
) -> Survey:
    """Open a survey of the project from ``now`` until ``closes_at`` (one open survey per project)."""
    if closes_at <= now:
        raise SurveyError("the closing time must be in the future")
    current = await open_survey_of(session, project_id, now)
    if current is not None:
        raise SurveyError(f"the project already has a survey open until {current.closes_at.isoformat()}")
    survey = Survey(project_id=project_id, template=template, opens_at=now, closes_at=closes_at, created_at=now)
    session.add(survey)
    await session.flush()
    return survey


@dataclass(frozen=True)
class Issued:
    invitation_id: int
    token: str


async def create_invitations(session: AsyncSession, survey: Survey, count: int, now: datetime) -> list[Issued]:
    """``count`` single-use tokens for ``survey``, valid until it closes; only their hashes are stored."""
    if not 1 <= count <= MAX_INVITATIONS:
        raise SurveyError(f"the number of invitations must be between 1 and {MAX_INVITATIONS}")
    if survey.closes_at <= now:
        raise SurveyError("the survey is closed")
    tokens = [new_token() for _ in range(count)]
    rows = [
        SurveyInvitation(survey_id=survey.id, token_hash=token_hash(t), expires_at=survey.closes_at, created_at=now)
        for t in tokens
    ]
    session.add_all(rows)
    await session.flush()
    return [Issued(row.id, token) for row, token in zip(rows, tokens, strict=True)]


@dataclass(frozen=True)
class Redemption:
    """An invitation looked up by token or id, with why it cannot be used (``problem``), if so."""

    invitation_id: int | None
    survey: Survey | None
    problem: str | None  # "unknown" | "used" | "expired" | "not_open"


def _judge(invitation: SurveyInvitation, survey: Survey, now: datetime) -> Redemption:
    if invitation.used_on is not None:
        problem: str | None = "used"
    elif invitation.expires_at <= now or survey.closes_at <= now:
        problem = "expired"
    elif survey.opens_at > now:
        problem = "not_open"
    else:
        problem = None
    return Redemption(invitation.id, survey, problem)


async def redeem(session: AsyncSession, token: str, now: datetime) -> Redemption:
    """Look an invitation up by its token (a forged or mistyped one is simply unknown)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        return Redemption(None, None, "unknown")
    stmt = (
        select(SurveyInvitation, Survey)
        .join(Survey, Survey.id == SurveyInvitation.survey_id)
        .where(SurveyInvitation.token_hash == token_hash(token))
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return Redemption(None, None, "unknown")
    return _judge(row[0], row[1], now)


async def check_invitation(session: AsyncSession, invitation_id: int, now: datetime) -> Redemption:
    """The same judgement as ``redeem`` for an invitation already redeemed (by its id)."""
    stmt = (
        select(SurveyInvitation, Survey)
        .join(Survey, Survey.id == SurveyInvitation.survey_id)
        .where(SurveyInvitation.id == invitation_id)
        .execution_options(populate_existing=True)
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return Redemption(None, None, "unknown")
    return _judge(row[0], row[1], now)


def _stored(value: Answer) -> tuple[int | None, str | None]:
    if isinstance(value, bool):
        raise TypeError("a survey answer is a number, a text or a list of choice codes")
    if isinstance(value, int):
        return value, None
    if isinstance(value, list):
        return None, LIST_SEPARATOR.join(value)
    return None, value


async def submit_response(
    session: AsyncSession, invitation_id: int, answers: Mapping[str, Answer], now: datetime, today: date
) -> str | None:
    """Store an anonymous response and use the invitation up; the problem instead when it cannot be used.

    The invitation is claimed with one conditional UPDATE, so of two submissions racing on one
    token only one gets the row; the response it writes carries no identity, no token, no time.
    """
    found = await check_invitation(session, invitation_id, now)
    if found.problem is not None or found.survey is None:
        return found.problem or "unknown"
    claimed = await session.execute(
        update(SurveyInvitation)
        .where(SurveyInvitation.id == invitation_id, SurveyInvitation.used_on.is_(None))
        .values(used_on=today)
        .returning(SurveyInvitation.id)
        .execution_options(synchronize_session=False)
    )
    if claimed.first() is None:
        return "used"
    survey = found.survey
    response = SurveyResponse(
        response_key=secrets.token_hex(16), project_id=survey.project_id, survey_id=survey.id, submitted_on=today
    )
    session.add(response)
    await session.flush()
    rows = []
    for item, value in answers.items():
        value_int, value_text = _stored(value)
        rows.append({"response_id": response.id, "item": item, "value_int": value_int, "value_text": value_text})
    if rows:
        await session.execute(insert(SurveyAnswer), rows)
    return None


# --- which survey --------------------------------------------------------------------------------

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


# --- results -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ItemResult:
    code: str
    kind: str
    answered: int
    distribution: dict[str, int]  # answer (score or choice code) -> count; empty for free text
    top_two_share: float | None = None  # 5-point items: share of 4 and 5
    mean: float | None = None  # scales and numbers


@dataclass(frozen=True)
class Results:
    project_id: int
    survey_id: int | None
    closed: bool
    opens_on: date
    closes_on: date
    responses: int
    valid_responses: int
    invitations: int
    used_invitations: int
    recipients: int | None
    response_rate: float | None
    response_rate_basis: str | None  # "invitations" | "recipients"
    satisfaction_rate: float | None
    mean_score: float | None
    nps: float | None
    margin_of_error: float | None
    items: dict[str, ItemResult] = field(default_factory=dict)

    @property
    def imported(self) -> bool:
        return self.survey_id is None

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of ``civicbot survey results --json`` (rates 0–1, scores 0–100)."""
        return {
            "project_id": self.project_id,
            "survey_id": self.survey_id,
            "imported": self.imported,
            "closed": self.closed,
            "opens_on": self.opens_on.isoformat(),
            "closes_on": self.closes_on.isoformat(),
            "responses": self.responses,
            "valid_responses": self.valid_responses,
            "invitations": self.invitations,
            "used_invitations": self.used_invitations,
            "recipients": self.recipients,
            "response_rate": _round(self.response_rate, 4),
            "response_rate_basis": self.response_rate_basis,
            "satisfaction_rate": _round(self.satisfaction_rate, 4),
            "mean_score": _round(self.mean_score, 2),
            "nps": _round(self.nps, 2),
            "margin_of_error": _round(self.margin_of_error, 4),
            "items": {
                code: {
                    "kind": item.kind, "answered": item.answered, "distribution": item.distribution,
                    "top_two_share": _round(item.top_two_share, 4), "mean": _round(item.mean, 3),
                }
                for code, item in self.items.items()
            },
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _scope(ref: SurveyRef) -> ColumnElement[bool]:
    if ref.survey_id is None:
        return and_(SurveyResponse.project_id == ref.project_id, SurveyResponse.survey_id.is_(None))
    return SurveyResponse.survey_id == ref.survey_id


def margin_of_error(p: float, n: int, population: int | None) -> float | None:
    """95 % margin of error of a share ``p`` observed on ``n``, finite-population corrected when N is known."""
    if n <= 0:
        return None
    error = Z_95 * math.sqrt(p * (1 - p) / n)
    if population is not None:
        if n >= population:
            return 0.0  # everyone answered: nothing left to estimate
        error *= math.sqrt((population - n) / (population - 1))
    return error


def _item(code: str, kind: str, counts: dict[Any, int]) -> ItemResult:
    answered = sum(counts.values())
    if kind in (SCALE5, SCALE10, NUMBER):
        scores = {int(v): n for v, n in counts.items() if v is not None}
        distribution = {str(v): scores[v] for v in sorted(scores)}
        mean = sum(v * n for v, n in scores.items()) / answered if answered else None
        top = sum(scores.get(v, 0) for v in TOP_TWO) / answered if kind == SCALE5 and answered else None
        return ItemResult(code, kind, answered, distribution, top, mean)
    if kind == MULTI:
        picked: dict[str, int] = {}
        for combination, n in counts.items():
            for option in str(combination or "").split(LIST_SEPARATOR):
                if option:
                    picked[option] = picked.get(option, 0) + n
        return ItemResult(code, kind, answered, dict(sorted(picked.items())))
    if kind == SINGLE:
        return ItemResult(code, kind, answered, {str(v): n for v, n in sorted(counts.items(), key=lambda kv: str(kv[0]))})
    return ItemResult(code, kind, answered, {})


async def survey_results(
    session: AsyncSession, ref: SurveyRef, now: datetime, kinds: Mapping[str, str] | None = None
) -> Results:
    """Every figure of one survey, aggregated in SQL (one GROUP BY over its answers)."""
    kinds = dict(STANDARD_ITEMS if kinds is None else kinds)
    scope = _scope(ref)
    choice_codes = [code for code, kind in kinds.items() if kind in (SINGLE, MULTI)]
    # Two GROUP BYs: scores (and counts of free text, never its content) need only (item, value_int),
    # which an index can cover; choice codes need value_text, read for the choice items alone.
    scored = (
        select(SurveyAnswer.item, SurveyAnswer.value_int, func.count())
        .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
        .where(scope)
        .group_by(SurveyAnswer.item, SurveyAnswer.value_int)
    )
    counts: dict[str, dict[Any, int]] = {}
    for item, value, n in (await session.execute(scored)).all():
        if item not in choice_codes:  # their counts come by code below
            counts.setdefault(item, {})[value] = n
    if choice_codes:
        chosen = (
            select(SurveyAnswer.item, SurveyAnswer.value_text, func.count())
            .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
            .where(scope, SurveyAnswer.item.in_(choice_codes))
            .group_by(SurveyAnswer.item, SurveyAnswer.value_text)
        )
        for item, value, n in (await session.execute(chosen)).all():
            counts.setdefault(item, {})[value] = n
    items = {
        code: _item(code, kinds.get(code) or (NUMBER if any(isinstance(k, int) for k in c) else TEXT), c)
        for code, c in counts.items()
    }

    responses = await session.scalar(select(func.count()).select_from(SurveyResponse).where(scope)) or 0
    invitations = used = 0
    if ref.survey_id is not None:
        invitations, used = (
            await session.execute(
                select(func.count(), func.count(SurveyInvitation.used_on)).where(SurveyInvitation.survey_id == ref.survey_id)
            )
        ).one()
    recipients = await session.scalar(select(Project.recipients).where(Project.id == ref.project_id))

    overall = items.get(OVERALL)
    valid = overall.answered if overall else 0
    satisfaction = mean_score = margin = None
    if overall and valid:
        scores = {int(v): n for v, n in overall.distribution.items()}
        satisfaction = sum(scores.get(v, 0) for v in TOP_TWO) / valid
        mean_score = sum(v * n for v, n in scores.items()) / (valid * 5) * 100
        margin = margin_of_error(satisfaction, valid, recipients)
    nps = None
    recommend = items.get(RECOMMEND)
    if recommend and recommend.answered:
        scores = {int(v): n for v, n in recommend.distribution.items()}
        promoters = sum(n for v, n in scores.items() if v >= PROMOTER_MIN)
        detractors = sum(n for v, n in scores.items() if v <= DETRACTOR_MAX)
        nps = (promoters - detractors) / recommend.answered * 100
    if invitations:
        rate, basis = valid / invitations, "invitations"
    elif recipients:
        rate, basis = valid / recipients, "recipients"
    else:
        rate, basis = None, None
    return Results(
        project_id=ref.project_id, survey_id=ref.survey_id, closed=ref.closed(now), opens_on=ref.opens_on,
        closes_on=ref.closes_on, responses=responses, valid_responses=valid, invitations=invitations,
        used_invitations=used, recipients=recipients, response_rate=rate, response_rate_basis=basis,
        satisfaction_rate=satisfaction, mean_score=mean_score, nps=nps, margin_of_error=margin,
        items=dict(sorted(items.items(), key=lambda kv: _order(kinds, kv[0]))),
    )


def _order(kinds: Mapping[str, str], code: str) -> tuple[int, str]:
    order = list(kinds)
    return (order.index(code), "") if code in kinds else (len(order), code)


def _free_text_filter(ref: SurveyRef, items: Sequence[str]) -> ColumnElement[bool]:
    return and_(_scope(ref), SurveyAnswer.item.in_(list(items)), SurveyAnswer.value_text.is_not(None))


async def free_text(
    session: AsyncSession, ref: SurveyRef, items: Sequence[str], *, limit: int | None = None
) -> list[tuple[str, str]]:
    """(item, text) of free-text answers, for staff only; sorted by text so the order tells nothing."""
    stmt = (
        select(SurveyAnswer.item, SurveyAnswer.value_text)
        .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
        .where(_free_text_filter(ref, items))
        .order_by(SurveyAnswer.item, SurveyAnswer.value_text)
        .limit(limit)
    )
    return [(item, text) for item, text in (await session.execute(stmt)).all()]


async def count_free_text(session: AsyncSession, ref: SurveyRef, items: Sequence[str]) -> int:
    stmt = (
        select(func.count())
        .select_from(SurveyAnswer)
        .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
        .where(_free_text_filter(ref, items))
    )
    return await session.scalar(stmt) or 0


# --- disclosure ----------------------------------------------------------------------------------

def disclosable(results: Results, min_responses: int) -> bool:
    """The public sees a survey's figures only once it is closed and has enough valid responses."""
    return results.closed and results.valid_responses >= min_responses


async def public_satisfaction(
    session: AsyncSession, project_id: int, now: datetime, min_responses: int, *, zone: ZoneInfo = DEFAULT_ZONE
) -> Results | None:
    """The figures of the project's last closed survey when they may be published, else None.

    ``Results`` carries aggregates only, never free text.
    """
    ref = await latest_survey(session, project_id, now, closed_only=True, zone=zone)
    if ref is None:
        return None
    results = await survey_results(session, ref, now)
    return results if disclosable(results, min_responses) else None


# --- lookups for staff ---------------------------------------------------------------------------

async def staff_projects(session: AsyncSession, department_id: int | None, *, limit: int = 200) -> list[Project]:
    """Projects whose surveys staff of ``department_id`` run (None: every department), newest first."""
    stmt = select(Project).order_by(Project.year.desc(), Project.code).limit(limit)
    if department_id is not None:
        stmt = stmt.where(Project.department_id == department_id)
    return list((await session.execute(stmt)).scalars())
