"""query_budget: a year's budget for purchased services by department, and how much of it is approved."""

from __future__ import annotations

from dataclasses import replace

from dialogs.context import Context
from dialogs.flows.query.numbers import percent
from dialogs.flows.query.reading import LABEL_LIMIT, back, run
from dialogs.flows.query.years import year_buttons, year_of
from dialogs.listing import PAGE_SIZE, localized, shorten
from dialogs.questions import Question
from dialogs.types import Button
from store import public


async def budget(ctx: Context, q: Question) -> None:
    years = await public.budget_years(ctx.session)
    year = year_of(ctx, q.year, years)
    q = replace(q, year=year)
    rows = await public.budgets(ctx.session, year, q.department) if year is not None else []
    if not rows:
        scope = ""
        if q.department:
            names = await public.department_names(ctx.session, q.department)
            scope = ctx.t("query.catalog.scope", category=localized(ctx, *names) if names else q.department)
        lines = [ctx.t("query.budget.none", year=year or ctx.today.year, scope=scope)]
        if years:
            lines.append(ctx.t("query.budget.years", years=ctx.t("query.list_separator").join(str(y) for y in years)))
        ctx.say("\n".join(lines), [*year_buttons(ctx, replace(q, department=None), years), [back(ctx)]])
        return
    total = sum(r.amount_fen for r in rows)
    approved = sum(r.approved_fen for r in rows)
    money = ctx.amounts([total, approved, *(r.amount_fen for r in rows), *(r.approved_fen for r in rows)])
    lines = [ctx.t("query.budget.title", year=year, total=money(total), approved=money(approved),
                   share=percent(ctx, approved, total))]
    buttons = []
    for row in rows:
        department = localized(ctx, row.department_zh, row.department_en)
        lines.append(ctx.t("query.budget.row", department=department, amount=money(row.amount_fen),
                           projects=row.projects, approved=money(row.approved_fen)))
        note = localized(ctx, row.note_zh, row.note_en)
        if note:
            lines.append(ctx.t("query.budget.note", note=note))
        if row.projects:
            buttons.append([Button(ctx.t("query.button.dept_projects", department=shorten(department, LABEL_LIMIT)),
                                   run(Question("query_projects", department=row.department_code, year=year)))])
    ctx.say("\n".join(lines), [*buttons[:PAGE_SIZE], *year_buttons(ctx, replace(q, department=None),
                                                                   [y for y in years if y != year]),
                               [back(ctx)]])
