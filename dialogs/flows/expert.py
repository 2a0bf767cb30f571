"""The expert's review: accept or decline an invitation, read each assigned application, declare a conflict,
score every criterion of the rubric (buttons or a number), comment, and submit — after which it is final.

Every press names the membership, checked on each turn against the expert talking, and a step's own buttons
must be the screen's (the seat and the application shown), so a forged or stale button never scores on
someone else's behalf nor on another application than the one in front of the expert.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from dialogs.buttons import Payload, Stale, on, parse_id
from dialogs.committee import conflict_declared, invite_members
from dialogs.context import Context, Parse
from dialogs.flow import Flow
from dialogs.listing import localized
from dialogs.rubrics import Rubric, rubric_for
from dialogs.types import Button, Incoming
from nlu.numbers import parse_int
from store import review
from store.decisions import budget_lines
from store.models import Application, Organization, Project, ReviewCommittee, ReviewMember, ReviewSubject
from store.projects import org_projects

FAIL_BELOW = 60  # a total below this needs a comment (review.md)
COMMENT_MIN, COMMENT_MAX = 10, 1000
REASON_MIN, REASON_MAX = 2, 500
_POINTS_SUFFIX = re.compile(r"\s*(分|points?|pts?)\s*$", re.IGNORECASE)
BUDGET_KINDS = ("personnel", "activities", "materials", "administration", "other")


@dataclass(frozen=True)
class Answer(Payload, action="answer", steps=("home",)):
    """Accept ("1") or decline ("0") the invitation to a committee's seat."""

    member: int
    accept: Literal["1", "0"]


@dataclass(frozen=True)
class OpenList(Payload, action="list"):
    """The applications of a seat, with their scores."""

    member: int


@dataclass(frozen=True)
class OpenSubject(Payload, action="open"):
    member: int
    subject: int


@dataclass(frozen=True)
class Criterion(Payload, action="crit", steps=("subject",)):
    """Score one criterion of the application shown: its points are asked."""

    member: int
    subject: int
    criterion: str


@dataclass(frozen=True)
class Points(Payload, action="pts", steps=("points",)):
    member: int
    subject: int
    criterion: str
    points: int


@dataclass(frozen=True)
class DeclareConflict(Payload, action="conflict", steps=("subject",)):
    member: int
    subject: int


@dataclass(frozen=True)
class WriteComment(Payload, action="comment", steps=("subject",)):
    member: int
    subject: int


@dataclass(frozen=True)
class SubmitAll(Payload, action="submit", steps=("list",)):
    """Make every score of the seat final."""

    member: int


@dataclass(frozen=True)
class Standing(Payload, action="standing"):
    """Declare a standing conflict with an organization (which one is asked next)."""


def actor(ctx: Context) -> str:
    return f"identity:{ctx.identity.id}"


def parse_points(text: str) -> int | None:
    """A whole number of points as typed: 85, 85分, 八十五, ８５."""
    return parse_int(_POINTS_SUFFIX.sub("", text.strip()))


def needs_comment(rubric: Rubric, scores: dict[str, int]) -> bool:
    """A total below 60, or any criterion at its minimum (0), must be explained."""
    return sum(scores.values()) < FAIL_BELOW or any(scores.get(c.code) == 0 for c in rubric.criteria)


