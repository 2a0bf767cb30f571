"""The year a yearly list (catalog, budgets, qualified organizations) is about, and buttons for the others."""

from __future__ import annotations

from dataclasses import replace

from dialogs.context import Context
from dialogs.flows.query.reading import run
from dialogs.questions import Question
from dialogs.types import Button


def year_of(ctx: Context, wanted: int | None, years: list[int]) -> int | None:
    """The year a yearly list is about: the one asked, else this year if it has data, else the latest."""
    if wanted is not None:
        return wanted
    if ctx.today.year in years:
        return ctx.today.year
    return years[0] if years else None


def year_buttons(ctx: Context, q: Question, years: list[int]) -> list[list[Button]]:
    buttons = [Button(ctx.t("query.year_label", year=y), run(replace(q, year=y, page=0))) for y in years[:6]]
    return [buttons[i:i + 3] for i in range(0, len(buttons), 3)]
