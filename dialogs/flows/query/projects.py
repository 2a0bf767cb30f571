"""query_projects: a page of the projects asked about, or one project's public record."""

from __future__ import annotations

from dialogs.context import Context
from dialogs.flows.query import record as records
from dialogs.flows.query.numbers import score
from dialogs.flows.query.pages import project_list
from dialogs.listing import district, localized, shorten
from dialogs.questions import Question
from store import approval, review


async def projects(ctx: Context, q: Question) -> None:
    if q.project is None:
        await project_list(ctx, q, by_score=bool(q.grades))
        return
    record = await records.find(ctx, q)
    if record is None:
        return
    lines = [
        ctx.t("query.record.title", title=localized(ctx, record.title_zh, record.title_en)),
        ctx.t("query.record.code", code=record.code, year=record.year),
        ctx.t("query.record.organization", org=localized(ctx, record.org_name_zh, record.org_name_en)),
        ctx.t("query.record.department", department=localized(ctx, record.department_zh, record.department_en)),
        ctx.t("query.record.item", item=localized(ctx, record.item_zh, record.item_en), code=record.item_code),
    ]
    if record.district:
        lines.append(ctx.t("query.record.district", district=await district(ctx, record.district)))
    lines += [
        ctx.t("query.record.amount", amount=ctx.money(record.amount_fen)),
        ctx.t("query.record.status", status=ctx.t(f"lifecycle.project.{record.status}")),
        ctx.t("query.record.term", start=ctx.day(record.start_on), end=ctx.day(record.end_on)),
    ]
    for published in await review.published_reviews(ctx.session, record.id):
        # names and the aggregate only: individual experts' scores are never public
        lines.append(ctx.t("committee.public_review", stage=ctx.t(f"committee.stage.{published.stage}"),
                           code=published.committee, names="、".join(published.members),
                           score="—" if published.expert_score is None else f"{published.expert_score:.2f}"))
    notice = await approval.notice_of(ctx.session, record.id) if record.status == "publicized" else None
    if notice is not None and notice.ends_on >= ctx.today:
        lines.append(ctx.t("committee.public_notice", amount=ctx.money(record.amount_fen),
                           ends=ctx.day(notice.ends_on)))
    target = localized(ctx, record.target_group_zh, record.target_group_en)
    if target:
        lines.append(ctx.t("query.record.target", target=target))
    summary = localized(ctx, record.summary_zh, record.summary_en)
    if summary:
        lines.append(ctx.t("query.record.summary", summary=shorten(summary, 200)))
    if record.grade:
        lines.append(ctx.t("query.record.grade", grade=ctx.t(f"query.grade.{record.grade}"),
                           score=score(ctx, record.evaluation_score)))
    if record.brand:
        lines.append(ctx.t("query.record.brand"))
    lines.append(ctx.t("query.record.more"))
    ctx.say("\n".join(lines), records.project_buttons(ctx, record, "query_projects"))
