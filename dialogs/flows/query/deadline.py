"""query_deadline: the calls for applications open, coming and last closed, or one project's next milestones."""

from __future__ import annotations

from datetime import datetime

from dialogs.context import Context
from dialogs.flows.query import record as records
from dialogs.flows.query.reading import back, run
from dialogs.listing import localized
from dialogs.questions import Question
from dialogs.types import Button
from store import public


def _local_day(ctx: Context, moment: datetime) -> str:
    return ctx.day(moment.astimezone(ctx.settings.zone).date())


async def deadline(ctx: Context, q: Question) -> None:
    if q.project is not None:
        record = await records.find(ctx, q)
        if record is None:
            return
        lines = [ctx.t("query.deadline.title", title=localized(ctx, record.title_zh, record.title_en), code=record.code)]
        upcoming = await public.next_milestones(ctx.session, record.id, ctx.now)
        for m in upcoming:
            key = "query.deadline.milestone_overdue" if m.overdue else "query.deadline.milestone"
            lines.append(ctx.t(key, kind=ctx.t(f"lifecycle.milestone.{m.kind}"), day=_local_day(ctx, m.due_at)))
        if not upcoming:
            lines.append(ctx.t("query.deadline.no_milestones"))
        ctx.say("\n".join(lines), records.project_buttons(ctx, record, "query_deadline"))
        return
    windows = await public.call_windows(ctx.session, ctx.now)
    lines = []
    for call in windows.open:
        days = (call.closes_at.astimezone(ctx.settings.zone).date() - ctx.today).days
        lines.append(ctx.t("query.deadline.open", title=localized(ctx, call.title_zh, call.title_en),
                           opens=_local_day(ctx, call.opens_at), closes=ctx.moment(call.closes_at),
                           days=days, items=call.items))
    for call in windows.upcoming:
        lines.append(ctx.t("query.deadline.upcoming", title=localized(ctx, call.title_zh, call.title_en),
                           opens=ctx.moment(call.opens_at), closes=ctx.moment(call.closes_at)))
    if not lines and windows.last_closed is not None:
        call = windows.last_closed
        lines.append(ctx.t("query.deadline.last_closed", title=localized(ctx, call.title_zh, call.title_en),
                           closes=ctx.moment(call.closes_at)))
    if not lines:
        lines.append(ctx.t("query.deadline.no_calls"))
    lines.append(ctx.t("query.deadline.project_hint"))
    buttons = [[Button(ctx.t("query.browse.catalog"), run(Question("query_catalog", year=c.year)))]
               for c in (*windows.open, *windows.upcoming)][:2]
    buttons += [[Button(ctx.t("query.browse.faq"), run(Question("faq_process")))], [back(ctx)]]
    ctx.say("\n".join(lines), buttons)
