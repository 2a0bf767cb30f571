"""/surveys: staff open a project's satisfaction survey, make invitations and read the results.

Staff see their own department's projects (admins every project). The department is checked on
every turn, so a forged or stale button cannot reach another department's project. Free-text
answers are shown here, to staff, and nowhere public.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from dialogs.buttons import Payload, Stale, on
from dialogs.context import Context, Parse
from dialogs.flow import Flow
from dialogs.listing import fill_label, localized, nav_row, page_label, page_of
from dialogs.surveys import cards, report
from dialogs.surveys.templates import STANDARD, Template, get_template
from dialogs.types import Attachment, Button, Incoming
from nlu.dates import parse_date
from nlu.numbers import parse_int
from store import projects, surveys
from store.audit import record
from store.models import Project

CLOSE_IN_DAYS = (14, 30, 60)
COUNT_CHOICES = (5, 10, 20, 50)
MAX_CHAT_INVITATIONS = 200
QR_IMAGES_MAX = 5  # more than this and the printable sheet is the better way
LINKS_PER_MESSAGE = 40  # a chat message holds about 4,000 characters
SUGGESTIONS_SHOWN = 30
LABEL_LIMIT = 40


@dataclass(frozen=True)
class ListPage(Payload, action="list"):
    page: int = 0


@dataclass(frozen=True)
class OpenProject(Payload, action="open"):
    project: int


@dataclass(frozen=True)
class NewSurvey(Payload, action="new", steps=("project",)):
    project: int


@dataclass(frozen=True)
class CloseIn(Payload, action="close", steps=("close",)):
    """The survey closes ``days`` from today."""

    project: int
    days: int


@dataclass(frozen=True)
class Invitations(Payload, action="invite", steps=("project",)):
    project: int


@dataclass(frozen=True)
class Count(Payload, action="count", steps=("count",)):
    """Make ``count`` invitations."""

    project: int
    count: int


@dataclass(frozen=True)
class Results(Payload, action="results"):
    project: int


def actor(ctx: Context) -> str:
    return f"identity:{ctx.identity.id}"


def closes_at_end_of(day: date, ctx: Context) -> datetime:
    """A survey closing "on" a day stays open until that local day ends."""
    return datetime.combine(day + timedelta(days=1), time(), ctx.settings.zone)


def closing_text(ctx: Context, closes_at: datetime) -> str:
    """A survey's closing as its last local day (as results and invitations say it), or the moment
    when it closes during a day."""
    if closes_at.astimezone(ctx.settings.zone).time() == time():
        return ctx.day(surveys.last_open_day(closes_at, ctx.settings.zone))
    return ctx.moment(closes_at)


def template_of(code: str) -> Template:
    template = get_template(code) or get_template(STANDARD)
    assert template is not None
    return template


class SurveyStaffFlow(Flow):
    name = "surveys"
    commands = ("surveys",)
    roles = frozenset({"staff"})
    menu_key = "survey.staff.menu"
    menu_order = 50
    use_buttons_key = "survey.staff.use_buttons"

    # -- routing -----------------------------------------------------------------------------
    async def start(self, ctx: Context, payload: str | None, parse: Parse | None = None) -> None:
        if payload:
            project = await projects.project_by_code(ctx.session, payload)
            if project is not None and ctx.staff_of(project.department_id):
                await self.show_project(ctx, project)
                return
            ctx.tell("survey.staff.not_found", code=payload[:LABEL_LIMIT])
        await self.show_list(ctx, 0)

    @on(ListPage)
    async def list_page(self, ctx: Context, press: ListPage) -> None:
        await self.show_list(ctx, press.page)

    @on(OpenProject)
    async def open_project(self, ctx: Context, press: OpenProject) -> None:
        if (project := await self._project(ctx, press.project)) is not None:
            await self.show_project(ctx, project)

    @on(NewSurvey)
    async def new_survey(self, ctx: Context, press: NewSurvey) -> None:
        if (project := await self._shown_project(ctx, press.project)) is not None:
            if await surveys.open_survey_of(ctx.session, project.id, ctx.now) is not None:
                raise Stale(press)  # a button from before the survey was opened
            await self.ask_close(ctx, project)

    @on(CloseIn)
    async def close_in(self, ctx: Context, press: CloseIn) -> None:
        if press.days not in CLOSE_IN_DAYS:
            raise Stale(press)  # not one of the buttons (a forged number of days could overflow the calendar)
        if (project := await self._shown_project(ctx, press.project)) is not None:
            await self.open_survey(ctx, project, ctx.today + timedelta(days=press.days))

    @on(Invitations)
    async def invitations(self, ctx: Context, press: Invitations) -> None:
        if (project := await self._shown_project(ctx, press.project)) is not None:
            if await surveys.open_survey_of(ctx.session, project.id, ctx.now) is None:
                raise Stale(press)  # a button from while the survey was open
            await self.ask_count(ctx, project)

    @on(Count)
    async def count(self, ctx: Context, press: Count) -> None:
        if (project := await self._shown_project(ctx, press.project)) is not None:
            await self.make_invitations(ctx, project, press.count)

    @on(Results)
    async def results(self, ctx: Context, press: Results) -> None:
        if (project := await self._project(ctx, press.project)) is not None:
            await self.show_results(ctx, project)

    async def handle(self, ctx: Context, msg: Incoming) -> None:
        """Typed: a project's code on the list, a closing day, a number of invitations."""
        typed, step = (msg.text or "").strip(), ctx.state.step
        if step == "list" and typed:
            found = await projects.project_by_code(ctx.session, typed[:LABEL_LIMIT])
            if found is not None and ctx.staff_of(found.department_id):
                await self.show_project(ctx, found)
            else:
                ctx.tell("survey.staff.not_found", code=typed[:LABEL_LIMIT])
                await self.show_list(ctx, ctx.state.page or 0)
            return
        project = await self._project(ctx, ctx.state.project)
        if project is None:
            return  # _project said so and showed the list
        if step == "close":
            day = parse_date(typed, ctx.today, prefer="future")
            if day is None or day <= ctx.today:
                ctx.tell("survey.staff.bad_close")
                await self.ask_close(ctx, project)
            else:
                await self.open_survey(ctx, project, day)
        elif step == "count":
            count = parse_int(typed)
            if count is None or not 1 <= count <= MAX_CHAT_INVITATIONS:
                ctx.tell("survey.staff.bad_count", max=MAX_CHAT_INVITATIONS)
                await self.ask_count(ctx, project)
            else:
                await self.make_invitations(ctx, project, count)
        else:
            await super().handle(ctx, msg)

    async def reprompt(self, ctx: Context) -> None:
        step = ctx.state.step
        if step == "list":
            await self.show_list(ctx, ctx.state.page or 0)
        elif (project := await self._project(ctx, ctx.state.project)) is None:
            return  # _project said so and showed the list
        elif step == "close":
            await self.ask_close(ctx, project)
        elif step == "count":
            await self.ask_count(ctx, project)
        else:
            await self.show_project(ctx, project)

    async def _project(self, ctx: Context, project_id: int | None) -> Project | None:
        """The project, when it is one of this person's department's; else they are told so and see the list."""
        project = await ctx.get(Project, project_id) if project_id is not None else None
        if project is None or not ctx.staff_of(project.department_id):
            ctx.tell("survey.staff.not_found", code="")
            await self.show_list(ctx, 0)
            return None
        return project

    async def _shown_project(self, ctx: Context, project_id: int) -> Project | None:
        """The project a step's press is about: the one on the screen, or the press is another screen's."""
        if project_id != ctx.state.project:
            raise Stale(project_id)
        return await self._project(ctx, project_id)

    def _back(self, ctx: Context, project: Project) -> list[Button]:
        return [self.button(ctx.t("survey.staff.button_project"), OpenProject(project.id))]

    # -- screens -----------------------------------------------------------------------------
    async def show_list(self, ctx: Context, number: int) -> None:
        department = None if ctx.is_admin else ctx.identity.department_id
        found = await surveys.staff_projects(ctx.session, department)
        if not found:
            ctx.state.clear()
            ctx.tell("survey.staff.no_projects")
            return
        page = page_of(found, number)
        ctx.state.reset("list")
        ctx.state.page = page.number
        rows = [
            [self.button(fill_label(f"{p.code} {{title}}", localized(ctx, p.title_zh, p.title_en), LABEL_LIMIT),
                         OpenProject(p.id))]
            for p in page.items
        ]
        if nav := nav_row(ctx, self.name, ListPage, page):
            rows.append(nav)
        ctx.say(f"{ctx.t('survey.staff.pick_project')}\n{page_label(ctx, page)}", rows)

    async def show_project(self, ctx: Context, project: Project) -> None:
        ctx.state.reset("project")
        ctx.state.project = project.id
        lines = [ctx.t("survey.staff.project_title", code=project.code, title=localized(ctx, project.title_zh, project.title_en))]
        current = await surveys.open_survey_of(ctx.session, project.id, ctx.now)
        latest = await surveys.latest_survey(ctx.session, project.id, ctx.now, zone=ctx.settings.zone)
        if current is not None:
            ref = await surveys.find_survey(ctx.session, project.id, current.id, ctx.settings.zone)
            results = await surveys.survey_results(ctx.session, ref, ctx.now) if ref else None
            lines.append(ctx.t("survey.staff.survey_open", closes=closing_text(ctx, current.closes_at),
                               invitations=results.invitations if results else 0,
                               responses=results.responses if results else 0))
        elif latest is not None:
            results = await surveys.survey_results(ctx.session, latest, ctx.now, template_of(latest.template).kinds)
            lines.append(ctx.t("survey.staff.survey_last", period=report.period(results, ctx.locale),
                               valid=results.valid_responses))
        else:
            lines.append(ctx.t("survey.staff.no_survey"))
        rows = []
        if current is not None:
            rows.append([self.button(ctx.t("survey.staff.button_invite"), Invitations(project.id))])
        else:
            rows.append([self.button(ctx.t("survey.staff.button_new"), NewSurvey(project.id))])
        if latest is not None:
            rows.append([self.button(ctx.t("survey.staff.button_results"), Results(project.id))])
        rows.append([self.button(ctx.t("survey.staff.button_list"), ListPage())])
        ctx.say("\n".join(lines), rows)

    async def ask_close(self, ctx: Context, project: Project) -> None:
        ctx.state.step = "close"
        rows = [[self.button(ctx.t("survey.staff.close_in", days=days), CloseIn(project.id, days))
                 for days in CLOSE_IN_DAYS], self._back(ctx, project)]
        ctx.tell("survey.staff.ask_close", buttons=rows)

    async def open_survey(self, ctx: Context, project: Project, last_day: date) -> None:
        closes_at = closes_at_end_of(last_day, ctx)
        try:
            survey = await surveys.open_survey(ctx.session, project.id, ctx.now, closes_at)
        except surveys.SurveyError:
            current = await surveys.open_survey_of(ctx.session, project.id, ctx.now)
            if current is not None:
                ctx.tell("survey.staff.already_open", closes=closing_text(ctx, current.closes_at))
            await self.show_project(ctx, project)
            return
        await record(ctx.session, ctx.now, actor(ctx), "survey.open", "survey", str(survey.id),
                     project=project.code, closes_at=closes_at.isoformat())
        ctx.tell("survey.staff.opened", closes=closing_text(ctx, closes_at))
        await self.show_project(ctx, project)

    async def ask_count(self, ctx: Context, project: Project) -> None:
        ctx.state.step = "count"
        rows = [[self.button(str(n), Count(project.id, n)) for n in COUNT_CHOICES], self._back(ctx, project)]
        ctx.tell("survey.staff.ask_count", buttons=rows, max=MAX_CHAT_INVITATIONS)

    async def make_invitations(self, ctx: Context, project: Project, count: int) -> None:
        if not 1 <= count <= MAX_CHAT_INVITATIONS:
            ctx.tell("survey.staff.bad_count", max=MAX_CHAT_INVITATIONS)
            await self.ask_count(ctx, project)
            return
        survey = await surveys.open_survey_of(ctx.session, project.id, ctx.now)
        if survey is None:
            ctx.tell("survey.staff.need_open")
            await self.show_project(ctx, project)
            return
        issued = await surveys.create_invitations(ctx.session, survey, count, ctx.now)
        await record(ctx.session, ctx.now, actor(ctx), "survey.invite", "survey", str(survey.id),
                     project=project.code, count=count)
        ctx.state.step = "project"
        closes = closing_text(ctx, survey.closes_at)
        ctx.tell("survey.staff.invitations_made", count=count, closes=closes)
        username = ctx.settings.bot_username
        if not username and not ctx.settings.web_url:
            ctx.tell("survey.staff.no_username")
            self._say_lines(ctx, [f"/start {i.token}" for i in issued])
            ctx.say(ctx.t("survey.staff.use_buttons"), [self._back(ctx, project)])
            return
        links = [cards.invitation_link(ctx.settings.web_url, username, i.token) or "" for i in issued]
        self._say_lines(ctx, links)
        if count <= QR_IMAGES_MAX:
            for n, link in enumerate(links, start=1):
                image = Attachment(f"invitation-{n}.png", cards.qr_png(link), "image/png")
                ctx.say(ctx.t("survey.staff.qr_caption", n=n), image=image)
        name = localized(ctx, project.title_zh, project.title_en)
        sheet = Attachment(f"{project.code}-invitations.pdf", cards.sheet_pdf(links, name, closes, ctx.locale),
                           "application/pdf")
        ctx.say(ctx.t("survey.staff.sheet_caption"), [self._back(ctx, project)], document=sheet)

    def _say_lines(self, ctx: Context, lines: list[str]) -> None:
        for start in range(0, len(lines), LINKS_PER_MESSAGE):
            ctx.say("\n".join(lines[start:start + LINKS_PER_MESSAGE]))

    async def show_results(self, ctx: Context, project: Project) -> None:
        ref = await surveys.latest_survey(ctx.session, project.id, ctx.now, zone=ctx.settings.zone)
        if ref is None:
            ctx.tell("survey.staff.no_survey")
            await self.show_project(ctx, project)
            return
        template = template_of(ref.template)
        results = await surveys.survey_results(ctx.session, ref, ctx.now, template.kinds)
        name = localized(ctx, project.title_zh, project.title_en)
        lines = report.figure_lines(results, template, ctx.locale, name)
        lines += report.warning_lines(results, ctx.settings.disclosure_min_responses, ctx.locale)
        ctx.say("\n".join(lines))
        if results.valid_responses:
            chart = Attachment("satisfaction.png", report.chart_png(results, template, ctx.locale, name), "image/png")
            ctx.say(ctx.t("survey.staff.chart_caption"), image=chart)
        answers = await surveys.free_text(ctx.session, ref, template.free_text_items, limit=SUGGESTIONS_SHOWN)
        total = await surveys.count_free_text(ctx.session, ref, template.free_text_items) if answers else 0
        suggestions = report.suggestion_lines(template, answers, total, ctx.locale)
        ctx.state.reset("project")  # results may be pressed from another project's screen
        ctx.state.project = project.id
        ctx.say("\n".join(suggestions) or ctx.t("survey.staff.use_buttons"), [self._back(ctx, project)])
