"""/review: staff draw a call's review committee, follow it, read the ranking (with a chart), and approve in
ranking order within the budget or reject with a reason; acceptance committees' grades are confirmed here.

Every button names its call, and each press checks the department against the call's catalog items: staff
of another department are refused even with a forged button.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, get_args

from sqlalchemy import func, select

from dialogs import i18n, notify
from dialogs.buttons import Payload, Stale, on, parse_id
from dialogs.committee import invite_drawn, ranking_chart_png
from dialogs.context import Context, Parse
from dialogs.fields import DATE_RANGE, LONG_TEXT, MONEY, TEXT, Field, Problem, Values
from dialogs.forms import Form
from dialogs.listing import localized
from dialogs.types import Attachment, Button, Incoming
from store import approval, decisions, review
from store.lifecycle import IllegalTransition
from store.models import Application, Call, CallItem, CatalogItem, Expert, Project

RESULTS = ("results_approval", "results_acceptance")  # the ranking shown, of one stage
SHOWN = 15  # ranking rows in a message; the rest are in `civicbot review results`
Stage = Literal["approval", "acceptance"]
Seated = Literal["business", "finance", "management", "law", "reserve"]  # review.DEFAULT_MEMBERS, and reserves
SEATED: tuple[Seated, ...] = get_args(Seated)


@dataclass(frozen=True)
class OpenCall(Payload, action="call"):
    call: int


@dataclass(frozen=True)
class Commit(Payload, action="commit", steps=("call",)):
    """Commit the seed of a stage's draw before drawing."""

    call: int
    stage: Stage


@dataclass(frozen=True)
class Draw(Payload, action="draw"):
    """Plan a stage's first draw."""

    call: int
    stage: Stage


@dataclass(frozen=True)
class Redraw(Payload, action="redraw"):
    """Plan a new draw in place of the stage's committee."""

    call: int
    stage: Stage


@dataclass(frozen=True)
class Seat(Payload, action="seat", steps=("plan",)):
    """One seat (or reserve) more or less in the plan shown."""

    call: int
    stage: Stage
    seat: Seated
    way: Literal["u", "d"]


@dataclass(frozen=True)
class Go(Payload, action="go", steps=("plan",)):
    """Draw as planned."""

    call: int
    stage: Stage


@dataclass(frozen=True)
class Results(Payload, action="results"):
    call: int
    stage: Stage


@dataclass(frozen=True)
class Publish(Payload, action="publish", steps=("call",)):
    call: int
    stage: Stage


@dataclass(frozen=True)
class Decide(Payload, action="decide", steps=("results_approval",)):
    """Approve or reject the application next in the ranking."""

    call: int
    application: int
    decision: Literal["approve", "reject"]


@dataclass(frozen=True)
class Confirm(Payload, action="confirm", steps=("results_acceptance",)):
    """Confirm the acceptance grade of the project next in the ranking."""

    call: int
    project: int


@dataclass(frozen=True)
class Brand(Payload, action="brand"):
    """Make a project graded excellent a brand project."""

    call: int
    project: int


@dataclass(frozen=True)
class Unavailable(Payload, action="unavail"):
    """Record an expert away for a period."""

    call: int


def actor(ctx: Context) -> str:
    return f"identity:{ctx.identity.id}"


async def _check_granted(ctx: Context, value: int, values: Values) -> Problem | None:
    """At most the requested amount and what the department's budget of the year has left."""
    application = await ctx.get(Application, values.get("app", 0))
    if application is None:
        return None  # the decision itself reports the missing application
    if application.total_fen is not None and value > application.total_fen:
        return Problem.of("committee.error.over_request", requested=ctx.money(application.total_fen))
    call = await ctx.get(Call, application.call_id)
    department = await decisions.application_department(ctx.session, application)
    if call is not None and department is not None:
        remaining = await approval.remaining_budget(ctx.session, department, call.year)
        if remaining is not None and value > remaining:
            return Problem.of("committee.error.over_budget", remaining=ctx.money(remaining))
    return None


async def _expert(ctx: Context, code: str) -> Expert | None:
    expert: Expert | None = await ctx.session.scalar(
        select(Expert).where(func.upper(Expert.code) == code.strip().upper()))
    return expert


async def _check_expert(ctx: Context, value: str, values: Values) -> Problem | None:
    if await _expert(ctx, value) is None:
        return Problem.of("committee.error.no_expert", code=value)
    return None


