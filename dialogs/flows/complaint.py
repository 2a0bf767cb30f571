"""Report a problem with a project (监督投诉): find it by code, by name ("did you mean") or by district,
then kind, description, photo, contact; the department's staff are told, the organization never is."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.distance import LCSseq

from dialogs import voice
from dialogs.buttons import Payload, Stale, on, parse_id
from dialogs.context import Context, Parse
from dialogs.fields import CHOICE, LONG_TEXT, MEDIA, TEXT, Choice, Field, Problem, Values
from dialogs.flow import run_button
from dialogs.forms import Form, Leave
from dialogs.listing import (
    PAGE_SIZE,
    Page,
    clamp_page,
    fill_label,
    localized,
    nav_row,
    page_count,
    page_label,
    shorten,
)
from dialogs.listing import district as district_label
from dialogs.notices import Text, bilingual, queue_notice
from dialogs.types import Button, Incoming
from nlu.normalize import fold, normalize
from store import needs, projects, tickets
from store.models import TICKET_KINDS, Project

DESCRIPTION_MAX = 1000
QUERY_MAX = 60
SUGGESTIONS = 5
SUGGEST_CUTOFF = 50.0
LABEL_LIMIT = 30
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_WORD_RUN = re.compile(r"[a-z0-9][a-z0-9\-_]*")
PROJECT = "project"  # the step that finds the project: typed words, suggestions, districts


@dataclass(frozen=True)
class Pick(Payload, action="pick", steps=(PROJECT,)):
    """The project reported on, from the suggestions or a district's list."""

    project: int


@dataclass(frozen=True)
class Districts(Payload, action="districts", steps=(PROJECT,)):
    """Back to the districts to browse."""


@dataclass(frozen=True)
class District(Payload, action="district", steps=(PROJECT,)):
    """The projects of one district (its Chinese name, as stored)."""

    district: str


@dataclass(frozen=True)
class DistrictPage(Payload, action="page", steps=(PROJECT,)):
    """Another page of the district being browsed (the state keeps which)."""

    page: int


def search_terms(folded: str) -> tuple[list[str], list[str]]:
    """Pieces of a folded query for the SQL prefilter: Chinese character pairs, and Latin/digit words
    (whole and split at hyphens, so a code typed with a slip still shares its parts)."""
    grams: list[str] = []
    for run in _CJK_RUN.findall(folded):
        grams.extend([run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)])
    words: list[str] = []
    for run in _WORD_RUN.findall(folded):
        words.extend(part for part in dict.fromkeys([run, *re.split(r"[-_]", run)]) if len(part) >= 2)
    return list(dict.fromkeys(grams)), list(dict.fromkeys(words))


def title_score(query: str, project: Project) -> float:
    """How well a folded query names a project: the share of its characters found in order in the
    Chinese title, or a token match on the English title, or closeness to the code."""
    title = fold(project.title_zh)
    scores = [LCSseq.similarity(query, title) / len(query) * 100 if query else 0.0,
              fuzz.ratio(query, fold(project.code))]
    if project.title_en:
        scores.append(fuzz.WRatio(query, fold(project.title_en)))
    return max(scores)


def rank_projects(query: str, candidates: Sequence[Project]) -> list[tuple[Project, float]]:
    scored = [(p, title_score(query, p), fuzz.ratio(query, fold(p.title_zh))) for p in candidates]
    scored.sort(key=lambda s: (-s[1], -s[2], s[0].code))
    return [(p, score) for p, score, _ in scored if score >= SUGGEST_CUTOFF]


async def _kinds(ctx: Context, values: Values) -> list[Choice]:
    """An objection (异议) is only about a project under public notice; the other kinds are about any project."""
    project_id = values.get("project")
    project = await ctx.get(Project, project_id) if isinstance(project_id, int) else None
    noticed = project is not None and project.status == "publicized"
    return [Choice(kind, ctx.t(f"complain.kind.{kind}")) for kind in TICKET_KINDS if kind != "objection" or noticed]


async def _no_choices(ctx: Context, values: Values) -> list[Choice]:
    return []  # the project is picked by the search and browse steps of the flow itself


def project_label(ctx: Context, project: Project) -> str:
    return ctx.t("complain.project_label", code=project.code, title=localized(ctx, project.title_zh, project.title_en))


def project_button_label(ctx: Context, project: Project) -> str:
    """The project's code whole and as much of its title as fits a button."""
    template = ctx.t("complain.project_label", code=project.code, title="{title}")
    return fill_label(template, localized(ctx, project.title_zh, project.title_en), LABEL_LIMIT)


