"""How the public answers say a share, an evaluation score and a grade."""

from __future__ import annotations

from dialogs.context import Context


def percent(ctx: Context, part: float, whole: float) -> str:
    value = round(part / whole * 100, 1) if whole else 0.0
    return ctx.t("query.percent", value=f"{value:g}")


def score(ctx: Context, value: int | None) -> str:
    return ctx.t("query.score", score=value) if value is not None else ctx.t("query.none")


def grade(ctx: Context, value: str, brand: bool) -> str:
    label = ctx.t(f"query.grade.{value}")
    return f"{label} 🌟" if brand else label
