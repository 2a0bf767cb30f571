"""/status: an organization's own applications and projects, with timelines, money and deadlines; withdrawal.

Every turn re-reads the member's organization and checks each record against it, so a button
kept from an earlier binding or forged with another organization's id shows nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from dialogs.buttons import Payload, on, parse_id
from dialogs.context import Context, Parse
from dialogs.flow import Flow, run_button
from dialogs.listing import fill_label, localized, nav_row, page_label, page_of
from dialogs.types import Button
from store import decisions
from store import projects as prj
from store.lifecycle import IllegalTransition
from store.models import Application, CatalogItem, Organization, Project

EVENT_ACTIONS = ("submit", "eligible", "ineligible", "review", "approve", "reject", "withdraw")
FINAL_ACTIONS = {"eligibility_failed": "ineligible", "approved": "approve", "rejected": "reject"}
STEPS_AHEAD = {
    "draft": ("submit", "eligibility", "review", "decision"),
    "submitted": ("eligibility", "review", "decision"),
    "eligible": ("review", "decision"),
    "under_review": ("decision",),
}
LABEL_LIMIT = 40


@dataclass(frozen=True)
class ListPage(Payload, action="list"):
    page: int = 0


@dataclass(frozen=True)
class OpenApplication(Payload, action="app"):
    application: int


@dataclass(frozen=True)
class OpenProject(Payload, action="project"):
    project: int


@dataclass(frozen=True)
class Withdraw(Payload, action="withdraw"):
    application: int


@dataclass(frozen=True)
class ConfirmWithdraw(Payload, action="confirm", steps=("confirm",)):
    answer: Literal["yes", "no"]


def actor(ctx: Context) -> str:
    return f"identity:{ctx.identity.id}"


def application_title(ctx: Context, application: Application) -> str:
    return application.title or (application.content or {}).get("title") or ctx.t("status.untitled")


class StatusFlow(Flow):
    name = "status"
    commands = ("status",)
    intents = ("check_status",)
    roles = frozenset({"org"})
    refusal_key = "common.org_only"
    menu_key = "status.menu"
    menu_order = 20

    use_buttons_key = "status.use_buttons"

    async def start(self, ctx: Context, payload: str | None, parse: Parse | None = None) -> None:
        # ``a<id>`` / ``p<id>`` open one record directly (links in notices and answers)
        item_id = parse_id((payload or "")[1:])
        if payload and item_id is not None and payload[0] == "a":
            await self.show_application(ctx, item_id)
        elif payload and item_id is not None and payload[0] == "p":
            await self.show_project(ctx, item_id)
        else:
            await self.show_list(ctx, 0)

    @on(ListPage)
    async def list_page(self, ctx: Context, press: ListPage) -> None:
        await self.show_list(ctx, press.page)

    @on(OpenApplication)
    async def open_application(self, ctx: Context, press: OpenApplication) -> None:
        await self.show_application(ctx, press.application)

    @on(OpenProject)
    async def open_project(self, ctx: Context, press: OpenProject) -> None:
        await self.show_project(ctx, press.project)

    @on(Withdraw)
    async def withdraw(self, ctx: Context, press: Withdraw) -> None:
        await self.ask_withdraw(ctx, press.application)

    @on(ConfirmWithdraw)
    async def confirm(self, ctx: Context, press: ConfirmWithdraw) -> None:
        await self.confirm_withdraw(ctx, press.answer == "yes")

    async def reprompt(self, ctx: Context) -> None:
        step, item_id = ctx.state.step, ctx.state.id
        if step in ("application", "confirm") and isinstance(item_id, int):
            await (self.ask_withdraw(ctx, item_id) if step == "confirm" else self.show_application(ctx, item_id))
        elif step == "project" and isinstance(item_id, int):
            await self.show_project(ctx, item_id)
        else:
            page = ctx.state.page
            await self.show_list(ctx, page if isinstance(page, int) else 0)

    # -- the list ----------------------------------------------------------------------------
    async def show_list(self, ctx: Context, number: int) -> None:
        assert ctx.organization_id is not None
        org = await ctx.get(Organization, ctx.organization_id)
        applications = await decisions.org_applications(ctx.session, ctx.organization_id)
        projects = await prj.org_projects(ctx.session, ctx.organization_id)
        entries: list[Application | Project] = [*applications, *projects]
        if not entries:
            ctx.state.clear()
            ctx.tell("status.empty")
            return
        page = page_of(entries, number)
        lines = [ctx.t(
            "status.list_title", org=localized(ctx, org.name_zh, org.name_en) if org else "",
            applications=len(applications), projects=len(projects),
        )]
        rows: list[list[Button]] = []
        paid = {e.id: await prj.project_payments(ctx.session, e.id) for e in page.items if isinstance(e, Project)}
        money = ctx.amounts([
            *(e.total_fen if isinstance(e, Application) else e.amount_fen for e in page.items),
            *(p.total_fen for p in paid.values()),
        ])
        for n, entry in enumerate(page.items, start=page.first + 1):
            # an application and the project it became share a title: the buttons say which is which
            if isinstance(entry, Application):
                title = application_title(ctx, entry)
                lines.append(self._application_row(ctx, entry, n, title, money))
                press: Payload = OpenApplication(entry.id)
                if entry.reference:
                    label = ctx.t("status.open_application_label", n=n, reference=entry.reference, title="{title}")
                else:
                    label = ctx.t("status.open_draft_label", n=n, title="{title}")
            else:
                title = localized(ctx, entry.title_zh, entry.title_en)
                lines.append(ctx.t(
                    "status.row_project", n=n, code=entry.code, title=title,
                    status=ctx.t(f"lifecycle.project.{entry.status}"), amount=money(entry.amount_fen),
                ))
                lines.append(await self._project_brief(ctx, entry, money(paid[entry.id].total_fen)))
                press = OpenProject(entry.id)
                label = ctx.t("status.open_project_label", n=n, code=entry.code, title="{title}")
            rows.append([Button(fill_label(label, title, LABEL_LIMIT), press.pack(self.name))])
        if page.pages > 1:
            lines.append(page_label(ctx, page))
            rows.append(nav_row(ctx, self.name, ListPage, page))
        ctx.state.reset("list")
        ctx.state.page = page.number
        ctx.say("\n".join(lines), rows)

    def _application_row(
        self, ctx: Context, application: Application, n: int, title: str, money: Callable[[int | None], str],
    ) -> str:
        if application.status == "draft":
            return ctx.t("status.row_draft", n=n, title=title, updated=ctx.moment(application.updated_at))
        return ctx.t(
            "status.row_application", n=n, reference=application.reference or "", title=title,
            status=ctx.t(f"lifecycle.application.{application.status}"), total=money(application.total_fen),
        )

    async def _project_brief(self, ctx: Context, project: Project, paid: str) -> str:
        upcoming = await prj.next_milestones(ctx.session, project.id, ctx.now, limit=1)
        deadline = ctx.t("common.none")
        if upcoming:
            deadline = ctx.t("status.deadline_brief", kind=ctx.t(f"lifecycle.milestone.{upcoming[0].kind}"),
                             day=ctx.day(upcoming[0].due_at))
        return ctx.t("status.row_project_more", paid=paid, deadline=deadline)

    async def _own_application(self, ctx: Context, application_id: int) -> Application | None:
        application = await ctx.get(Application, application_id)
        if application is None or application.organization_id != ctx.organization_id:
            return None
        return application

    async def _refuse(self, ctx: Context) -> None:
        ctx.tell("status.not_yours")
        await self.show_list(ctx, 0)

    # -- one application ---------------------------------------------------------------------
    async def show_application(self, ctx: Context, application_id: int) -> None:
        application = await self._own_application(ctx, application_id)
        if application is None:
            await self._refuse(ctx)
            return
        title = application_title(ctx, application)
        lines = []
        if application.status == "draft":
            lines.append(ctx.t("status.draft_title", title=title))
            lines.append(ctx.t("status.draft_note", created=ctx.moment(application.created_at),
                               updated=ctx.moment(application.updated_at)))
        else:
            lines.append(ctx.t("status.application_title", reference=application.reference or "", title=title))
        if application.catalog_item_id is not None:
            item = await ctx.get(CatalogItem, application.catalog_item_id)
            if item is not None:
                lines.append(ctx.t("status.item", item=localized(ctx, item.name_zh, item.name_en)))
        lines.append(ctx.t("status.state", status=ctx.t(f"lifecycle.application.{application.status}")))
        if application.start_on is not None and application.end_on is not None:
            lines.append(ctx.t("status.term", start=ctx.day(application.start_on), end=ctx.day(application.end_on)))
        money = ctx.amounts([application.total_fen, application.granted_fen])
        lines.append(ctx.t("status.requested", amount=money(application.total_fen)))
        if application.granted_fen is not None:
            lines.append(ctx.t("status.granted", amount=money(application.granted_fen)))
        lines.append(ctx.t("status.timeline_title"))
        lines.extend(await self._timeline(ctx, application))
        if application.decision_reason:
            lines.append(ctx.t("status.reason", reason=application.decision_reason))
        rows: list[list[Button]] = []
        if application.status in decisions.WITHDRAWABLE_STATUSES:
            rows.append([Button(ctx.t("status.withdraw"), Withdraw(application.id).pack(self.name))])
        if application.status == "draft":
            rows.append([Button(ctx.t("status.continue_draft"), run_button("apply"))])
        project = await decisions.application_project(ctx.session, application.id)
        if project is not None:
            lines.append(ctx.t("status.project_opened", code=project.code))
            rows.append([Button(ctx.t("status.open_project"), OpenProject(project.id).pack(self.name))])
        rows.append([Button(ctx.t("status.back"), ListPage().pack(self.name))])
        ctx.state.reset("application")
        ctx.state.id = application.id
        ctx.say("\n".join(lines), rows)

    async def _timeline(self, ctx: Context, application: Application) -> list[str]:
        """What happened (from the audit log, else the row's own stamps), then the steps still ahead."""
        history = await decisions.application_history(ctx.session, application)
        events: list[tuple[datetime, str]] = [(e.at, e.action) for e in history if e.action in EVENT_ACTIONS]
        seen = {action for _, action in events}
        if application.submitted_at is not None and "submit" not in seen:
            events.append((application.submitted_at, "submit"))
        final = FINAL_ACTIONS.get(application.status)
        if final is not None and application.decided_at is not None and final not in seen:
            events.append((application.decided_at, final))
        # same-moment events keep the lifecycle's order, not the alphabet's
        events.sort(key=lambda event: (event[0], EVENT_ACTIONS.index(event[1])))
        lines = [ctx.t("status.done_line", day=ctx.day(at),
                       event=ctx.t(f"status.event.{action}")) for at, action in events]
        lines.extend(ctx.t("status.todo_line", step=ctx.t(f"status.step.{step}"))
                     for step in STEPS_AHEAD.get(application.status, ()))
        return lines

    # -- one project -------------------------------------------------------------------------
    async def show_project(self, ctx: Context, project_id: int) -> None:
        assert ctx.organization_id is not None
        project = await prj.org_project(ctx.session, ctx.organization_id, project_id)
        if project is None:
            await self._refuse(ctx)
            return
        lines = [
            ctx.t("status.project_title", code=project.code, title=localized(ctx, project.title_zh, project.title_en)),
            ctx.t("status.state", status=ctx.t(f"lifecycle.project.{project.status}")),
            ctx.t("status.lifecycle", stages=self._stages(ctx, project.status)),
            ctx.t("status.term", start=ctx.day(project.start_on), end=ctx.day(project.end_on)),
        ]
        application = await ctx.get(Application, project.application_id) if project.application_id else None
        payments = await prj.project_payments(ctx.session, project.id)
        requested = application.total_fen if application is not None else None
        money = ctx.amounts([requested, project.amount_fen, payments.total_fen, *(t.amount_fen for t in payments.tranches)])
        if requested is not None:
            lines.append(ctx.t("status.requested", amount=money(requested)))
        lines.append(ctx.t("status.approved_amount", amount=money(project.amount_fen)))
        lines.append(ctx.t("status.paid", amount=money(payments.total_fen), count=len(payments.tranches)))
        lines.extend(
            ctx.t("status.tranche", n=t.installment, amount=money(t.amount_fen), day=ctx.day(t.paid_on))
            for t in payments.tranches
        )
        done = [m for m in await prj.project_milestones(ctx.session, project.id) if m.done_at is not None]
        if done:
            lines.append(ctx.t("status.milestones_done"))
            lines.extend(
                ctx.t("status.milestone_done", kind=ctx.t(f"lifecycle.milestone.{m.kind}"), day=ctx.day(m.done_at))
                for m in done if m.done_at is not None
            )
        deadlines = await prj.next_milestones(ctx.session, project.id, ctx.now, limit=10)
        if deadlines:
            lines.append(ctx.t("status.deadlines"))
            for d in deadlines:
                due = ctx.local_day(d.due_at)
                days = (due - ctx.today).days
                key = "status.milestone_overdue" if d.overdue else "status.milestone_open"
                lines.append(ctx.t(key, kind=ctx.t(f"lifecycle.milestone.{d.kind}"), day=ctx.day(due), days=abs(days)))
        rows: list[list[Button]] = []
        if project.status in prj.ACTIVE_STATUSES:
            rows.append([Button(ctx.t("status.post_progress"), run_button("progress"))])
        rows.append([Button(ctx.t("status.back"), ListPage().pack(self.name))])
        ctx.state.reset("project")
        ctx.state.id = project.id
        ctx.say("\n".join(lines), rows)

    def _stages(self, ctx: Context, status: str) -> str:
        if status not in prj.LIFECYCLE:
            return ctx.t(f"lifecycle.project.{status}")
        reached = prj.LIFECYCLE.index(status)
        marks = []
        for i, stage in enumerate(prj.LIFECYCLE):
            key = "status.stage_done" if i < reached else "status.stage_current" if i == reached else "status.stage_todo"
            marks.append(ctx.t(key, stage=ctx.t(f"lifecycle.project.{stage}")))
        return ctx.t("status.stage_separator").join(marks)

    # -- withdrawal --------------------------------------------------------------------------
    async def ask_withdraw(self, ctx: Context, application_id: int) -> None:
        application = await self._own_application(ctx, application_id)
        if application is None:
            await self._refuse(ctx)
            return
        if application.status not in decisions.WITHDRAWABLE_STATUSES:
            ctx.tell("status.cannot_withdraw", status=ctx.t(f"lifecycle.application.{application.status}"))
            await self.show_application(ctx, application.id)
            return
        ctx.state.reset("confirm")
        ctx.state.id = application.id
        ctx.tell(
            "status.withdraw_confirm", title=application_title(ctx, application),
            buttons=[[
                self.button(ctx.t("status.withdraw_yes"), ConfirmWithdraw("yes")),
                self.button(ctx.t("status.withdraw_no"), ConfirmWithdraw("no")),
            ]],
        )

    async def confirm_withdraw(self, ctx: Context, yes: bool) -> None:
        item_id = ctx.state.id
        application = await decisions.lock_application(ctx.session, item_id) if isinstance(item_id, int) else None
        if application is None or application.organization_id != ctx.organization_id:
            await self._refuse(ctx)
            return
        if not yes:
            ctx.tell("status.withdraw_kept")
        else:
            try:
                await decisions.withdraw(ctx.session, application, actor(ctx), ctx.now)
            except IllegalTransition:
                ctx.tell("status.cannot_withdraw", status=ctx.t(f"lifecycle.application.{application.status}"))
            else:
                ctx.tell("status.withdrawn", title=application_title(ctx, application))
        await self.show_application(ctx, application.id)
