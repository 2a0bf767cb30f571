"""query_organizations: a year's qualified service providers (by district, by rating), or one provider's standing."""

from __future__ import annotations

from dataclasses import replace

from dialogs.context import Context
from dialogs.flows.query.pages import nav
from dialogs.flows.query.reading import LABEL_LIMIT, back, run
from dialogs.flows.query.years import year_buttons, year_of
from dialogs.listing import PAGE_SIZE, clamp_page, district, localized, page_count, shorten
from dialogs.questions import Question
from dialogs.types import Button
from store import public
from store.models import ORG_KINDS


async def organizations(ctx: Context, q: Question) -> None:
    if q.organization is not None:
        await _organization(ctx, q)
        return
    years = await public.qualified_years(ctx.session)
    year = year_of(ctx, q.year, years)
    q = replace(q, year=year)
    ratings: tuple[str, ...] = ()
    if q.rating:
        ratings = public.ratings_from(q.rating[:-1]) if q.rating.endswith("+") else (q.rating,)
    filters = [await district(ctx, q.district)] if q.district else []
    if q.rating:
        filters.append(ctx.t("query.organizations.rating_at_least", rating=q.rating[:-1])
                       if q.rating.endswith("+") else q.rating)
    scope = ctx.t("query.organizations.scope", filters=ctx.t("query.separator").join(filters)) if filters else ""
    rows: list[public.OrganizationRow] = []
    total = 0
    if year is not None:
        rows, total = await public.qualified_organizations(
            ctx.session, year, district=q.district, ratings=ratings, offset=q.page * PAGE_SIZE, limit=PAGE_SIZE)
        if total and not rows:
            q = replace(q, page=clamp_page(q.page, total))
            rows, total = await public.qualified_organizations(
                ctx.session, year, district=q.district, ratings=ratings, offset=q.page * PAGE_SIZE, limit=PAGE_SIZE)
    if not total:
        lines = [ctx.t("query.organizations.none", year=year or ctx.today.year, scope=scope)]
        if years:
            lines.append(ctx.t("query.organizations.years", years=ctx.t("query.list_separator").join(str(y) for y in years)))
        ctx.say("\n".join(lines), [*year_buttons(ctx, replace(q, district=None, rating=None), years), [back(ctx)]])
        return
    lines = [ctx.t("query.organizations.title", year=year, scope=scope, count=total)]
    buttons: list[list[Button]] = []
    for n, row in enumerate(rows, start=q.page * PAGE_SIZE + 1):
        name = localized(ctx, row.name_zh, row.name_en)
        lines.append(ctx.t("query.organizations.row", n=n, name=name))
        lines.append(ctx.t("query.organizations.row_detail", district=await district(ctx, row.district) or ctx.t("query.none"),
                           rating=row.rating or ctx.t("query.organizations.no_rating")))
        buttons.append([Button(f"{n}. {shorten(name, LABEL_LIMIT)}", run(Question("query_organizations", organization=row.uscc)))])
    if page_count(total) > 1:
        lines.append(ctx.t("paging.page", page=q.page + 1, pages=page_count(total)))
        buttons.append(nav(ctx, q, total))
    ctx.say("\n".join(lines), [*buttons, [back(ctx)]])


async def _organization(ctx: Context, q: Question) -> None:
    assert q.organization is not None
    record = await public.organization_record(ctx.session, q.organization)
    if record is None:
        ctx.tell("query.ask_organization", buttons=[[Button(ctx.t("query.browse.organizations"),
                                                            run(Question("query_organizations")))], [back(ctx)]])
        return
    year = q.year or ctx.today.year
    sep = ctx.t("query.list_separator")
    lines = [
        ctx.t("query.organizations.record_title", name=localized(ctx, record.name_zh, record.name_en)),
        ctx.t("query.organizations.uscc", uscc=record.uscc),
        ctx.t("query.organizations.kind", kind=ctx.t(f"query.organizations.kinds.{record.kind}")
              if record.kind in ORG_KINDS else record.kind),
        ctx.t("query.organizations.district", district=await district(ctx, record.district) or ctx.t("query.none")),
        ctx.t("query.organizations.rating", rating=record.rating or ctx.t("query.organizations.no_rating")),
        ctx.t("query.organizations.listed" if year in record.qualified_years else "query.organizations.not_listed",
              year=year),
        ctx.t("query.organizations.years_listed",
              years=sep.join(str(y) for y in record.qualified_years) or ctx.t("query.none")),
        ctx.t("query.organizations.projects", count=record.projects),
    ]
    buttons = []
    if record.projects:
        buttons.append([Button(ctx.t("query.button.org_projects"), run(Question("query_projects", organization=record.uscc)))])
    buttons.append([Button(ctx.t("query.browse.organizations"), run(Question("query_organizations", year=year)))])
    ctx.say("\n".join(lines), [*buttons, [back(ctx)]])
