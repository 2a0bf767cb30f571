"""query_progress: a project's public updates and inspections (the inspection lines evaluations show too)."""

from __future__ import annotations

from dialogs.context import Context
from dialogs.flows.query import record as records
from dialogs.flows.query.pages import project_list
from dialogs.listing import localized
from dialogs.questions import Question
from store import public


async def progress(ctx: Context, q: Question) -> None:
    if q.project is None:
        await project_list(ctx, q, [ctx.t("query.progress.pick")])
        return
    record = await records.find(ctx, q)
    if record is None:
        return
    updates = await public.public_updates(ctx.session, record.id)
    checks = await public.inspections(ctx.session, record.id, ("midterm", "final"))
    lines = [ctx.t("query.progress.title", title=localized(ctx, record.title_zh, record.title_en), code=record.code,
                   status=ctx.t(f"lifecycle.project.{record.status}"))]
    lines += [ctx.t("query.progress.update", day=ctx.day(u.reported_on), text=localized(ctx, u.text_zh, u.text_en))
              for u in updates] or [ctx.t("query.progress.none")]
    lines.append(ctx.t("query.progress.inspections"))
    lines += inspection_lines(ctx, checks) or [ctx.t("query.progress.no_inspections")]
    ctx.say("\n".join(lines), records.project_buttons(ctx, record, "query_progress"))


def inspection_lines(ctx: Context, checks: list[public.InspectionRow]) -> list[str]:
    lines = []
    for check in checks:
        values = {"kind": ctx.t(f"query.inspection.{check.kind}"), "day": ctx.day(check.held_on),
                  "result": ctx.t(f"query.result.{check.result}")}
        if check.score is not None:
            lines.append(ctx.t("query.progress.inspection_score", score=ctx.t("query.score", score=check.score), **values))
        else:
            lines.append(ctx.t("query.progress.inspection", **values))
        summary = localized(ctx, check.summary_zh, check.summary_en)
        if summary:
            lines.append(ctx.t("query.progress.inspection_summary", summary=summary))
    return lines