class CommitteeFlow(Form):
    name = "committee"
    commands = ("review",)
    roles = frozenset({"staff"})
    menu_key = "committee.menu"
    menu_order = 42
    use_buttons_key = "committee.use_buttons"

    fields = (
        Field("reason", LONG_TEXT, "committee.ask.reason", "committee.label.reason", max_len=500, minimum=4,
              skip_if=lambda v: v.get("action") != "reject"),
        Field("granted", MONEY, "committee.ask.granted", "committee.label.granted", minimum=1, check=_check_granted,
              skip_if=lambda v: v.get("action") != "approve"),
        Field("expert", TEXT, "committee.ask.expert", "committee.label.expert", max_len=32, check=_check_expert,
              skip_if=lambda v: v.get("action") != "unavailable"),
        Field("period", DATE_RANGE, "committee.ask.period", "committee.label.period",
              skip_if=lambda v: v.get("action") != "unavailable"),
        Field("why", TEXT, "committee.ask.why", "committee.label.why", required=False, max_len=200,
              skip_if=lambda v: v.get("action") != "unavailable"),
    )

    # -- routing -----------------------------------------------------------------------------
    async def start(self, ctx: Context, payload: str | None, parse: Parse | None = None) -> None:
        if payload and payload[:1] == "c" and (call_id := parse_id(payload[1:])) is not None:
            await self.show_call(ctx, call_id)
            return
        if payload and payload[:1] in ("k", "w") and (project_id := parse_id(payload[1:])) is not None:
            await self.after_notice(ctx, project_id, contract=payload[:1] == "k")
            return
        await self.show_calls(ctx)

    async def handle(self, ctx: Context, msg: Incoming) -> None:
        """Typed text: the answers of a decision or of an expert's absence; the other steps want their buttons."""
        if ctx.state.step in (None, "calls", "call", "plan", *RESULTS):
            ctx.tell(self.use_buttons_key)
            await self.reprompt(ctx)
            return
        await super().handle(ctx, msg)

    async def reprompt(self, ctx: Context) -> None:
        call_id, step = ctx.state.call, ctx.state.step
        if call_id is not None and step in ("call", "plan", *RESULTS):
            call = await self._call(ctx, call_id)
            if call is None:
                return
            if step == "plan" and ctx.state.plan is not None:
                await self.show_plan(ctx, call, ctx.state.plan)
            elif step in RESULTS:
                await self.show_results(ctx, call, "acceptance" if step == "results_acceptance" else "approval")
            else:
                await self.show_call(ctx, call.id)
        elif step in (None, "calls", "call", "plan", *RESULTS):
            await self.show_calls(ctx)
        else:
            await super().reprompt(ctx)

    # -- presses -----------------------------------------------------------------------------
    @on(OpenCall)
    async def open_call(self, ctx: Context, press: OpenCall) -> None:
        await self.show_call(ctx, press.call)

    @on(Commit)
    async def commit(self, ctx: Context, press: Commit) -> None:
        call = await self._call(ctx, press.call)
        if call is not None:
            committed = await review.commit_seed(ctx.session, call, press.stage, actor(ctx), ctx.now)
            ctx.tell("committee.committed", stage=ctx.t(f"committee.stage.{press.stage}"),
                     commitment=committed.commitment)

    @on(Draw)
    async def plan_draw(self, ctx: Context, press: Draw) -> None:
        await self.plan(ctx, press.call, press.stage, redraw=False)

    @on(Redraw)
    async def plan_redraw(self, ctx: Context, press: Redraw) -> None:
        await self.plan(ctx, press.call, press.stage, redraw=True)

    @on(Seat)
    async def seat(self, ctx: Context, press: Seat) -> None:
        saved = ctx.state.plan
        if saved is None or press.call != ctx.state.call or press.stage != saved["stage"]:
            raise Stale(press)  # a button of another plan than the one shown
        call = await self._call(ctx, press.call)
        if call is not None:
            await self.show_plan(ctx, call, _adjusted(saved, press.seat, 1 if press.way == "u" else -1))

    @on(Go)
    async def go(self, ctx: Context, press: Go) -> None:
        saved = ctx.state.plan
        if saved is None or press.call != ctx.state.call or press.stage != saved["stage"]:
            raise Stale(press)
        call = await self._call(ctx, press.call)
        if call is not None:
            await self.draw(ctx, call, saved)

    @on(Results)
    async def results(self, ctx: Context, press: Results) -> None:
        call = await self._call(ctx, press.call)
        if call is not None:
            await self.show_results(ctx, call, press.stage)

    @on(Publish)
    async def publish(self, ctx: Context, press: Publish) -> None:
        call = await self._call(ctx, press.call)
        if call is None:
            return
        committee = await review.current_committee(ctx.session, call.id, press.stage)
        if committee is None or committee.state != "active":
            raise Stale(press)  # published already, or redrawn
        await review.publish(ctx.session, committee, actor(ctx), ctx.now)
        ctx.tell("committee.published", code=committee.code)
        await self.show_call(ctx, call.id)

    @on(Decide)
    async def decide(self, ctx: Context, press: Decide) -> None:
        call = await self._call(ctx, press.call)
        if call is None:
            return
        application = await ctx.get(Application, press.application)
        if application is None or application.call_id != call.id:
            raise Stale(press)
        ctx.state.reset(ctx.state.step)
        ctx.state.call = call.id
        values = {"app": application.id, "action": press.decision, "ref": application.reference or ""}
        ctx.state.form.values = values
        ctx.tell(f"committee.header_{press.decision}", reference=application.reference or "",
                 requested=ctx.money(application.total_fen))
        await self.advance(ctx, None)

    @on(Confirm)
    async def confirm(self, ctx: Context, press: Confirm) -> None:
        call = await self._call(ctx, press.call)
        if call is not None:
            await self.confirm_grade(ctx, call, press.project)

    @on(Brand)
    async def brand(self, ctx: Context, press: Brand) -> None:
        call = await self._call(ctx, press.call)
        if call is None:
            return
        project = await ctx.get(Project, press.project)
        if project is None or not ctx.staff_of(project.department_id):
            raise Stale(press)  # another department's project, whatever call the button names
        if project.grade == "excellent" and not project.brand:
            project.brand = True
            ctx.tell("committee.branded", code=project.code)
        await self.show_call(ctx, call.id)

    @on(Unavailable)
    async def unavailable(self, ctx: Context, press: Unavailable) -> None:
        call = await self._call(ctx, press.call)
        if call is None:
            return
        ctx.state.reset(ctx.state.step)
        ctx.state.call, ctx.state.form.values = call.id, {"action": "unavailable"}
        ctx.tell("committee.header_unavailable")
        await self.advance(ctx, None)

    async def _call(self, ctx: Context, call_id: int) -> Call | None:
        """The call when this staff member's department runs it; otherwise say so."""
        call = await ctx.get(Call, call_id)
        if call is None:
            ctx.tell("committee.no_call")
            return None
        if not ctx.is_admin and ctx.identity.department_id not in await review.call_departments(ctx.session, call.id):
            ctx.state.clear()
            ctx.tell("committee.not_yours")
            return None
        return call

    # -- views -------------------------------------------------------------------------------
    async def show_calls(self, ctx: Context) -> None:
        stmt = select(Call).order_by(Call.year.desc(), Call.code).limit(10)
        if not ctx.is_admin:
            stmt = stmt.where(Call.id.in_(
                select(CallItem.call_id).join(CatalogItem, CatalogItem.id == CallItem.catalog_item_id)
                .where(CatalogItem.department_id == ctx.identity.department_id)))
        calls = list((await ctx.session.execute(stmt)).scalars())
        if not calls:
            ctx.state.clear()
            ctx.tell("committee.no_calls")
            return
        if len(calls) == 1:
            await self.show_call(ctx, calls[0].id)
            return
        rows = [[self.button(localized(ctx, c.title_zh, c.title_en)[:40], OpenCall(c.id))] for c in calls]
        ctx.state.reset("calls")
        ctx.tell("committee.choose_call", buttons=rows)

    async def show_call(self, ctx: Context, call_id: int) -> None:
        call = await self._call(ctx, call_id)
        if call is None:
            return
        ctx.state.reset("call", flow=self.name)
        ctx.state.call = call.id
        title = localized(ctx, call.title_zh, call.title_en)
        rows: list[list[Button]] = []
        lines = [ctx.t("committee.call_title", code=call.code, title=title)]
        stages: tuple[Stage, ...] = ("approval", "acceptance")
        for stage in stages:
            committee = await review.current_committee(ctx.session, call.id, stage)
            stage_name = ctx.t(f"committee.stage.{stage}")
            if committee is None:
                lines.append(ctx.t("committee.none", stage=stage_name))
                rows.append([self.button(ctx.t("committee.draw", stage=stage_name), Draw(call.id, stage)),
                             self.button(ctx.t("committee.commit"), Commit(call.id, stage))])
                continue
            lines.append(ctx.t("committee.header", code=committee.code, stage=stage_name,
                               state=ctx.t(f"committee.state.{committee.state}"), commitment=committee.commitment[:16]))
            members = await review.committee_members(ctx.session, committee.id)
            for member, expert in members:
                lines.append(ctx.t("committee.member_row", field=ctx.t(f"committee.field.{member.field}"),
                                   name=expert.name, code=expert.code,
                                   role=ctx.t("committee.reserve" if member.reserve else "committee.seat"),
                                   state=ctx.t(f"committee.member.{member.state}")))
            working = [m for m, _ in members if m.state in ("invited", "accepted", "submitted")]
            lines.append(ctx.t("committee.progress", submitted=sum(m.state == "submitted" for m in working),
                               total=len(working)))
            excluded = await review.committee_exclusions(ctx.session, committee.id)
            if excluded:
                lines.append(ctx.t("committee.excluded_title", count=len(excluded)))
                for expert, reason, detail in excluded[:10]:
                    lines.append(ctx.t("committee.excluded_row", name=expert.name, code=expert.code,
                                       reason=ctx.t(f"committee.exclusion.{reason}"), detail=detail or ""))
            row = [self.button(ctx.t("committee.results", stage=stage_name), Results(call.id, stage))]
            if committee.state == "active":
                row.append(self.button(ctx.t("committee.redraw"), Redraw(call.id, stage)))
                row.append(self.button(ctx.t("committee.publish"), Publish(call.id, stage)))
            rows.append(row)
        rows.append([self.button(ctx.t("committee.unavailable"), Unavailable(call.id))])
        ctx.say("\n".join(lines), rows)

    async def show_results(self, ctx: Context, call: Call, stage: Stage) -> None:
        committee = await review.current_committee(ctx.session, call.id, stage)
        if committee is None:
            ctx.tell("committee.none", stage=ctx.t(f"committee.stage.{stage}"))
            return
        ranked = await review.results(ctx.session, committee, ctx.settings.review_weight)
        lines = [ctx.t("committee.results_title", code=committee.code)]
        for row in ranked[:SHOWN]:
            lines.append(ctx.t(
                "committee.result_row", rank=row.rank if row.rank is not None else "—", reference=row.subject_ref,
                org=localized(ctx, row.organization, None), ranking=_num(row.ranking_score), expert=_num(row.expert_score),
                previous=_num(row.previous_score), scores=row.scores, status=ctx.t(_status_key(stage, row.status)),
            ))
        rows: list[list[Button]] = []
        nxt = next((r for r in ranked if r.rank is not None and r.status in ("under_review", "closing")), None)
        if nxt is not None and stage == "approval" and nxt.application_id is not None:
            remaining = await approval.remaining_budget(ctx.session, await _department(ctx, nxt), call.year)
            money = ctx.amounts([nxt.requested_fen, remaining])
            lines.append(ctx.t("committee.next", reference=nxt.subject_ref, requested=money(nxt.requested_fen),
                               remaining=money(remaining)))
            rows.append([
                self.button(ctx.t("committee.approve"), Decide(call.id, nxt.application_id, "approve")),
                self.button(ctx.t("committee.reject"), Decide(call.id, nxt.application_id, "reject")),
            ])
        if nxt is not None and stage == "acceptance" and nxt.project_id is not None and nxt.expert_score is not None:
            lines.append(ctx.t("committee.next_grade", reference=nxt.subject_ref, score=_num(nxt.expert_score),
                               grade=ctx.t(f"expert.grade.{review.grade_of(nxt.expert_score)}")))
            rows.append([self.button(ctx.t("committee.confirm"), Confirm(call.id, nxt.project_id))])
        rows.append([self.button(ctx.t("committee.back"), OpenCall(call.id))])
        ctx.state.reset(f"results_{stage}")
        ctx.state.call = call.id
        image = None
        if any(r.ranking_score is not None for r in ranked):
            image = Attachment(f"{committee.code}-ranking.png",
                               ranking_chart_png(ranked, ctx.locale, ctx.t("committee.chart.title", code=committee.code)),
                               "image/png")
        ctx.say("\n".join(lines), rows, image=image)

    # -- actions -----------------------------------------------------------------------------
    async def plan(self, ctx: Context, call_id: int, stage: Stage, *, redraw: bool) -> None:
        call = await self._call(ctx, call_id)
        if call is not None:
            plan = {"stage": stage, "redraw": redraw, "seats": dict(review.DEFAULT_MEMBERS),
                    "reserves": review.DEFAULT_RESERVES}
            await self.show_plan(ctx, call, plan)

    async def show_plan(self, ctx: Context, call: Call, plan: dict[str, Any]) -> None:
        """The seats per field and the reserves before a draw, each adjusted with buttons; a redraw says
        what it replaces and needs its own confirmation."""
        ctx.state.reset("plan", flow=self.name)
        ctx.state.call, ctx.state.plan = call.id, plan
        stage, seats = plan["stage"], plan["seats"]
        lines = [ctx.t("committee.plan", stage=ctx.t(f"committee.stage.{stage}"), reserves=plan["reserves"],
                       **{f: seats[f] for f in review.DEFAULT_MEMBERS})]
        current = await review.current_committee(ctx.session, call.id, stage)
        if plan["redraw"] and current is not None:
            lines.append(ctx.t("committee.plan_redraw", code=current.code))
        rows = [[self.button(ctx.t("committee.less", field=label), Seat(call.id, stage, f, "d")),
                 self.button(ctx.t("committee.more", field=label), Seat(call.id, stage, f, "u"))]
                for f in SEATED
                for label in [ctx.t("committee.reserve" if f == "reserve" else f"committee.field.{f}")]]
        rows.append([self.button(ctx.t("committee.go_redraw" if plan["redraw"] else "committee.go"), Go(call.id, stage)),
                     self.button(ctx.t("committee.back"), OpenCall(call.id))])
        ctx.say("\n".join(lines), rows)

    async def draw(self, ctx: Context, call: Call, plan: dict[str, Any]) -> None:
        try:
            drawn = await review.draw_committee(ctx.session, call, plan["stage"], actor(ctx), ctx.now, ctx.today,
                                                members=plan["seats"], reserves=plan["reserves"],
                                                redraw=bool(plan["redraw"]))
        except review.ReviewError as exc:
            ctx.say(ctx.t(f"committee.error.{exc.code}", **{k: _param(ctx, k, v) for k, v in exc.params.items()}))
            await self.show_call(ctx, call.id)
            return
        await invite_drawn(ctx.session, drawn.committee, ctx.now, ctx.settings.review_answer_hours)
        ctx.tell("committee.drawn", code=drawn.committee.code, subjects=drawn.subjects, excluded=len(drawn.excluded))
        await self.show_call(ctx, call.id)

    async def confirm_grade(self, ctx: Context, call: Call, project_id: int) -> None:
        committee = await review.current_committee(ctx.session, call.id, "acceptance")
        project = await ctx.get(Project, project_id)
        row = None
        if committee is not None and project is not None:
            row = next((r for r in await review.results(ctx.session, committee, 1.0) if r.project_id == project_id), None)
        if project is None or row is None or row.expert_score is None:
            raise Stale(project_id)  # not (or no longer) in the committee's results
        try:
            grade = await approval.confirm_acceptance(ctx.session, project, row.expert_score, actor(ctx), ctx.now)
        except (review.ReviewError, IllegalTransition):
            ctx.tell("committee.error.not_closing", state=ctx.t(f"lifecycle.project.{project.status}"))
            return
        buttons = []
        if grade == "excellent":
            buttons = [[self.button(ctx.t("committee.make_brand"), Brand(call.id, project.id))]]
        ctx.tell("committee.confirmed", code=project.code, score=project.evaluation_score,
                 grade=ctx.t(f"expert.grade.{grade}"), buttons=buttons)

    async def after_notice(self, ctx: Context, project_id: int, contract: bool) -> None:
        """From the contract reminder, the contract signed; from an upheld objection, the approval withdrawn."""
        ctx.state.clear()
        project = await ctx.get(Project, project_id)
        if project is None or not (ctx.is_admin or project.department_id == ctx.identity.department_id):
            ctx.tell("committee.not_yours")
            return
        try:
            if contract:
                await approval.mark_contracted(ctx.session, project, actor(ctx), ctx.now, ctx.today)
                await notify.project_contracted(ctx.session, project, ctx.now)
            else:
                upheld = [t.reference for t in await approval.blocking_objections(ctx.session, project.id)
                          if t.state == "resolved"]
                await approval.withdraw_approval(ctx.session, project, ", ".join(upheld), actor(ctx), ctx.now)
                await notify.approval_withdrawn(ctx.session, project, ctx.now)
        except review.ReviewError as exc:
            ctx.say(ctx.t(f"committee.error.{exc.code}", **{k: _param(ctx, k, v) for k, v in exc.params.items()}))
            return
        except IllegalTransition:
            ctx.tell("committee.error.project_state", code=project.code,
                     state=ctx.t(f"lifecycle.project.{project.status}"))
            return
        ctx.tell("committee.contracted" if contract else "committee.withdrawn", code=project.code)

    def summary_title(self, ctx: Context, values: Values) -> str:
        key = f"committee.confirm_{values.get('action')}"
        # a summary reached without a decision (a stale button in the middle of one) has no action yet
        return ctx.t(key, reference=values.get("ref", "")) if i18n.has(key) else ctx.t("form.summary_title")

    async def submit(self, ctx: Context, values: Values) -> None:
        call_id = ctx.state.call
        call = await self._call(ctx, call_id) if isinstance(call_id, int) else None
        if call is not None and values.get("action") == "unavailable":
            await self.mark_unavailable(ctx, call, values)
            return
        application = await ctx.get(Application, values.get("app"))
        if call is None or application is None:
            ctx.state.clear()
            return
        committee = await review.current_committee(ctx.session, call.id, "approval")
        try:
            if committee is None:
                raise review.ReviewError("not_in_committee", "no committee")
            if values["action"] == "reject":
                await approval.reject(ctx.session, application, values["reason"], actor(ctx), ctx.now)
                await notify.application_rejected(ctx.session, application, ctx.now)
                ctx.tell("committee.rejected", reference=application.reference or "")
            else:
                done = await approval.approve(
                    ctx.session, committee, application, values["granted"], actor(ctx), ctx.now, ctx.settings.zone,
                    ctx.settings.work_calendar(), ctx.settings.notice_days, ctx.settings.review_weight,
                    ctx.settings.project_code_prefix)
                await notify.application_approved(ctx.session, application, done.project, ctx.now)
                money = ctx.amounts([values["granted"], done.remaining_fen])
                ctx.tell("committee.approved", reference=application.reference or "", code=done.project.code,
                         granted=money(values["granted"]), ends=ctx.day(done.notice.ends_on),
                         remaining=money(done.remaining_fen))
        except review.ReviewError as exc:
            ctx.say(ctx.t(f"committee.error.{exc.code}", **{k: _param(ctx, k, v) for k, v in exc.params.items()}))
        await self.show_results(ctx, call, "approval")

    async def mark_unavailable(self, ctx: Context, call: Call, values: Values) -> None:
        """An expert away for a period: excluded from every draw in it (like ``civicbot review unavailable``)."""
        expert = await _expert(ctx, values["expert"])
        first, last = (date.fromisoformat(d) for d in values["period"])
        if expert is not None:
            await review.mark_unavailable(ctx.session, expert, first, last, values.get("why"), actor(ctx), ctx.now)
            ctx.tell("committee.marked_unavailable", name=expert.name, code=expert.code, start=ctx.day(first),
                     end=ctx.day(last))
        await self.show_call(ctx, call.id)

    async def leave(self, ctx: Context) -> None:
        call_id = ctx.state.call
        ctx.tell("committee.dropped")
        if isinstance(call_id, int):
            await self.show_call(ctx, call_id)
        else:
            ctx.state.clear()


def _adjusted(plan: dict[str, Any], what: str, delta: int) -> dict[str, Any]:
    """The plan with one field's seats (or the reserves) one more or one less, within 0..20
    (``draw_committee`` checks the whole: at least one seat, enough experts in each field)."""
    seats = dict(plan["seats"])
    if what == "reserve":
        return {**plan, "reserves": min(20, max(0, plan["reserves"] + delta))}
    if what in seats:
        seats[what] = min(20, max(0, seats[what] + delta))
    return {**plan, "seats": seats}


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _status_key(stage: str, status: str) -> str:
    return f"lifecycle.{'application' if stage == 'approval' else 'project'}.{status}"


def _param(ctx: Context, key: str, value: Any) -> str:
    if key in ("remaining", "requested", "limit") and isinstance(value, int):
        return ctx.money(value)
    if isinstance(value, date):
        return ctx.day(value)
    if key == "field":
        return ctx.t(f"committee.field.{value}") if value in ("business", "finance", "management", "law") else str(value)
    return str(value)


async def _department(ctx: Context, row: review.ResultRow) -> int:
    application = await ctx.get(Application, row.application_id)
    department = await decisions.application_department(ctx.session, application) if application else None
    return department or 0
