"""Results in SQL (GROUP BY, never loading responses), free-text answers, and when they may be published."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Project, SurveyAnswer, SurveyInvitation, SurveyResponse
from store.surveys.basics import (
    DEFAULT_ZONE,
    DETRACTOR_MAX,
    LIST_SEPARATOR,
    MULTI,
    NUMBER,
    OVERALL,
    PROMOTER_MIN,
    RECOMMEND,
    SCALE5,
    SCALE10,
    SINGLE,
    STANDARD_ITEMS,
    TEXT,
    TOP_TWO,
    Z_95,
)
from store.surveys.refs import (
    SurveyRef,
    latest_survey,
)


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
