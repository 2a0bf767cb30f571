"""query_satisfaction: a project's disclosed survey results (hidden below the minimum of responses)."""

from __future__ import annotations

from dialogs.context import Context
from dialogs.flows.query import record as records
from dialogs.flows.query.numbers import percent
from dialogs.flows.query.pages import project_list
from dialogs.listing import localized
from dialogs.questions import Question
from dialogs.surveys import report
from store import surveys


async def satisfaction(ctx: Context, q: Question) -> None:
    if q.project is None:
        await project_list(ctx, q, [ctx.t("query.satisfaction.pick")])
        return
    record = await records.find(ctx, q)
    if record is None:
        return
    title = localized(ctx, record.title_zh, record.title_en)
    minimum = ctx.settings.disclosure_min_responses
    results = await surveys.public_satisfaction(ctx.session, record.id, ctx.now, minimum, zone=ctx.settings.zone)
    if results is None:
        ctx.say(ctx.t("query.satisfaction.hidden", title=title, code=record.code, min=minimum),
                records.project_buttons(ctx, record, "query_satisfaction"))
        return
    lines = [ctx.t("query.satisfaction.title", title=title, code=record.code)]
    rate = results.satisfaction_rate or 0.0
    margin = report.shown_margin(results)
    if margin is not None:
        lines.append(ctx.t("query.satisfaction.rate", rate=percent(ctx, rate, 1), margin=f"{round(margin * 100, 1):g}"))
    elif results.margin_of_error is not None:
        lines.append(ctx.t("query.satisfaction.rate_small", rate=percent(ctx, rate, 1), valid=results.valid_responses))
    else:
        lines.append(ctx.t("query.satisfaction.rate_plain", rate=percent(ctx, rate, 1)))
    if results.mean_score is not None:
        lines.append(ctx.t("query.satisfaction.mean", mean=f"{round(results.mean_score, 1):g}"))
    lines.append(ctx.t("query.satisfaction.valid", valid=results.valid_responses))
    if results.nps is not None:
        lines.append(ctx.t("query.satisfaction.nps", nps=f"{round(results.nps, 1):+g}"))
    lines.append(ctx.t("query.satisfaction.period", opens=ctx.day(results.opens_on), closes=ctx.day(results.closes_on)))
    ctx.say("\n".join(lines), records.project_buttons(ctx, record, "query_satisfaction"))
