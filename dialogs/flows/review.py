"""/applications: staff decide on their department's applications (eligibility, review, approval, rejection).

The department is checked on every turn against the application's catalog item, so a hidden
button is not the only guard: a forged or stale press on another department's application is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from dialogs import notify
from dialogs.buttons import Payload, on, parse_id
from dialogs.context import Context, Parse
from dialogs.fields import LONG_TEXT, MONEY, Field, Problem, Values
from dialogs.forms import Form
from dialogs.listing import localized, nav_row, page_label, page_of, shorten
from dialogs.types import Button, Incoming
from store import decisions
from store import review as review_committees
from store.lifecycle import IllegalTransition
from store.models import Application, Call, CatalogItem, Department, Organization

REASONED = ("ineligible", "reject")
BUDGET_KINDS = ("personnel", "activities", "materials", "administration", "other")
LABEL_LIMIT = 24
Action = Literal["eligible", "ineligible", "review", "approve", "reject"]
ACTIONS: dict[str, tuple[Action, ...]] = {
    "submitted": ("eligible", "ineligible"), "eligible": ("review",), "under_review": ("approve", "reject"),
}


@dataclass(frozen=True)
class ListPage(Payload, action="list"):
    page: int = 0


@dataclass(frozen=True)
class Open(Payload, action="open"):
    application: int


@dataclass(frozen=True)
class Act(Payload, action="act", steps=("detail",)):
    """One of the decisions the application's state allows, pressed on its detail."""

    application: int
    decision: Action


def actor(ctx: Context) -> str:
    return f"identity:{ctx.identity.id}"


def _title(ctx: Context, application: Application) -> str:
    return application.title or (application.content or {}).get("title") or ctx.t("review.untitled")


async def _ceiling(ctx: Context, application: Application) -> int | None:
    if application.catalog_item_id is None:
        return None
    item = await ctx.get(CatalogItem, application.catalog_item_id)
    return item.ceiling_fen if item else None


async def _check_granted(ctx: Context, value: int, values: Values) -> Problem | None:
    application = await ctx.get(Application, values.get("app", 0))
    if application is None:
        return None  # the decision itself reports the missing application
    if application.total_fen is not None and value > application.total_fen:
        return Problem.of("review.error.over_requested", total=ctx.money(application.total_fen))
    ceiling = await _ceiling(ctx, application)
    if ceiling is not None and value > ceiling:
        return Problem.of("review.error.over_ceiling", ceiling=ctx.money(ceiling))
    return None


