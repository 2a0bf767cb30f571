"""Opening a survey, single-use invitations, redeeming one, and an anonymous response."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Survey, SurveyAnswer, SurveyInvitation, SurveyResponse
from store.surveys.basics import (
    LIST_SEPARATOR,
    MAX_INVITATIONS,
    MAX_TOKEN_LENGTH,
    TOKEN_PREFIX,
    Answer,
    SurveyError,
    new_token,
    token_hash,
)


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
