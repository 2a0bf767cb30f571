"""query_evaluation: how the projects asked about were graded (listing the excellent ones unless asked
otherwise), or one project's grade and final inspections."""

from __future__ import annotations

from dataclasses import replace

from dialogs.context import Context
from dialogs.flows.query import record as records
from dialogs.flows.query.numbers import score
from dialogs.flows.query.pages import project_list
from dialogs.flows.query.progress import inspection_lines
from dialogs.flows.query.reading import back
from dialogs.flows.query.scope import relaxed, scope
from dialogs.listing import localized
from dialogs.questions import Question
from store import public
from store.models import GRADES


async def evaluation(ctx: Context, q: Question) -> None:
    if q.project is not None:
        await _project_evaluation(ctx, q)
        return
    said = await scope(ctx, replace(q, grades=(), brand=False))
    counts, brands = await public.grade_counts(ctx.session, replace(q, grades=(), brand=False).filter())
    if not counts:
        ctx.say(ctx.t("query.evaluation.no_grades", scope=said), [*await relaxed(ctx, q), [back(ctx)]])
        return
    sep = ctx.t("query.list_separator")
    intro = [
        ctx.t("query.evaluation.summary", scope=said, brand=brands, counts=sep.join(
            ctx.t("query.evaluation.count", grade=ctx.t(f"query.grade.{g}"), count=counts.get(g, 0)) for g in GRADES)),
        ctx.t("query.evaluation.grades_note"),
    ]
    if q.grades:
        intro.append(ctx.t("query.evaluation.list_grades", grades=sep.join(ctx.t(f"query.grade.{g}") for g in q.grades)))
    elif q.brand:
        intro.append(ctx.t("query.evaluation.list_brand"))
    else:
        q = replace(q, grades=("excellent",))
        intro.append(ctx.t("query.evaluation.list_excellent"))
    await project_list(ctx, q, intro, by_score=True)


async def _project_evaluation(ctx: Context, q: Question) -> None:
    record = await records.find(ctx, q)
    if record is None:
        return
    lines = [ctx.t("query.evaluation.title", title=localized(ctx, record.title_zh, record.title_en), code=record.code)]
    if record.grade:
        lines.append(ctx.t("query.evaluation.grade", grade=ctx.t(f"query.grade.{record.grade}"),
                           score=score(ctx, record.evaluation_score)))
        if record.brand:
            lines.append(ctx.t("query.record.brand"))
    else:
        lines.append(ctx.t("query.evaluation.pending", status=ctx.t(f"lifecycle.project.{record.status}")))
    lines += inspection_lines(ctx, await public.inspections(ctx.session, record.id, ("final", "evaluation")))
    lines.append(ctx.t("query.evaluation.grades_note"))
    ctx.say("\n".join(lines), records.project_buttons(ctx, record, "query_evaluation"))