class ComplaintFlow(Form):
    name = "complain"
    commands = ("complain",)
    intents = ("complaint",)
    menu_key = "complain.menu"
    menu_order = 60

    fields = (
        Field(PROJECT, CHOICE, "complain.ask.project", "complain.label.project", choices=_no_choices),
        Field("kind", CHOICE, "complain.ask.kind", "complain.label.kind", choices=_kinds),
        Field("description", LONG_TEXT, "complain.ask.description", "complain.label.description",
              max_len=DESCRIPTION_MAX, minimum=5, example="complain.example.description"),
        Field("photo", MEDIA, "complain.ask.photo", "complain.label.photo", required=False),
        Field("contact", TEXT, "complain.ask.contact", "complain.label.contact", required=False,
              max_len=voice.CONTACT_MAX, check=voice.check_contact, example="voice.example.contact"),
    )

    async def begin(self, ctx: Context, payload: str | None, parse: Parse | None = None) -> bool:
        if not await voice.may_start(ctx):
            return False
        ctx.tell("complain.intro")
        project = await self._named_project(ctx, payload, parse)
        if project is not None:
            self.values(ctx)["project"] = project.id
        return True

    async def _named_project(self, ctx: Context, payload: str | None, parse: Parse | None) -> Project | None:
        """The project a link (``p<id>`` or a code) or the opening sentence already names."""
        if payload:
            project_id = parse_id(payload[1:]) if payload.startswith("p") else None
            project = await ctx.get(Project, project_id) if project_id is not None else None
            return project or await projects.project_by_code(ctx.session, normalize(payload))
        for entity in (parse or {}).get("entities") or []:
            if entity.get("entity") == "project" and isinstance(entity.get("value"), str):
                return await projects.project_by_code(ctx.session, entity["value"])
        return None

    # -- picking the project -----------------------------------------------------------------
    async def ask(self, ctx: Context, f: Field, problem: Problem | None = None) -> None:
        if f.name != PROJECT:
            await super().ask(ctx, f, problem)
            return
        ctx.state.step = PROJECT
        lines = [ctx.t("form.problem", problem=problem.text(ctx))] if problem else []
        lines.append(ctx.t("complain.ask.project"))
        ctx.say("\n".join(lines), [*await self._district_rows(ctx), [self._leave(ctx)]])

    async def _district_rows(self, ctx: Context) -> list[list[Button]]:
        names = await needs.known_districts(ctx.session)
        buttons = [self.button(await district_label(ctx, name), District(name)) for name in names]
        return [buttons[i:i + 3] for i in range(0, len(buttons), 3)]

    def _leave(self, ctx: Context) -> Button:
        return self.button(ctx.t("form.leave"), Leave())

    def _project_field(self) -> Field:
        f = self.field(PROJECT)
        assert f is not None
        return f

    async def handle(self, ctx: Context, msg: Incoming) -> None:
        """On the project's step, typed words are looked up (a code, a name); elsewhere the form reads them."""
        if ctx.state.step != PROJECT:
            await super().handle(ctx, msg)
        elif not (msg.text or "").strip():
            await self.ask(ctx, self._project_field(), Problem.of("complain.error.need_name"))
        else:
            await self.search(ctx, self._project_field(), msg.text or "")

    @on(Pick)
    async def pick(self, ctx: Context, press: Pick) -> None:
        if await ctx.get(Project, press.project) is None:
            raise Stale(press)
        ctx.state.browse = None
        await self.accept(ctx, self._project_field(), press.project)

    @on(Districts)
    async def districts(self, ctx: Context, press: Districts) -> None:
        await self.ask(ctx, self._project_field())

    @on(District)
    async def district(self, ctx: Context, press: District) -> None:
        await self.show_district(ctx, press.district, 0)

    @on(DistrictPage)
    async def district_page(self, ctx: Context, press: DistrictPage) -> None:
        if not ctx.state.browse:  # no district is being browsed
            raise Stale(press)
        await self.show_district(ctx, ctx.state.browse, press.page)

    async def search(self, ctx: Context, f: Field, text: str) -> None:
        typed = normalize(text)[:QUERY_MAX]
        exact = await projects.project_by_code(ctx.session, typed)
        if exact is not None:
            await self.accept(ctx, f, exact.id)
            return
        query = fold(typed)
        ranked = await self._similar(ctx, typed, query)
        same_title = [p for p in ranked if query in (fold(p.title_zh), fold(p.title_en or ""))]
        if len(same_title) == 1:
            await self.accept(ctx, f, same_title[0].id)
            return
        if not ranked:
            await self.ask(ctx, f, Problem.of("complain.error.not_found", query=shorten(typed, 30)))
            return
        rows = [[self.button(project_button_label(ctx, p), Pick(p.id))] for p in ranked[:SUGGESTIONS]]
        rows.append([self.button(ctx.t("complain.browse"), Districts()), self._leave(ctx)])
        ctx.say(ctx.t("complain.did_you_mean", query=shorten(typed, 30)), rows)

    async def _similar(self, ctx: Context, typed: str, query: str) -> list[Project]:
        """Projects whose name or code resembles the query, best first: from the NLU's name index
        when the engine has one, else a SQL prefilter on title pieces ranked with rapidfuzz."""
        if ctx.understand is not None:
            codes = [value for value, _, _ in ctx.understand.suggest("project", typed, SUGGESTIONS)]
            found = await projects.projects_by_codes(ctx.session, codes) if codes else []
            if found:
                return found
        grams, words = search_terms(query)
        candidates = await tickets.project_candidates(ctx.session, grams, words)
        return [p for p, _ in rank_projects(query, candidates)]

    async def show_district(self, ctx: Context, district: str, number: int) -> None:
        if district not in await needs.known_districts(ctx.session):
            raise Stale(district)
        items, total = await tickets.district_projects(ctx.session, district, number * PAGE_SIZE, PAGE_SIZE)
        if not items and total:
            number = clamp_page(number, total)
            items, total = await tickets.district_projects(ctx.session, district, number * PAGE_SIZE, PAGE_SIZE)
        if not items:
            problem = Problem.of("complain.error.district_empty", district=await district_label(ctx, district))
            await self.ask(ctx, self._project_field(), problem)
            return
        ctx.state.browse = district
        page: Page[Project] = Page(items, number, page_count(total), total, number * PAGE_SIZE)
        lines = [ctx.t("complain.district_projects", district=await district_label(ctx, district), total=total)]
        rows = [[self.button(project_button_label(ctx, p), Pick(p.id))] for p in items]
        if page.pages > 1:
            lines.append(page_label(ctx, page))
            rows.append(nav_row(ctx, self.name, DistrictPage, page))
        rows.append([self.button(ctx.t("complain.other_district"), Districts()), self._leave(ctx)])
        ctx.say("\n".join(lines), rows)

    async def display(self, ctx: Context, f: Field, value: Any) -> str:
        if f.name == PROJECT:
            project = await ctx.get(Project, int(value))
            return project_label(ctx, project) if project else ctx.t("form.missing")
        if f.name == "contact" and value:
            return voice.show_contact(ctx, voice.normalize_contact(value))
        return await super().display(ctx, f, value)

    # -- filing ------------------------------------------------------------------------------
    def summary_title(self, ctx: Context, values: Values) -> str:
        return ctx.t("complain.summary_title")

    async def submit(self, ctx: Context, values: Values) -> None:
        project = await ctx.get(Project, int(values["project"]))
        if project is None:
            ctx.state.clear()
            ctx.tell("complain.project_gone")
            return
        content = {"project": project.id, "kind": values["kind"], "description": values["description"]}
        if not await voice.admit(ctx, "complaint", content):
            ctx.state.clear()
            return
        photo = values.get("photo")
        ticket = await tickets.create_ticket(
            ctx.session, project_id=project.id, kind=values["kind"], description=values["description"],
            media_path=photo["path"] if photo else None,
            contact=voice.normalize_contact(values["contact"]) if values.get("contact") else None,
            reporter_identity_id=ctx.identity.id, now=ctx.now, year=ctx.today.year,
        )
        title = bilingual(project.title_zh, project.title_en)
        for staff_id in await tickets.department_staff(ctx.session, project.department_id, ctx.settings.admins):
            await queue_notice(
                ctx.session, staff_id, "complain.notice_staff", f"ticket:{ticket.id}:new:{staff_id}", ctx.now,
                buttons=[[("tickets.open", run_button("tickets", f"t{ticket.id}"))]],
                reference=ticket.reference, code=project.code, title=title, problem=Text(f"complain.kind.{ticket.kind}"),
            )
        ctx.state.clear()
        key = "complain.submitted_org" if ctx.identity.role == "org" else "complain.submitted"
        ctx.tell(key, reference=ticket.reference)