class ExpertFlow(Flow):
    name = "expert"
    commands = ("score",)
    roles = frozenset({"expert"})
    menu_key = "expert.menu"
    menu_order = 45
    use_buttons_key = "expert.use_buttons"

    def allowed(self, ctx: Context) -> bool:
        return super().allowed(ctx) and ctx.identity.expert_id is not None  # an expert of the register

    # -- routing -----------------------------------------------------------------------------
    async def start(self, ctx: Context, payload: str | None, parse: Parse | None = None) -> None:
        # ``y<id>`` / ``n<id>`` / ``m<id>``: accept, decline or open one seat (the invitation's and reminder's links)
        kind, member_id = (payload[:1], parse_id(payload[1:])) if payload else ("", None)
        if member_id is not None and kind in ("y", "n", "m"):
            member = await self._member(ctx, member_id)
            if member is None:
                return
            if kind == "y":
                await self.answer(ctx, member, True, None)
            elif kind == "n":
                await self.ask_reason(ctx, member)
            else:
                await self.show_list(ctx, member)
            return
        assert ctx.identity.expert_id is not None  # allowed
        memberships = await review.expert_memberships(ctx.session, ctx.identity.expert_id)
        if not memberships:
            ctx.state.reset("home", flow=self.name)
            ctx.tell("expert.none", buttons=[[self._standing_button(ctx)]])
            return
        if len(memberships) == 1:
            member, committee = memberships[0]
            if member.state == "invited":
                ctx.state.reset("home", flow=self.name)
                ctx.state.member = member.id
                ctx.tell("expert.pending_invitation", committee=committee.code, buttons=[[
                    self.button(ctx.t("expert.accept"), Answer(member.id, "1")),
                    self.button(ctx.t("expert.decline"), Answer(member.id, "0"))]])
                return
            await self.show_list(ctx, member)
            return
        rows = [[self.button(c.code, OpenList(m.id))] for m, c in memberships]
        ctx.state.reset("committees", flow=self.name)
        ctx.tell("expert.choose_committee", buttons=rows)

    def _standing_button(self, ctx: Context) -> Button:
        return self.button(ctx.t("expert.standing"), Standing())

    @on(Answer)
    async def answer_pressed(self, ctx: Context, press: Answer) -> None:
        member = await self._on_screen(ctx, press.member)
        if member is None:
            return
        if press.accept == "1":
            await self.answer(ctx, member, True, None)
        else:
            await self.ask_reason(ctx, member)

    @on(OpenList)
    async def open_list(self, ctx: Context, press: OpenList) -> None:
        if (member := await self._member(ctx, press.member)) is not None:
            await self.show_list(ctx, member)

    @on(OpenSubject)
    async def open_subject(self, ctx: Context, press: OpenSubject) -> None:
        if (member := await self._member(ctx, press.member)) is not None:
            await self.show_subject(ctx, member, press.subject)

    @on(Criterion)
    async def criterion(self, ctx: Context, press: Criterion) -> None:
        member = await self._on_screen(ctx, press.member, press.subject)
        if member is None:
            return
        _, rubric = await self._rubric(ctx, member)
        if rubric.criterion(press.criterion) is None:
            raise Stale(press)  # not a criterion of the committee's rubric
        await self.ask_points(ctx, member, press.subject, press.criterion)

    @on(Points)
    async def points(self, ctx: Context, press: Points) -> None:
        if press.criterion != ctx.state.criterion:
            raise Stale(press)  # the points of another criterion's question
        member = await self._on_screen(ctx, press.member, press.subject)
        if member is not None:
            await self.set_points(ctx, member, press.subject, press.criterion, press.points)

    @on(DeclareConflict)
    async def declare_conflict(self, ctx: Context, press: DeclareConflict) -> None:
        member = await self._on_screen(ctx, press.member, press.subject)
        if member is None:
            return
        if await self._try(ctx, review.declare_conflict(ctx.session, member, press.subject, actor(ctx), ctx.now)):
            committee = await ctx.get(ReviewCommittee, member.committee_id)
            reference = next((a.reference for a in await review.assignments(ctx.session, member)
                              if a.subject.id == press.subject), "")
            assert committee is not None
            await conflict_declared(ctx.session, committee, member, reference, ctx.now)
            ctx.tell("expert.conflict_declared")
            await self.show_list(ctx, member)

    @on(WriteComment)
    async def write_comment(self, ctx: Context, press: WriteComment) -> None:
        member = await self._on_screen(ctx, press.member, press.subject)
        if member is None:
            return
        if member.state != "accepted":
            ctx.tell("expert.error.final")
            return
        ctx.state.reset("comment", flow=self.name)
        ctx.state.member, ctx.state.subject = member.id, press.subject
        ctx.tell("expert.ask_comment", low=COMMENT_MIN)

    @on(SubmitAll)
    async def submit_all(self, ctx: Context, press: SubmitAll) -> None:
        if (member := await self._on_screen(ctx, press.member)) is not None:
            await self.submit(ctx, member)

    @on(Standing)
    async def standing(self, ctx: Context, press: Standing) -> None:
        ctx.state.reset("standing", flow=self.name)
        ctx.tell("expert.ask_standing")

    async def standing_conflict(self, ctx: Context, text: str) -> None:
        """A standing conflict with an organization, named by USCC or part of its name."""
        found = await review.find_organizations(ctx.session, text) if 2 <= len(text) <= 100 else []
        if len(found) != 1:
            ctx.tell("expert.standing_none" if not found else "expert.standing_many", count=len(found))
            return
        org = found[0]
        assert ctx.identity.expert_id is not None
        new = await review.declare_standing_conflict(ctx.session, ctx.identity.expert_id, org.id, actor(ctx), ctx.now)
        ctx.state.clear()
        ctx.tell("expert.standing_done" if new else "expert.standing_again", org=localized(ctx, org.name_zh, org.name_en))

    async def handle(self, ctx: Context, msg: Incoming) -> None:
        """Typed: an organization (standing conflict), a reason to decline, points, a comment."""
        text, step = (msg.text or "").strip(), ctx.state.step
        if step == "standing":
            await self.standing_conflict(ctx, text)
            return
        if step not in ("decline", "points", "comment"):
            await super().handle(ctx, msg)
            return
        member = await self._member(ctx, ctx.state.member)
        if member is None:
            return  # _member said why
        if step == "decline":
            if not REASON_MIN <= len(text) <= REASON_MAX:
                ctx.tell("expert.error.reason", low=REASON_MIN, high=REASON_MAX)
                return
            await self.answer(ctx, member, False, text)
        elif step == "points":
            await self.typed_points(ctx, member, text)
        else:
            if not COMMENT_MIN <= len(text) <= COMMENT_MAX:
                ctx.tell("expert.error.comment", low=COMMENT_MIN, high=COMMENT_MAX)
                return
            subject_id = ctx.state.subject
            if subject_id is None:
                await self.show_list(ctx, member)
            elif await self._try(ctx, review.set_comment(ctx.session, member, subject_id, text, ctx.now)):
                ctx.tell("expert.comment_saved")
                await self.show_subject(ctx, member, subject_id)

    async def reprompt(self, ctx: Context) -> None:
        step, subject, criterion = ctx.state.step, ctx.state.subject, ctx.state.criterion
        if step == "standing":
            ctx.tell("expert.ask_standing")
            return
        if step in ("home", "committees") or ctx.state.member is None:
            await self.start(ctx, None)
            return
        member = await self._member(ctx, ctx.state.member)
        if member is None:
            return  # _member said why
        if step == "decline":
            ctx.tell("expert.ask_reason")
        elif step == "comment":
            ctx.tell("expert.ask_comment", low=COMMENT_MIN)
        elif step == "points" and subject is not None and criterion is not None:
            await self.ask_points(ctx, member, subject, criterion)
        elif step in ("subject", "points") and subject is not None:
            await self.show_subject(ctx, member, subject)
        else:
            await self.show_list(ctx, member)

    async def _on_screen(self, ctx: Context, member_id: int, subject_id: int | None = None) -> ReviewMember | None:
        """The seat a step's own button is about: the one (and the application) on the screen, or the
        press is another screen's."""
        if member_id != ctx.state.member or (subject_id is not None and subject_id != ctx.state.subject):
            raise Stale(member_id)
        return await self._member(ctx, member_id)

    async def _member(self, ctx: Context, member_id: int | None) -> ReviewMember | None:
        """The expert's own seat; anyone else's (a forged id) or one gone is refused."""
        member = None
        if member_id is not None and ctx.identity.expert_id is not None:
            member = await review.member_of(ctx.session, member_id, ctx.identity.expert_id)
        if member is None:
            ctx.state.clear()
            ctx.tell("expert.not_yours")
        return member

    async def _try(self, ctx: Context, action: Any) -> bool:
        """Run a store action; a refusal is told in the expert's words and nothing changes."""
        try:
            await action
        except review.ReviewError as exc:
            ctx.say(ctx.t(f"expert.error.{exc.code}", **{k: str(v) for k, v in exc.params.items()}))
            return False
        return True

    async def _rubric(self, ctx: Context, member: ReviewMember) -> tuple[ReviewCommittee, Rubric]:
        committee = await ctx.get(ReviewCommittee, member.committee_id)
        assert committee is not None
        return committee, rubric_for(committee.stage)

    # -- invitation --------------------------------------------------------------------------
    async def ask_reason(self, ctx: Context, member: ReviewMember) -> None:
        if member.state != "invited":
            ctx.tell("expert.already_answered", state=ctx.t(f"committee.member.{member.state}"))
            ctx.state.clear()
            return
        ctx.state.reset("decline", flow=self.name)
        ctx.state.member = member.id
        ctx.tell("expert.ask_reason")

    async def answer(self, ctx: Context, member: ReviewMember, accept: bool, reason: str | None) -> None:
        committee = await ctx.get(ReviewCommittee, member.committee_id)
        assert committee is not None
        try:
            reserve = await review.answer_invitation(ctx.session, member, accept, reason, actor(ctx), ctx.now)
        except review.ReviewError:
            ctx.state.clear()
            ctx.tell("expert.already_answered", state=ctx.t(f"committee.member.{member.state}"))
            return
        if not accept:
            if reserve is not None:
                await invite_members(ctx.session, committee, [reserve], ctx.now, ctx.settings.review_answer_hours)
            ctx.state.clear()
            ctx.tell("expert.declined")
            return
        ctx.tell("expert.accepted", committee=committee.code)
        await self.show_list(ctx, member)

    # -- the batch ---------------------------------------------------------------------------
    async def show_list(self, ctx: Context, member: ReviewMember) -> None:
        committee, rubric = await self._rubric(ctx, member)
        if member.state not in ("accepted", "submitted"):
            ctx.state.clear()
            ctx.tell("expert.not_accepted")
            return
        assigned = await review.assignments(ctx.session, member)
        lines = [ctx.t("expert.list_title", committee=committee.code, count=len(assigned),
                       rubric=localized(ctx, rubric.title["zh-Hans"], rubric.title.get("en")))]
        rows: list[list[Button]] = []
        done = 0
        for n, a in enumerate(assigned, start=1):
            if a.sheet is not None and a.sheet.conflict:
                status = ctx.t("expert.status.conflict")
                done += 1
            elif a.sheet is not None and a.sheet.total is not None:
                scored = await review.sheet_scores(ctx.session, a.sheet.id)
                complete = not set(rubric.codes) - set(scored)
                done += complete
                status = ctx.t("expert.status.scored" if complete else "expert.status.partial", total=a.sheet.total)
            else:
                status = ctx.t("expert.status.open")
            lines.append(ctx.t("expert.row", n=n, reference=a.reference, title=a.title, status=status))
            if a.sheet is None or not a.sheet.conflict:
                rows.append([self.button(f"{n}. {a.reference}", OpenSubject(member.id, a.subject.id))])
        if member.state == "submitted":
            lines.append(ctx.t("expert.submitted_final"))
        elif done == len(assigned):
            rows.append([self.button(ctx.t("expert.submit"), SubmitAll(member.id))])
        rows.append([self._standing_button(ctx)])
        ctx.state.reset("list", flow=self.name)
        ctx.state.member = member.id
        ctx.say("\n".join(lines), rows[:40])

    async def _subject_lines(self, ctx: Context, committee: ReviewCommittee, subject: ReviewSubject) -> list[str]:
        """The staff view of the application (or closing project) and the organization's past projects."""
        none = ctx.t("common.none")
        if subject.application_id is not None:
            application = await ctx.get(Application, subject.application_id)
            assert application is not None
            content: dict[str, Any] = application.content or {}

            def shown(key: str) -> str:
                value = content.get(key)
                return none if value is None or value == "" else str(value)

            org = await ctx.get(Organization, application.organization_id)
            lines = [
                ctx.t("review.detail_title", reference=application.reference or "",
                      title=application.title or shown("title")),
                ctx.t("review.detail_org", org=localized(ctx, org.name_zh, org.name_en) if org else none,
                      rating=(org.rating if org and org.rating else ctx.t("review.unrated")),
                      uscc=org.uscc if org else none),
                ctx.t("review.detail_need", text=shown("need")),
                ctx.t("review.detail_target", group=shown("target_group"), count=shown("beneficiaries")),
                ctx.t("review.detail_objectives", text=shown("objectives")),
                ctx.t("review.detail_activities", casework=shown("casework"), groups=shown("group_sessions"),
                      events=shown("community_events")),
                ctx.t("review.detail_term", start=ctx.day(application.start_on), end=ctx.day(application.end_on)),
            ]
            stored = await budget_lines(ctx.session, application.id)
            budget = {kind: amount for kind in BUDGET_KINDS if isinstance(amount := stored.get(kind, content.get(kind)), int)}
            money = ctx.amounts([application.total_fen, *budget.values()])  # one unit for the budget and its lines
            lines.append(ctx.t("review.detail_budget", total=money(application.total_fen)))
            lines += [ctx.t("review.detail_line", kind=ctx.t(f"lifecycle.budget.{kind}"), amount=money(amount))
                      for kind, amount in budget.items()]
            lines.append(ctx.t("review.detail_staff", total=shown("staff_total"), social=shown("social_workers")))
            lines.append(ctx.t("review.detail_outcomes", text=shown("outcomes")))
            organization_id = application.organization_id
        else:
            project = await ctx.get(Project, subject.project_id)
            assert project is not None
            lines = [ctx.t("expert.project_title", code=project.code,
                           title=localized(ctx, project.title_zh, project.title_en),
                           amount=ctx.money(project.amount_fen), start=ctx.day(project.start_on),
                           end=ctx.day(project.end_on))]
            organization_id = project.organization_id
        past = [p for p in await org_projects(ctx.session, organization_id) if p.id != subject.project_id][:5]
        lines.append(ctx.t("expert.past_title"))
        if not past:
            lines.append(ctx.t("expert.past_none"))
        for p in past:
            grade = ctx.t(f"expert.grade.{p.grade}") if p.grade else ctx.t("expert.grade.none")
            lines.append(ctx.t("expert.past_row", code=p.code, year=p.year, title=localized(ctx, p.title_zh, p.title_en),
                               grade=grade, score=p.evaluation_score if p.evaluation_score is not None else "—"))
        return lines

    async def show_subject(self, ctx: Context, member: ReviewMember, subject_id: int) -> None:
        committee, rubric = await self._rubric(ctx, member)
        subject = await ctx.get(ReviewSubject, subject_id)
        if subject is None or subject.committee_id != member.committee_id:
            ctx.tell("expert.error.not_assigned")
            await self.show_list(ctx, member)
            return
        sheet = next((a.sheet for a in await review.assignments(ctx.session, member) if a.subject.id == subject_id), None)
        if sheet is not None and sheet.conflict:
            ctx.tell("expert.error.conflict")
            await self.show_list(ctx, member)
            return
        ctx.say("\n".join(await self._subject_lines(ctx, committee, subject)))
        scores = await review.sheet_scores(ctx.session, sheet.id) if sheet is not None else {}
        lines = [ctx.t("expert.scores_title")]
        rows: list[list[Button]] = []
        final = member.state == "submitted"
        for c in rubric.criteria:
            label = c.label.get(ctx.locale) or c.label["zh-Hans"]
            got = scores.get(c.code)
            lines.append(ctx.t("expert.score_row", label=label, points=got if got is not None else "—", max=c.points))
            if not final:
                rows.append([Button(f"{label} ({got if got is not None else '—'}/{c.points})",
                                    Criterion(member.id, subject_id, c.code).pack(self.name))])
        lines.append(ctx.t("expert.total", total=sum(scores.values())))
        if sheet is not None and sheet.comment:
            lines.append(ctx.t("expert.comment_row", comment=sheet.comment))
        elif scores and needs_comment(rubric, scores):
            lines.append(ctx.t("expert.comment_required"))
        if not final:
            rows.append([self.button(ctx.t("expert.write_comment"), WriteComment(member.id, subject_id)),
                         self.button(ctx.t("expert.declare_conflict"), DeclareConflict(member.id, subject_id))])
        rows.append([self.button(ctx.t("expert.back"), OpenList(member.id))])
        ctx.state.reset("subject", flow=self.name)
        ctx.state.member, ctx.state.subject = member.id, subject_id
        ctx.say("\n".join(lines), rows)

    # -- scores ------------------------------------------------------------------------------
    async def ask_points(self, ctx: Context, member: ReviewMember, subject_id: int, code: str) -> None:
        _, rubric = await self._rubric(ctx, member)
        criterion = rubric.criterion(code)
        if criterion is None:  # the presses check it: a state from before the rubric changed
            await self.show_list(ctx, member)
            return
        if member.state != "accepted":
            ctx.tell("expert.error.final")
            return
        top = criterion.points
        choices = sorted({top, round(top * 0.9), round(top * 0.8), round(top * 0.7), round(top * 0.6), 0}, reverse=True)
        rows = [[self.button(str(v), Points(member.id, subject_id, code, v)) for v in choices]]
        ctx.state.reset("points", flow=self.name)
        ctx.state.member, ctx.state.subject, ctx.state.criterion = member.id, subject_id, code
        ctx.tell("expert.ask_points", label=criterion.label.get(ctx.locale) or criterion.label["zh-Hans"], max=top,
                 buttons=rows)

    async def typed_points(self, ctx: Context, member: ReviewMember, text: str) -> None:
        value, subject_id, code = parse_points(text), ctx.state.subject, ctx.state.criterion
        if subject_id is None or code is None:
            await self.show_list(ctx, member)
        elif value is None:
            _, rubric = await self._rubric(ctx, member)
            criterion = rubric.criterion(code)
            ctx.tell("expert.error.not_number", max=criterion.points if criterion else 100)
        else:
            await self.set_points(ctx, member, subject_id, code, value)

    async def set_points(self, ctx: Context, member: ReviewMember, subject_id: int, code: str, value: int) -> None:
        _, rubric = await self._rubric(ctx, member)
        criterion = rubric.criterion(code)
        if criterion is None:  # the presses check it: a state from before the rubric changed
            await self.show_list(ctx, member)
            return
        if not 0 <= value <= criterion.points:
            ctx.tell("expert.error.bounds", max=criterion.points, value=value)
            return
        if await self._try(ctx, review.score(ctx.session, member, subject_id, code, value, ctx.now)):
            await self.show_subject(ctx, member, subject_id)

    async def submit(self, ctx: Context, member: ReviewMember) -> None:
        _, rubric = await self._rubric(ctx, member)
        missing = []
        for a in await review.assignments(ctx.session, member):
            if a.sheet is None or a.sheet.conflict:
                continue
            scores = await review.sheet_scores(ctx.session, a.sheet.id)
            if needs_comment(rubric, scores) and not a.sheet.comment:
                missing.append(a.reference)
        if missing:
            ctx.tell("expert.error.comment_missing", references=", ".join(missing))
            await self.show_list(ctx, member)
            return
        if await self._try(ctx, review.submit(ctx.session, member, rubric.codes, actor(ctx), ctx.now)):
            ctx.tell("expert.submitted")
            ctx.state.clear()