class ReviewFlow(Form):
    name = "review"
    commands = ("applications",)
    roles = frozenset({"staff"})
    menu_key = "review.menu"
    menu_order = 40
    use_buttons_key = "review.use_buttons"

    fields = (
        Field("reason", LONG_TEXT, "review.ask.reason", "review.label.reason", max_len=500, minimum=4,
              skip_if=lambda v: v.get("action") not in REASONED, example="review.example.reason"),
        Field("granted", MONEY, "review.ask.granted", "review.label.granted", minimum=1, check=_check_granted,
              skip_if=lambda v: v.get("action") != "approve", example="review.example.granted"),
    )

    # -- routing -----------------------------------------------------------------------------
    async def start(self, ctx: Context, payload: str | None, parse: Parse | None = None) -> None:
        if payload and payload[:1] == "a" and (app_id := parse_id(payload[1:])) is not None:
            await self.show_detail(ctx, app_id)
        else:
            await self.show_list(ctx, 0)

    @on(ListPage)
    async def list_page(self, ctx: Context, press: ListPage) -> None:
        await self.show_list(ctx, press.page)

    @on(Open)
    async def open_application(self, ctx: Context, press: Open) -> None:
        await self.show_detail(ctx, press.application)

    @on(Act)
    async def acted(self, ctx: Context, press: Act) -> None:
        await self.act(ctx, press.application, press.decision)

    async def handle(self, ctx: Context, msg: Incoming) -> None:
        """Typed text: a decision's reason or amount; the queue and the detail want their buttons."""
        if ctx.state.step in ("list", "detail", None):
            ctx.tell(self.use_buttons_key)
            await self.reprompt(ctx)
            return
        # a decision is being written: the application must still be this staff member's to decide
        if await self._visible(ctx, self.values(ctx).get("app")) is None:
            return
        await super().handle(ctx, msg)

    async def reprompt(self, ctx: Context) -> None:
        app_id = ctx.state.id
        if ctx.state.step == "detail" and isinstance(app_id, int):
            await self.show_detail(ctx, app_id)
        elif ctx.state.step in (None, "list", "detail"):
            page = ctx.state.page
            await self.show_list(ctx, page if isinstance(page, int) else 0)
        else:
            await super().reprompt(ctx)

    async def _visible(self, ctx: Context, app_id: Any) -> Application | None:
        """The application when this staff member may see and decide it; otherwise say so and show the list."""
        application = await ctx.get(Application, app_id) if isinstance(app_id, int) else None
        if application is None or application.status == "draft":
            ctx.tell("review.not_found")
            await self.show_list(ctx, 0)
            return None
        department_id = await decisions.application_department(ctx.session, application)
        if not (ctx.is_admin or (department_id is not None and ctx.staff_of(department_id))):
            ctx.tell("review.not_yours")
            await self.show_list(ctx, 0)
            return None
        return application

    # -- the queue ---------------------------------------------------------------------------
    async def show_list(self, ctx: Context, number: int) -> None:
        department_id = None if ctx.is_admin else ctx.identity.department_id
        pending = await decisions.pending_applications(ctx.session, department_id)
        scope = ctx.t("review.all_departments")
        if department_id is not None:
            department = await ctx.get(Department, department_id)
            scope = localized(ctx, department.name_zh, department.name_en) if department else scope
        if not pending:
            ctx.state.clear()
            ctx.tell("review.empty", scope=scope)
            return
        page = page_of(pending, number)
        lines = [ctx.t("review.list_title", scope=scope, count=page.total)]
        rows: list[list[Button]] = []
        for n, entry in enumerate(page.items, start=page.first + 1):
            application = entry.application
            title = _title(ctx, application)
            lines.append(ctx.t(
                "review.row", n=n, reference=application.reference or "", title=title,
                org=localized(ctx, entry.organization_name_zh, entry.organization_name_en),
                status=ctx.t(f"lifecycle.application.{application.status}"), total=ctx.money(application.total_fen),
            ))
            rows.append([self.button(ctx.t("review.open_label", n=n, title=shorten(title, LABEL_LIMIT)),
                                     Open(application.id))])
        if page.pages > 1:
            lines.append(page_label(ctx, page))
            rows.append(nav_row(ctx, self.name, ListPage, page))
        ctx.state.reset("list")
        ctx.state.page = page.number
        ctx.say("\n".join(lines), rows)

    # -- one application ---------------------------------------------------------------------
    async def show_detail(self, ctx: Context, app_id: int, *, full: bool = True) -> None:
        """The whole application and the actions its state allows; ``full=False`` only the actions."""
        application = await self._visible(ctx, app_id)
        if application is None:
            return
        rows = [[
            self.button(ctx.t(f"review.act.{action}"), Act(application.id, action))
            for action in ACTIONS.get(application.status, ())
        ]]
        rows.append([self.button(ctx.t("review.back"), ListPage())])
        rows = [row for row in rows if row]
        ctx.state.reset("detail")
        ctx.state.id = application.id
        if not full:
            ctx.tell("review.next_actions", reference=application.reference or "", title=_title(ctx, application),
                     status=ctx.t(f"lifecycle.application.{application.status}"), buttons=rows)
            return
        content: dict[str, Any] = application.content or {}
        none = ctx.t("common.none")

        def shown(key: str) -> str:
            value = content.get(key)
            return none if value is None or value == "" else str(value)

        org = await ctx.get(Organization, application.organization_id)
        call = await ctx.get(Call, application.call_id)
        item = await ctx.get(CatalogItem, application.catalog_item_id) if application.catalog_item_id else None
        department = await ctx.get(Department, item.department_id) if item else None
        proposal = [
            ctx.t("review.detail_title", reference=application.reference or "", title=_title(ctx, application)),
            ctx.t("review.detail_status", status=ctx.t(f"lifecycle.application.{application.status}"),
                  submitted=ctx.moment(application.submitted_at)),
            ctx.t("review.detail_org", org=localized(ctx, org.name_zh, org.name_en) if org else none,
                  rating=(org.rating if org and org.rating else ctx.t("review.unrated")), uscc=org.uscc if org else none),
            ctx.t("review.detail_call", call=localized(ctx, call.title_zh, call.title_en) if call else none),
            ctx.t("review.detail_item", item=localized(ctx, item.name_zh, item.name_en) if item else none,
                  department=localized(ctx, department.name_zh, department.name_en) if department else none,
                  ceiling=ctx.money(item.ceiling_fen if item else None)),
            ctx.t("review.detail_need", text=shown("need")),
            ctx.t("review.detail_target", group=shown("target_group"), count=shown("beneficiaries")),
            ctx.t("review.detail_objectives", text=shown("objectives")),
            ctx.t("review.detail_activities", casework=shown("casework"), groups=shown("group_sessions"),
                  events=shown("community_events")),
            ctx.t("review.detail_term", start=ctx.day(application.start_on), end=ctx.day(application.end_on)),
        ]
        ctx.say("\n".join(proposal))
        stored = await decisions.budget_lines(ctx.session, application.id)
        budget = {kind: amount for kind in BUDGET_KINDS if isinstance(amount := stored.get(kind, content.get(kind)), int)}
        money = ctx.amounts([application.total_fen, application.granted_fen, *budget.values()])
        lines = [ctx.t("review.detail_budget", total=money(application.total_fen))]
        lines += [ctx.t("review.detail_line", kind=ctx.t(f"lifecycle.budget.{kind}"), amount=money(amount))
                  for kind, amount in budget.items()]
        lines.append(ctx.t("review.detail_staff", total=shown("staff_total"), social=shown("social_workers")))
        lines.append(ctx.t("review.detail_outcomes", text=shown("outcomes")))
        if application.decision_reason:
            lines.append(ctx.t("review.detail_reason", reason=application.decision_reason))
        if application.granted_fen is not None:
            lines.append(ctx.t("review.detail_granted", amount=money(application.granted_fen)))
        ctx.say("\n".join(lines), rows)

    # -- decisions ---------------------------------------------------------------------------
    async def act(self, ctx: Context, app_id: int, action: Action) -> None:
        application = await self._visible(ctx, app_id)
        if application is None:
            return
        if action not in ACTIONS.get(application.status, ()):
            ctx.tell("review.status_changed", status=ctx.t(f"lifecycle.application.{application.status}"))
            await self.show_detail(ctx, application.id)
            return
        reference = application.reference or ""
        if action in ("approve", "reject") and await review_committees.current_committee(
                ctx.session, application.call_id, "approval") is not None:
            # a call with a review committee is decided in ranking order within the budget, in /review
            ctx.tell("review.use_committee", reference=reference)
            await self.show_detail(ctx, application.id, full=False)
            return
        if action == "approve" and None in (application.catalog_item_id, application.start_on, application.end_on):
            ctx.tell("review.incomplete")
            await self.show_detail(ctx, application.id)
            return
        if action in ("eligible", "review"):
            await self._decide(ctx, application.id, {"action": action})
            return
        ctx.state.reset(ctx.state.step)
        ctx.state.form.values = {"app": application.id, "action": action, "ref": reference}
        limit = await _ceiling(ctx, application)
        money = ctx.amounts([application.total_fen, limit])
        total, ceiling = money(application.total_fen), money(limit)
        ctx.tell(f"review.header_{action}", reference=reference, title=_title(ctx, application), total=total, ceiling=ceiling)
        await self.advance(ctx, None)

    def summary_title(self, ctx: Context, values: Values) -> str:
        return ctx.t(f"review.confirm_{values.get('action')}", reference=values.get("ref", ""))

    async def submit(self, ctx: Context, values: Values) -> None:
        app_id = values.get("app")
        if isinstance(app_id, int):
            await self._decide(ctx, app_id, values)

    async def _decide(self, ctx: Context, app_id: int, values: Values) -> None:
        application = await decisions.lock_application(ctx.session, app_id)
        if application is None or await self._visible(ctx, application.id) is None:
            return
        action = values["action"]
        try:
            if action == "eligible":
                await decisions.mark_eligible(ctx.session, application, actor(ctx), ctx.now)
                await notify.eligibility_decided(ctx.session, application, ctx.now)
            elif action == "review":
                await decisions.start_review(ctx.session, application, actor(ctx), ctx.now)
            elif action == "ineligible":
                await decisions.mark_ineligible(ctx.session, application, values["reason"], actor(ctx), ctx.now)
                await notify.eligibility_decided(ctx.session, application, ctx.now)
            elif action == "reject":
                await decisions.reject(ctx.session, application, values["reason"], actor(ctx), ctx.now)
                await notify.application_rejected(ctx.session, application, ctx.now)
            else:
                project = await decisions.approve(
                    ctx.session, application, values["granted"], actor(ctx), ctx.now, ctx.settings.zone,
                    ctx.settings.work_calendar(), ctx.settings.notice_days,
                    ctx.settings.project_code_prefix,
                )
                await notify.application_approved(ctx.session, application, project, ctx.now)
                ctx.tell("review.done_approve", reference=application.reference or "",
                         granted=ctx.money(values["granted"]), code=project.code)
        except IllegalTransition:
            ctx.tell("review.status_changed", status=ctx.t(f"lifecycle.application.{application.status}"))
            await self.show_detail(ctx, application.id)
            return
        except decisions.GrantNotAllowed as exc:
            ctx.tell("review.error.over_limit", limit=ctx.money(exc.limit_fen))
            await self.show_detail(ctx, application.id)
            return
        if action != "approve":
            ctx.tell(f"review.done_{action}", reference=application.reference or "")
        if action in ("eligible", "review"):  # the next step is on the same application, already read
            await self.show_detail(ctx, application.id, full=False)
        else:
            await self.show_list(ctx, 0)

    async def leave(self, ctx: Context) -> None:
        app_id = self.values(ctx).get("app")
        ctx.tell("review.decision_dropped")
        if isinstance(app_id, int):
            await self.show_detail(ctx, app_id)
        else:
            await self.show_list(ctx, 0)
