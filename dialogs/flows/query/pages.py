"""A page of the projects a question matches, shared by every answer that lists projects; each row opens
the same answer for that project."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from dialogs.context import Context
from dialogs.flows.query.numbers import grade
from dialogs.flows.query.reading import LABEL_LIMIT, back, run
from dialogs.flows.query.scope import relaxed, scope
from dialogs.listing import PAGE_SIZE, clamp_page, localized, page_count, shorten
from dialogs.questions import MENU_CATEGORY, MENU_DISTRICT, Question
from dialogs.types import Button
from store import approval, public


def nav(ctx: Context, q: Question, total: int) -> list[Button]:
    row = []
    if q.page > 0:
        row.append(Button(ctx.t("paging.prev"), run(replace(q, page=q.page - 1))))
    if q.page + 1 < page_count(total):
        row.append(Button(ctx.t("paging.next"), run(replace(q, page=q.page + 1))))
    return row


async def fetch_page(ctx: Context, q: Question, *, by_score: bool = False) -> tuple[Question, public.ProjectPage]:
    """The page of projects ``q`` asks for (the last one if it asks past the end)."""
    f = q.filter()
    page = await public.find_projects(ctx.session, f, offset=q.page * PAGE_SIZE, limit=PAGE_SIZE, by_score=by_score)
    if page.total and not page.rows:
        q = replace(q, page=clamp_page(q.page, page.total))
        page = await public.find_projects(ctx.session, f, offset=q.page * PAGE_SIZE, limit=PAGE_SIZE, by_score=by_score)
    return q, page


async def project_list(
    ctx: Context, q: Question, intro: list[str] | None = None, *, by_score: bool = False,
    fetched: public.ProjectPage | None = None, intro_amounts: Sequence[int] = (),
) -> None:
    """A page of the projects matching ``q``; each row opens the same answer for that project
    (``intro_amounts``: the amounts ``intro`` shows, which take the page's money unit)."""
    if fetched is None:
        q, page = await fetch_page(ctx, q, by_score=by_score)
    else:
        page = fetched
    number = q.page
    said = await scope(ctx, q)
    if not page.total:
        ctx.say("\n".join([*(intro or []), ctx.t("query.projects.none", scope=said), ctx.t("query.projects.try")]),
                [*await relaxed(ctx, q), [Button(ctx.t("query.browse.district"), run(Question(MENU_DISTRICT))),
                                          Button(ctx.t("query.browse.category"), run(Question(MENU_CATEGORY)))],
                 [back(ctx)]])
        return
    money = ctx.amounts([page.amount_fen, *intro_amounts, *(row.amount_fen for row in page.rows)])
    lines = [*(intro or []), ctx.t("query.projects.title", scope=said, count=page.total, amount=money(page.amount_fen))]
    buttons: list[list[Button]] = []
    for n, row in enumerate(page.rows, start=number * PAGE_SIZE + 1):
        title = localized(ctx, row.title_zh, row.title_en)
        org = localized(ctx, row.org_name_zh, row.org_name_en)
        lines.append(ctx.t("query.projects.row", n=n, title=title, code=row.code))
        if row.grade and (by_score or q.grades):
            lines.append(ctx.t("query.projects.row_graded", year=row.year, grade=grade(ctx, row.grade, row.brand),
                               score=ctx.t("query.score", score=row.evaluation_score) if row.evaluation_score is not None
                               else ctx.t("query.none"), org=org))
        else:
            lines.append(ctx.t("query.projects.row_detail", year=row.year, status=ctx.t(f"lifecycle.project.{row.status}"),
                               amount=money(row.amount_fen), org=org))
            notice = await approval.notice_of(ctx.session, row.id) if row.status == "publicized" else None
            if notice is not None and notice.ends_on >= ctx.today:
                lines.append(ctx.t("committee.notice_until", ends=ctx.day(notice.ends_on)))
        buttons.append([Button(ctx.t("query.projects.open_label", n=n, title=shorten(title, LABEL_LIMIT)),
                               run(Question(q.intent, project=row.code)))])
    if page_count(page.total) > 1:
        lines.append(ctx.t("paging.page", page=number + 1, pages=page_count(page.total)))
        buttons.append(nav(ctx, q, page.total))
    buttons.append([back(ctx)])
    ctx.say("\n".join(lines), buttons)
