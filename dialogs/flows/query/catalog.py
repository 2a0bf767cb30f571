"""query_catalog: a year's catalog of purchasable services, by item or first-level category."""

from __future__ import annotations

from dataclasses import replace

from dialogs.context import Context
from dialogs.flows.query.pages import nav
from dialogs.flows.query.reading import back, run
from dialogs.flows.query.scope import level1_label
from dialogs.flows.query.years import year_buttons, year_of
from dialogs.listing import PAGE_SIZE, clamp_page, localized, page_count
from dialogs.questions import Question
from dialogs.types import Button
from store import public


async def catalog(ctx: Context, q: Question) -> None:
    years = await public.catalog_years(ctx.session)
    year = year_of(ctx, q.year, years)
    q = replace(q, year=year)
    rows = await public.catalog(ctx.session, year, code=q.item, level1=q.level1) if year is not None else []
    category = ""
    if q.item or q.level1:
        names = await public.catalog_item_names(ctx.session, q.item) if q.item else None
        label = localized(ctx, *names) if names else await level1_label(ctx, q.level1 or q.item or "")
        category = ctx.t("query.catalog.scope", category=label)
    if not rows:
        lines = [ctx.t("query.catalog.none", year=year or ctx.today.year, scope=category)]
        if years:
            lines.append(ctx.t("query.catalog.years", years=ctx.t("query.list_separator").join(str(y) for y in years)))
        ctx.say("\n".join(lines), [*year_buttons(ctx, replace(q, item=None, level1=None), years), [back(ctx)]])
        return
    number = clamp_page(q.page, len(rows))
    q = replace(q, page=number)
    lines = [ctx.t("query.catalog.title", year=year, scope=category, count=len(rows))]
    buttons: list[Button] = []
    shown = rows[number * PAGE_SIZE:(number + 1) * PAGE_SIZE]
    money = ctx.amounts(row.ceiling_fen for row in shown)
    for n, row in enumerate(shown, start=number * PAGE_SIZE + 1):
        ceiling = money(row.ceiling_fen) if row.ceiling_fen is not None else ctx.t("query.catalog.no_ceiling")
        lines.append(ctx.t("query.catalog.row", n=n, code=row.code, name=localized(ctx, row.name_zh, row.name_en)))
        lines.append(ctx.t("query.catalog.row_detail", level1=localized(ctx, row.level1_zh, row.level1_en),
                           ceiling=ceiling, department=localized(ctx, row.department_zh, row.department_en)))
        buttons.append(Button(ctx.t("query.button.item_projects", code=row.code),
                              run(Question("query_projects", item=row.code, year=year))))
    rows_of_buttons = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    if page_count(len(rows)) > 1:
        lines.append(ctx.t("paging.page", page=number + 1, pages=page_count(len(rows))))
        rows_of_buttons.append(nav(ctx, q, len(rows)))
    ctx.say("\n".join(lines), [*rows_of_buttons, [back(ctx)]])
