"""The "Public information" menu and its pickers: by district, by category, by year."""

from __future__ import annotations

from dialogs.context import Context
from dialogs.flows.query.reading import back, run
from dialogs.listing import district, localized
from dialogs.questions import MENU_CATEGORY, MENU_DISTRICT, MENU_YEAR, Question
from dialogs.types import Button
from store import public


async def menu(ctx: Context, q: Question) -> None:
    entries = (
        ("district", Question(MENU_DISTRICT)), ("category", Question(MENU_CATEGORY)),
        ("year", Question(MENU_YEAR)), ("excellent", Question("query_evaluation")),
        ("budget", Question("query_budget")), ("catalog", Question("query_catalog")),
        ("organizations", Question("query_organizations")), ("deadlines", Question("query_deadline")),
        ("faq", Question("faq_process")),
    )
    buttons = [Button(ctx.t(f"query.browse.{key}"), run(target)) for key, target in entries]
    ctx.tell("query.menu_title", buttons=[buttons[i:i + 2] for i in range(0, len(buttons), 2)])


async def _pick(ctx: Context, key: str, choices: list[tuple[str, Question]]) -> None:
    if not choices:
        ctx.tell("query.nothing_to_pick", buttons=[[back(ctx)]])
        return
    buttons = [Button(label, run(target)) for label, target in choices]
    rows = [buttons[i:i + 3] for i in range(0, len(buttons), 3)]
    ctx.tell(key, buttons=[*rows, [back(ctx)]])


async def pick_district(ctx: Context, q: Question) -> None:
    names = await public.districts(ctx.session)
    await _pick(ctx, "query.pick_district",
                [(await district(ctx, d), Question("query_projects", district=d)) for d in names])


async def pick_category(ctx: Context, q: Question) -> None:
    categories = await public.level1_categories(ctx.session)
    await _pick(ctx, "query.pick_category",
                [(localized(ctx, zh, en), Question("query_projects", level1=zh)) for zh, en in categories])


async def pick_year(ctx: Context, q: Question) -> None:
    years = await public.project_years(ctx.session)
    await _pick(ctx, "query.pick_year",
                [(ctx.t("query.year_label", year=y), Question("query_projects", year=y)) for y in years])
