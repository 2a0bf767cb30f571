"""query_funding: what the projects asked about were granted and paid, or one project's tranches."""

from __future__ import annotations

from dialogs.context import Context
from dialogs.flows.query import record as records
from dialogs.flows.query.numbers import percent
from dialogs.flows.query.pages import fetch_page, project_list
from dialogs.flows.query.scope import scope
from dialogs.listing import localized
from dialogs.questions import Question
from store import public


async def funding(ctx: Context, q: Question) -> None:
    if q.project is None:
        q, page = await fetch_page(ctx, q)
        intro = []
        if page.total:
            paid = await public.paid_total(ctx.session, q.filter())
            money = ctx.amounts([page.amount_fen, paid, *(row.amount_fen for row in page.rows)])
            intro = [ctx.t("query.funding.summary", scope=await scope(ctx, q), count=page.total,
                           amount=money(page.amount_fen), paid=money(paid),
                           share=percent(ctx, paid, page.amount_fen)),
                     ctx.t("query.funding.pick")]
        await project_list(ctx, q, intro, fetched=page, intro_amounts=(paid,) if page.total else ())
        return
    record = await records.find(ctx, q)
    if record is None:
        return
    tranches = await public.tranches(ctx.session, record.id)
    total = sum(t.amount_fen for t in tranches)
    remaining = max(record.amount_fen - total, 0)
    money = ctx.amounts([record.amount_fen, total, remaining, *(t.amount_fen for t in tranches)])
    lines = [
        ctx.t("query.funding.title", title=localized(ctx, record.title_zh, record.title_en), code=record.code),
        ctx.t("query.funding.amount", amount=money(record.amount_fen)),
        ctx.t("query.funding.paid", paid=money(total), share=percent(ctx, total, record.amount_fen)),
    ]
    lines += [ctx.t("query.funding.tranche", n=t.installment, amount=money(t.amount_fen), day=ctx.day(t.paid_on))
              for t in tranches] or [ctx.t("query.funding.no_tranches")]
    lines.append(ctx.t("query.funding.remaining", remaining=money(remaining)))
    ctx.say("\n".join(lines), records.project_buttons(ctx, record, "query_funding"))
