"""Answers to the public's questions (catalog, providers, budgets, projects, funding, progress, satisfaction,
evaluations, deadlines, how it works), asked in free text or reached through the "Public information" menu.

Every answer is one turn: the flow never stays open, so the next message is routed afresh. Its buttons
carry the whole question (``g:run:query:<payload>``), so old pages keep working, and the last question
answered is kept in the conversation state (``State.topic``) for follow-ups such as "那它的满意度呢？".
Only disclosable data is read (store/public.py, surveys.public_satisfaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from dialogs.context import Context, Parse
from dialogs.flow import Flow
from dialogs.flows import query_reading as reading
from dialogs.listing import PAGE_SIZE, clamp_page, district, localized, page_count, shorten
from dialogs.questions import (
    MENU,
    MENU_CATEGORY,
    MENU_DISTRICT,
    MENU_YEAR,
    PROJECT_INTENTS,
    QUERY_INTENTS,
    Question,
    decode,
    encode,
    knowledge,
)
from dialogs.surveys import report
from dialogs.types import Button, Incoming
from store import approval, public, review, surveys
from store.models import GRADES, ORG_KINDS
from store.projects import ACTIVE_STATUSES

NAME = reading.NAME
LABEL_LIMIT = reading.LABEL_LIMIT
run = reading.run


# --- the flow ----------------------------------------------------------------------------------


def _percent(ctx: Context, part: float, whole: float) -> str:
    value = round(part / whole * 100, 1) if whole else 0.0
    return ctx.t("query.percent", value=f"{value:g}")


class QueryFlow(Flow):
    name = NAME
    commands = ("info",)
    intents = QUERY_INTENTS
    menu_key = "query.menu"
    menu_order = 5

    async def start(self, ctx: Context, payload: str | None, parse: Parse | None = None) -> None:
        question: Question | None
        if payload:
            question = decode(payload)
        elif parse is not None:
            if ctx.understand is not None:
                parse = await ctx.understand.with_names(parse, ctx.session)
            question = await reading.read(ctx, parse)
            if question is None:  # replied otherwise: "did you mean…", a place not in the data…
                ctx.state.clear()
                return
        else:
            question = None
        ctx.state.clear()
        await self.answer(ctx, question or Question())

    async def handle(self, ctx: Context, msg: Incoming) -> None:
        # The flow ends with every answer; a message reaching it is a new question.
        parse = ctx.understand(msg.text) if msg.text and ctx.understand else None
        await self.start(ctx, None, parse)

    # -- answers --------------------------------------------------------------------------------
    async def answer(self, ctx: Context, q: Question) -> None:
        handlers = {
            MENU: self.menu, MENU_DISTRICT: self.pick_district, MENU_CATEGORY: self.pick_category,
            MENU_YEAR: self.pick_year, "query_catalog": self.catalog, "query_organizations": self.organizations,
            "query_budget": self.budget, "query_projects": self.projects, "query_funding": self.funding,
            "query_progress": self.progress, "query_satisfaction": self.satisfaction,
            "query_evaluation": self.evaluation, "query_deadline": self.deadline, "faq_process": self.faq,
            "faq_eligibility": self.faq, "take_survey": self.take_survey,
        }
        await handlers[q.intent](ctx, q)
        if q.intent in PROJECT_INTENTS or q.intent in ("query_organizations", "query_budget", "query_catalog"):
            ctx.state.topic = encode(replace(q, page=0))

    def _back(self, ctx: Context) -> Button:
        return reading.back(ctx)

    # menus
    async def menu(self, ctx: Context, q: Question) -> None:
        entries = (
            ("district", Question(MENU_DISTRICT)), ("category", Question(MENU_CATEGORY)),
            ("year", Question(MENU_YEAR)), ("excellent", Question("query_evaluation")),
            ("budget", Question("query_budget")), ("catalog", Question("query_catalog")),
            ("organizations", Question("query_organizations")), ("deadlines", Question("query_deadline")),
            ("faq", Question("faq_process")),
        )
        buttons = [Button(ctx.t(f"query.browse.{key}"), run(target)) for key, target in entries]
        ctx.tell("query.menu_title", buttons=[buttons[i:i + 2] for i in range(0, len(buttons), 2)])

    async def _pick(self, ctx: Context, key: str, choices: list[tuple[str, Question]]) -> None:
        if not choices:
            ctx.tell("query.nothing_to_pick", buttons=[[self._back(ctx)]])
            return
        buttons = [Button(label, run(target)) for label, target in choices]
        rows = [buttons[i:i + 3] for i in range(0, len(buttons), 3)]
        ctx.tell(key, buttons=[*rows, [self._back(ctx)]])

    async def pick_district(self, ctx: Context, q: Question) -> None:
        names = await public.districts(ctx.session)
        await self._pick(ctx, "query.pick_district",
                         [(await district(ctx, d), Question("query_projects", district=d)) for d in names])

    async def pick_category(self, ctx: Context, q: Question) -> None:
        categories = await public.level1_categories(ctx.session)
        await self._pick(ctx, "query.pick_category",
                         [(localized(ctx, zh, en), Question("query_projects", level1=zh)) for zh, en in categories])

    async def pick_year(self, ctx: Context, q: Question) -> None:
        years = await public.project_years(ctx.session)
        await self._pick(ctx, "query.pick_year",
                         [(ctx.t("query.year_label", year=y), Question("query_projects", year=y)) for y in years])

    # scope labels ("2026年度 · 南山区 · 养老服务")
    async def scope(self, ctx: Context, q: Question) -> str:
        parts = []
        if q.year is not None:
            parts.append(ctx.t("query.scope.year", year=q.year))
        if q.district:
            parts.append(ctx.t("query.scope.district", district=await district(ctx, q.district)))
        if q.item:
            names = await public.catalog_item_names(ctx.session, q.item)
            parts.append(ctx.t("query.scope.category", category=localized(ctx, *names) if names else q.item))
        if q.level1:
            parts.append(ctx.t("query.scope.category", category=await self._level1_label(ctx, q.level1)))
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

    async def _level1_label(self, ctx: Context, level1: str) -> str:
        for zh, en in await public.level1_categories(ctx.session):
            if level1 in (zh, en):
                return localized(ctx, zh, en)
        return level1

    def _nav(self, ctx: Context, q: Question, total: int) -> list[Button]:
        row = []
        if q.page > 0:
            row.append(Button(ctx.t("paging.prev"), run(replace(q, page=q.page - 1))))
        if q.page + 1 < page_count(total):
            row.append(Button(ctx.t("paging.next"), run(replace(q, page=q.page + 1))))
        return row

    async def _relaxed(self, ctx: Context, q: Question) -> list[list[Button]]:
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
            rows.append([Button(shorten(await self.scope(ctx, option), LABEL_LIMIT + 10), run(replace(option, page=0)))])
        return rows

    # project lists
    async def fetch_page(self, ctx: Context, q: Question, *, by_score: bool = False) -> tuple[Question, public.ProjectPage]:
        """The page of projects ``q`` asks for (the last one if it asks past the end)."""
        f = q.filter()
        page = await public.find_projects(ctx.session, f, offset=q.page * PAGE_SIZE, limit=PAGE_SIZE, by_score=by_score)
        if page.total and not page.rows:
            q = replace(q, page=clamp_page(q.page, page.total))
            page = await public.find_projects(ctx.session, f, offset=q.page * PAGE_SIZE, limit=PAGE_SIZE, by_score=by_score)
        return q, page

    async def project_list(
        self, ctx: Context, q: Question, intro: list[str] | None = None, *, by_score: bool = False,
        fetched: public.ProjectPage | None = None, intro_amounts: Sequence[int] = (),
    ) -> None:
        """A page of the projects matching ``q``; each row opens the same answer for that project
        (``intro_amounts``: the amounts ``intro`` shows, which take the page's money unit)."""
        if fetched is None:
            q, page = await self.fetch_page(ctx, q, by_score=by_score)
        else:
            page = fetched
        number = q.page
        scope = await self.scope(ctx, q)
        if not page.total:
            ctx.say("\n".join([*(intro or []), ctx.t("query.projects.none", scope=scope), ctx.t("query.projects.try")]),
                    [*await self._relaxed(ctx, q), [Button(ctx.t("query.browse.district"), run(Question(MENU_DISTRICT))),
                                                    Button(ctx.t("query.browse.category"), run(Question(MENU_CATEGORY)))],
                     [self._back(ctx)]])
            return
        money = ctx.amounts([page.amount_fen, *intro_amounts, *(row.amount_fen for row in page.rows)])
        lines = [*(intro or []), ctx.t("query.projects.title", scope=scope, count=page.total, amount=money(page.amount_fen))]
        buttons: list[list[Button]] = []
        for n, row in enumerate(page.rows, start=number * PAGE_SIZE + 1):
            title = localized(ctx, row.title_zh, row.title_en)
            org = localized(ctx, row.org_name_zh, row.org_name_en)
            lines.append(ctx.t("query.projects.row", n=n, title=title, code=row.code))
            if row.grade and (by_score or q.grades):
                lines.append(ctx.t("query.projects.row_graded", year=row.year, grade=self._grade(ctx, row.grade, row.brand),
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
            buttons.append(self._nav(ctx, q, page.total))
        buttons.append([self._back(ctx)])
        ctx.say("\n".join(lines), buttons)

    def _grade(self, ctx: Context, grade: str, brand: bool) -> str:
        label = ctx.t(f"query.grade.{grade}")
        return f"{label} 🌟" if brand else label

    async def _record(self, ctx: Context, q: Question) -> public.ProjectRecord | None:
        assert q.project is not None
        record = await public.project_record(ctx.session, q.project)
        if record is None:
            ctx.tell("query.not_found_project", name=q.project)
            await reading.ask_project(ctx)
        return record

    def _project_buttons(self, ctx: Context, record: public.ProjectRecord, current: str) -> list[list[Button]]:
        entries = (("query_projects", "record"), ("query_funding", "funding"), ("query_progress", "progress"),
                   ("query_satisfaction", "satisfaction"), ("query_evaluation", "evaluation"),
                   ("query_deadline", "deadline"))
        buttons = [Button(ctx.t(f"query.button.{key}"), run(Question(intent, project=record.code)))
                   for intent, key in entries if intent != current]
        return [buttons[i:i + 3] for i in range(0, len(buttons), 3)] + [[self._back(ctx)]]

    async def projects(self, ctx: Context, q: Question) -> None:
        if q.project is None:
            await self.project_list(ctx, q, by_score=bool(q.grades))
            return
        record = await self._record(ctx, q)
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
            lines.append(ctx.t("query.record.grade", grade=ctx.t(f"query.grade.{record.grade}"), score=self._score(ctx, record.evaluation_score)))
        if record.brand:
            lines.append(ctx.t("query.record.brand"))
        lines.append(ctx.t("query.record.more"))
        ctx.say("\n".join(lines), self._project_buttons(ctx, record, "query_projects"))

    def _score(self, ctx: Context, score: int | None) -> str:
        return ctx.t("query.score", score=score) if score is not None else ctx.t("query.none")

    async def funding(self, ctx: Context, q: Question) -> None:
        if q.project is None:
            q, page = await self.fetch_page(ctx, q)
            intro = []
            if page.total:
                paid = await public.paid_total(ctx.session, q.filter())
                money = ctx.amounts([page.amount_fen, paid, *(row.amount_fen for row in page.rows)])
                intro = [ctx.t("query.funding.summary", scope=await self.scope(ctx, q), count=page.total,
                               amount=money(page.amount_fen), paid=money(paid),
                               share=_percent(ctx, paid, page.amount_fen)),
                         ctx.t("query.funding.pick")]
            await self.project_list(ctx, q, intro, fetched=page, intro_amounts=(paid,) if page.total else ())
            return
        record = await self._record(ctx, q)
        if record is None:
            return
        tranches = await public.tranches(ctx.session, record.id)
        total = sum(t.amount_fen for t in tranches)
        remaining = max(record.amount_fen - total, 0)
        money = ctx.amounts([record.amount_fen, total, remaining, *(t.amount_fen for t in tranches)])
        lines = [
            ctx.t("query.funding.title", title=localized(ctx, record.title_zh, record.title_en), code=record.code),
            ctx.t("query.funding.amount", amount=money(record.amount_fen)),
            ctx.t("query.funding.paid", paid=money(total), share=_percent(ctx, total, record.amount_fen)),
        ]
        lines += [ctx.t("query.funding.tranche", n=t.installment, amount=money(t.amount_fen), day=ctx.day(t.paid_on))
                  for t in tranches] or [ctx.t("query.funding.no_tranches")]
        lines.append(ctx.t("query.funding.remaining", remaining=money(remaining)))
        ctx.say("\n".join(lines), self._project_buttons(ctx, record, "query_funding"))

    async def progress(self, ctx: Context, q: Question) -> None:
        if q.project is None:
            await self.project_list(ctx, q, [ctx.t("query.progress.pick")])
            return
        record = await self._record(ctx, q)
        if record is None:
            return
        updates = await public.public_updates(ctx.session, record.id)
        checks = await public.inspections(ctx.session, record.id, ("midterm", "final"))
        lines = [ctx.t("query.progress.title", title=localized(ctx, record.title_zh, record.title_en), code=record.code,
                       status=ctx.t(f"lifecycle.project.{record.status}"))]
        lines += [ctx.t("query.progress.update", day=ctx.day(u.reported_on), text=localized(ctx, u.text_zh, u.text_en))
                  for u in updates] or [ctx.t("query.progress.none")]
        lines.append(ctx.t("query.progress.inspections"))
        lines += self._inspection_lines(ctx, checks) or [ctx.t("query.progress.no_inspections")]
        ctx.say("\n".join(lines), self._project_buttons(ctx, record, "query_progress"))

    def _inspection_lines(self, ctx: Context, checks: list[public.InspectionRow]) -> list[str]:
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

    async def satisfaction(self, ctx: Context, q: Question) -> None:
        if q.project is None:
            await self.project_list(ctx, q, [ctx.t("query.satisfaction.pick")])
            return
        record = await self._record(ctx, q)
        if record is None:
            return
        title = localized(ctx, record.title_zh, record.title_en)
        minimum = ctx.settings.disclosure_min_responses
        results = await surveys.public_satisfaction(ctx.session, record.id, ctx.now, minimum, zone=ctx.settings.zone)
        if results is None:
            ctx.say(ctx.t("query.satisfaction.hidden", title=title, code=record.code, min=minimum),
                    self._project_buttons(ctx, record, "query_satisfaction"))
            return
        lines = [ctx.t("query.satisfaction.title", title=title, code=record.code)]
        rate = results.satisfaction_rate or 0.0
        margin = report.shown_margin(results)
        if margin is not None:
            lines.append(ctx.t("query.satisfaction.rate", rate=_percent(ctx, rate, 1), margin=f"{round(margin * 100, 1):g}"))
        elif results.margin_of_error is not None:
            lines.append(ctx.t("query.satisfaction.rate_small", rate=_percent(ctx, rate, 1), valid=results.valid_responses))
        else:
            lines.append(ctx.t("query.satisfaction.rate_plain", rate=_percent(ctx, rate, 1)))
        if results.mean_score is not None:
            lines.append(ctx.t("query.satisfaction.mean", mean=f"{round(results.mean_score, 1):g}"))
        lines.append(ctx.t("query.satisfaction.valid", valid=results.valid_responses))
        if results.nps is not None:
            lines.append(ctx.t("query.satisfaction.nps", nps=f"{round(results.nps, 1):+g}"))
        lines.append(ctx.t("query.satisfaction.period", opens=ctx.day(results.opens_on), closes=ctx.day(results.closes_on)))
        ctx.say("\n".join(lines), self._project_buttons(ctx, record, "query_satisfaction"))

    async def evaluation(self, ctx: Context, q: Question) -> None:
        if q.project is not None:
            await self._project_evaluation(ctx, q)
            return
        scope = await self.scope(ctx, replace(q, grades=(), brand=False))
        counts, brands = await public.grade_counts(ctx.session, replace(q, grades=(), brand=False).filter())
        if not counts:
            ctx.say(ctx.t("query.evaluation.no_grades", scope=scope), [*await self._relaxed(ctx, q), [self._back(ctx)]])
            return
        sep = ctx.t("query.list_separator")
        intro = [
            ctx.t("query.evaluation.summary", scope=scope, brand=brands, counts=sep.join(
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
        await self.project_list(ctx, q, intro, by_score=True)

    async def _project_evaluation(self, ctx: Context, q: Question) -> None:
        record = await self._record(ctx, q)
        if record is None:
            return
        lines = [ctx.t("query.evaluation.title", title=localized(ctx, record.title_zh, record.title_en), code=record.code)]
        if record.grade:
            lines.append(ctx.t("query.evaluation.grade", grade=ctx.t(f"query.grade.{record.grade}"),
                               score=self._score(ctx, record.evaluation_score)))
            if record.brand:
                lines.append(ctx.t("query.record.brand"))
        else:
            lines.append(ctx.t("query.evaluation.pending", status=ctx.t(f"lifecycle.project.{record.status}")))
        lines += self._inspection_lines(ctx, await public.inspections(ctx.session, record.id, ("final", "evaluation")))
        lines.append(ctx.t("query.evaluation.grades_note"))
        ctx.say("\n".join(lines), self._project_buttons(ctx, record, "query_evaluation"))

    async def deadline(self, ctx: Context, q: Question) -> None:
        if q.project is not None:
            record = await self._record(ctx, q)
            if record is None:
                return
            lines = [ctx.t("query.deadline.title", title=localized(ctx, record.title_zh, record.title_en), code=record.code)]
            upcoming = await public.next_milestones(ctx.session, record.id, ctx.now)
            for m in upcoming:
                key = "query.deadline.milestone_overdue" if m.overdue else "query.deadline.milestone"
                lines.append(ctx.t(key, kind=ctx.t(f"lifecycle.milestone.{m.kind}"), day=self._local_day(ctx, m.due_at)))
            if not upcoming:
                lines.append(ctx.t("query.deadline.no_milestones"))
            ctx.say("\n".join(lines), self._project_buttons(ctx, record, "query_deadline"))
            return
        windows = await public.call_windows(ctx.session, ctx.now)
        lines = []
        for call in windows.open:
            days = (call.closes_at.astimezone(ctx.settings.zone).date() - ctx.today).days
            lines.append(ctx.t("query.deadline.open", title=localized(ctx, call.title_zh, call.title_en),
                               opens=self._local_day(ctx, call.opens_at), closes=ctx.moment(call.closes_at),
                               days=days, items=call.items))
        for call in windows.upcoming:
            lines.append(ctx.t("query.deadline.upcoming", title=localized(ctx, call.title_zh, call.title_en),
                               opens=ctx.moment(call.opens_at), closes=ctx.moment(call.closes_at)))
        if not lines and windows.last_closed is not None:
            call = windows.last_closed
            lines.append(ctx.t("query.deadline.last_closed", title=localized(ctx, call.title_zh, call.title_en),
                               closes=ctx.moment(call.closes_at)))
        if not lines:
            lines.append(ctx.t("query.deadline.no_calls"))
        lines.append(ctx.t("query.deadline.project_hint"))
        buttons = [[Button(ctx.t("query.browse.catalog"), run(Question("query_catalog", year=c.year)))]
                   for c in (*windows.open, *windows.upcoming)][:2]
        buttons += [[Button(ctx.t("query.browse.faq"), run(Question("faq_process")))], [self._back(ctx)]]
        ctx.say("\n".join(lines), buttons)

    def _local_day(self, ctx: Context, moment: datetime) -> str:
        return ctx.day(moment.astimezone(ctx.settings.zone).date())

    def _year(self, ctx: Context, wanted: int | None, years: list[int]) -> int | None:
        """The year a yearly list is about: the one asked, else this year if it has data, else the latest."""
        if wanted is not None:
            return wanted
        if ctx.today.year in years:
            return ctx.today.year
        return years[0] if years else None

    def _year_buttons(self, ctx: Context, q: Question, years: list[int]) -> list[list[Button]]:
        buttons = [Button(ctx.t("query.year_label", year=y), run(replace(q, year=y, page=0))) for y in years[:6]]
        return [buttons[i:i + 3] for i in range(0, len(buttons), 3)]

    async def catalog(self, ctx: Context, q: Question) -> None:
        years = await public.catalog_years(ctx.session)
        year = self._year(ctx, q.year, years)
        q = replace(q, year=year)
        rows = await public.catalog(ctx.session, year, code=q.item, level1=q.level1) if year is not None else []
        category = ""
        if q.item or q.level1:
            names = await public.catalog_item_names(ctx.session, q.item) if q.item else None
            label = localized(ctx, *names) if names else await self._level1_label(ctx, q.level1 or q.item or "")
            category = ctx.t("query.catalog.scope", category=label)
        if not rows:
            lines = [ctx.t("query.catalog.none", year=year or ctx.today.year, scope=category)]
            if years:
                lines.append(ctx.t("query.catalog.years", years=ctx.t("query.list_separator").join(str(y) for y in years)))
            ctx.say("\n".join(lines), [*self._year_buttons(ctx, replace(q, item=None, level1=None), years), [self._back(ctx)]])
            return
        number = clamp_page(q.page, len(rows))
        q = replace(q, page=number)
        lines = [ctx.t("query.catalog.title", year=year, scope=category, count=len(rows))]
        buttons: list[Button] = []
        shown = rows[number * PAGE_SIZE:(number + 1) * PAGE_SIZE]
        money = ctx.amounts(row.ceiling_fen for row in shown)
        for n, row in enumerate(shown, start=number * PAGE_SIZE + 1):
            ceiling = money(row.ceiling_fen) if row.ceiling_fen is not None else ctx.t("query.catalog.no_ceiling")
            lines.append(ctx.t("query.catalog.row", n=n, code=row.code, name=localized(ctx, row.name_zh, row.name_en)))
            lines.append(ctx.t("query.catalog.row_detail", level1=localized(ctx, row.level1_zh, row.level1_en),
                               ceiling=ceiling, department=localized(ctx, row.department_zh, row.department_en)))
            buttons.append(Button(ctx.t("query.button.item_projects", code=row.code),
                                  run(Question("query_projects", item=row.code, year=year))))
        rows_of_buttons = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
        if page_count(len(rows)) > 1:
            lines.append(ctx.t("paging.page", page=number + 1, pages=page_count(len(rows))))
            rows_of_buttons.append(self._nav(ctx, q, len(rows)))
        ctx.say("\n".join(lines), [*rows_of_buttons, [self._back(ctx)]])

    async def organizations(self, ctx: Context, q: Question) -> None:
        if q.organization is not None:
            await self._organization(ctx, q)
            return
        years = await public.qualified_years(ctx.session)
        year = self._year(ctx, q.year, years)
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
            ctx.say("\n".join(lines), [*self._year_buttons(ctx, replace(q, district=None, rating=None), years),
                                       [self._back(ctx)]])
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
            buttons.append(self._nav(ctx, q, total))
        ctx.say("\n".join(lines), [*buttons, [self._back(ctx)]])

    async def _organization(self, ctx: Context, q: Question) -> None:
        assert q.organization is not None
        record = await public.organization_record(ctx.session, q.organization)
        if record is None:
            ctx.tell("query.ask_organization", buttons=[[Button(ctx.t("query.browse.organizations"),
                                                                run(Question("query_organizations")))], [self._back(ctx)]])
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
        ctx.say("\n".join(lines), [*buttons, [self._back(ctx)]])

    async def budget(self, ctx: Context, q: Question) -> None:
        years = await public.budget_years(ctx.session)
        year = self._year(ctx, q.year, years)
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
            ctx.say("\n".join(lines), [*self._year_buttons(ctx, replace(q, department=None), years), [self._back(ctx)]])
            return
        total = sum(r.amount_fen for r in rows)
        approved = sum(r.approved_fen for r in rows)
        money = ctx.amounts([total, approved, *(r.amount_fen for r in rows), *(r.approved_fen for r in rows)])
        lines = [ctx.t("query.budget.title", year=year, total=money(total), approved=money(approved),
                       share=_percent(ctx, approved, total))]
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
        ctx.say("\n".join(lines), [*buttons[:PAGE_SIZE], *self._year_buttons(ctx, replace(q, department=None),
                                                                             [y for y in years if y != year]),
                                   [self._back(ctx)]])

    async def faq(self, ctx: Context, q: Question) -> None:
        known = knowledge()
        topic = known.topic(q.topic)
        values = {"admin_share": f"{round(ctx.settings.admin_share_max * 100):g}%",
                  "min_responses": ctx.settings.disclosure_min_responses}
        locale = ctx.locale
        if topic is not None:
            text = topic.answer.get(locale) or topic.answer["zh-Hans"]
            others = [t for t in known.of(topic.intent) if t.id != topic.id]
        else:
            text = known.overview[q.intent].get(locale) or known.overview[q.intent]["zh-Hans"]
            others = known.of(q.intent)
            ctx.tell("query.faq_title")
        buttons = [Button(t.title.get(locale) or t.title["zh-Hans"], run(Question(t.intent, topic=t.id))) for t in others]
        other_intent = "faq_eligibility" if q.intent == "faq_process" else "faq_process"
        buttons.append(Button(ctx.t(f"query.faq_switch.{other_intent}"), run(Question(other_intent))))
        ctx.say(text.format(**values), [*[buttons[i:i + 3] for i in range(0, len(buttons), 3)], [self._back(ctx)]])

    async def take_survey(self, ctx: Context, q: Question) -> None:
        ctx.tell("query.take_survey", buttons=[[Button(ctx.t("query.button.satisfaction"),
                                                       run(Question("query_satisfaction")))], [self._back(ctx)]])
