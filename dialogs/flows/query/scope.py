"""What a question covers, said in words ("2026年度 · 南山区 · 养老服务"), and the same question with one
condition fewer for "nothing found, try…"."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dialogs.context import Context
from dialogs.flows.query.reading import LABEL_LIMIT, run
from dialogs.listing import district, localized, shorten
from dialogs.questions import Question
from dialogs.types import Button
from store import public
from store.projects import ACTIVE_STATUSES


async def scope(ctx: Context, q: Question) -> str:
    parts = []
    if q.year is not None:
        parts.append(ctx.t("query.scope.year", year=q.year))
    if q.district:
        parts.append(ctx.t("query.scope.district", district=await district(ctx, q.district)))
    if q.item:
        names = await public.catalog_item_names(ctx.session, q.item)
        parts.append(ctx.t("query.scope.category", category=localized(ctx, *names) if names else q.item))
    if q.level1:
        parts.append(ctx.t("query.scope.category", category=await level1_label(ctx, q.level1)))
    if q.organization:
        names = await public.organization_names(ctx.session, q.organization)
        parts.append(ctx.t("query.scope.organization", organization=localized(ctx, *names) if names else q.organization))
    if q.department:
        names = await public.department_names(ctx.session, q.department)
        parts.append(ctx.t("query.scope.department", department=localized(ctx, *names) if names else q.department))
    statuses = q.filter().statuses
    if statuses:
        label = (ctx.t("query.status_group.active") if set(statuses) == set(ACTIVE_STATUSES)
                 else ctx.t("query.list_separator").join(ctx.t(f"lifecycle.project.{s}") for s in statuses))
        parts.append(ctx.t("query.scope.status", status=label))
    if q.grades:
        grades = ctx.t("query.list_separator").join(ctx.t(f"query.grade.{g}") for g in q.grades)
        parts.append(ctx.t("query.scope.grade", grade=grades))
    if q.brand:
        parts.append(ctx.t("query.scope.brand"))
    if q.words:
        parts.append(ctx.t("query.scope.words", words=q.words))
    return ctx.t("query.separator").join(parts) if parts else ctx.t("query.scope.all")


async def level1_label(ctx: Context, level1: str) -> str:
    for zh, en in await public.level1_categories(ctx.session):
        if level1 in (zh, en):
            return localized(ctx, zh, en)
    return level1


async def relaxed(ctx: Context, q: Question) -> list[list[Button]]:
    """Buttons for the same question with one condition fewer ("nothing found, try…")."""
    dropped: list[dict[str, Any]] = [
        {name: None} for name in ("year", "district", "item", "level1", "organization", "department", "words")
        if getattr(q, name)
    ]
    dropped += [{name: ()} for name in ("statuses", "grades") if getattr(q, name)]
    options = [replace(q, **change) for change in dropped]
    if q.brand:
        options.append(replace(q, brand=False))
    rows = []
    for option in options[:4]:
        rows.append([Button(shorten(await scope(ctx, option), LABEL_LIMIT + 10), run(replace(option, page=0)))])
    return rows
