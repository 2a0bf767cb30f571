"""Answering a satisfaction survey from a single-use invitation (``/start s…``), anonymously.

While the person answers, the conversation state holds the invitation's id (never the token) and
the answers so far. Submitting stores the response with no identity, no token and only a date,
marks the invitation used with a date, and clears the state: afterwards nothing in the database
joins the person to what they answered.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from dialogs.buttons import Stale, on
from dialogs.context import Context, Parse
from dialogs.fields import CHOICE, INTEGER, LONG_TEXT, RATING, SKIP, Choice, Choices, Field, Problem
from dialogs.fields import MULTI as MULTI_FIELD
from dialogs.flow import Flow, label_key
from dialogs.forms import FAILS_BEFORE_HELP, Answer, Edit, Form, Leave, Submit
from dialogs.listing import localized
from dialogs.surveys.templates import Item, Template, get_template, scale5_label, text
from dialogs.types import Button, Incoming
from store import surveys
from store.models import Project

BACK = "~back"
# Field.label is a catalog key the toolkit may show; a survey's own texts come from its template.
QUESTION_KEY = "survey.required_question"
_FIELD_KINDS = {
    surveys.SCALE5: RATING, surveys.SCALE10: RATING, surveys.SINGLE: CHOICE, surveys.MULTI: MULTI_FIELD,
    surveys.TEXT: LONG_TEXT, surveys.NUMBER: INTEGER,
}


class SurveyForm(Form):
    """The questions of one template, one per message, with back and skip; ends on a summary."""

    name = "survey"

    def __init__(self, template: Template) -> None:
        self.template = template
        self.fields = tuple(self._field(item) for item in template.items)

    def _field(self, item: Item) -> Field:
        bounds = {surveys.SCALE5: (1, 5), surveys.SCALE10: (0, 10), surveys.NUMBER: (item.minimum, item.maximum)}
        minimum, maximum = bounds.get(item.kind, (None, None))
        condition = item.when
        return Field(
            item.code, _FIELD_KINDS[item.kind], QUESTION_KEY, QUESTION_KEY, required=item.required,
            max_len=item.max_len, minimum=minimum, maximum=maximum,
            choices=self._choices(item) if item.choices else None,
            skip_if=(lambda values: not condition.holds(values)) if condition is not None else None,
        )

    @staticmethod
    def _choices(item: Item) -> Choices:
        async def choices(ctx: Context, values: dict[str, Any]) -> list[Choice]:
            return [Choice(c.code, text(c.label, ctx.locale)) for c in item.choices]

        return choices

    def _item(self, name: str) -> Item:
        found = self.template.item(name)
        assert found is not None, name
        return found

    def visible(self, ctx: Context) -> list[Field]:
        values = self.values(ctx)
        return [f for f in self.fields if f.applies(values)]

    def previous(self, ctx: Context, name: str) -> Field | None:
        shown = self.visible(ctx)
        names = [f.name for f in shown]
        at = names.index(name) if name in names else 0
        return shown[at - 1] if at > 0 else None

    # -- asking ------------------------------------------------------------------------------
    async def ask(self, ctx: Context, f: Field, problem: Problem | None = None) -> None:
        ctx.state.step = f.name
        item = self._item(f.name)
        values = self.values(ctx)
        shown = self.visible(ctx)
        lines = []
        if problem is not None:
            lines.append(ctx.t("form.problem", problem=problem.text(ctx)))
        position = next((n for n, g in enumerate(shown, start=1) if g.name == f.name), 1)
        lines.append(ctx.t("survey.progress", n=position, total=len(shown)))
        lines.append(text(item.question, ctx.locale))
        if item.kind == surveys.SCALE10 and self.template.scale10 is not None:
            low, high = self.template.scale10
            lines.append(ctx.t("survey.scale10_hint", low=text(low, ctx.locale), high=text(high, ctx.locale)))
        if f.name in values and problem is None:
            lines.append(ctx.t("survey.current", value=await self.display(ctx, f, values[f.name])))
        rows = await self.input_buttons(ctx, f)
        nav = []
        if self.previous(ctx, f.name) is not None:
            nav.append(self.button(ctx.t("survey.back"), Answer(f.name, BACK)))
        if not f.required:
            nav.append(self.button(ctx.t("survey.skip"), Answer(f.name, SKIP)))
        if ctx.state.form.fails >= FAILS_BEFORE_HELP:
            nav.append(self.button(ctx.t("form.leave"), Leave()))
        if nav:
            rows.append(nav)
        ctx.say("\n".join(lines), rows)

    async def input_buttons(self, ctx: Context, f: Field) -> list[list[Button]]:
        item = self._item(f.name)
        if item.kind == surveys.SCALE5:
            return [
                [self.button(f"{score} {scale5_label(self.template, score, ctx.locale)}", Answer(f.name, str(score)))]
                for score in range(5, 0, -1)
            ]
        if item.kind == surveys.SCALE10:
            return [
                [self.button(str(v), Answer(f.name, str(v))) for v in values]
                for values in (range(0, 6), range(6, 11))
            ]
        return await super().input_buttons(ctx, f)

    async def parse(self, ctx: Context, f: Field, msg: Incoming, pressed: str | None) -> Any:
        item = self._item(f.name)
        if item.kind == surveys.SCALE5 and pressed is None and msg.text:
            typed = label_key(msg.text)
            for score in range(1, 6):  # "满意" (or "5 非常满意") typed instead of pressed
                label = scale5_label(self.template, score, ctx.locale)
                if typed in (label_key(label), label_key(f"{score} {label}")):
                    return score
        return await super().parse(ctx, f, msg, pressed)

    def rating_problem(self, ctx: Context, f: Field) -> Problem:
        item = self._item(f.name)
        if item.kind == surveys.SCALE5:
            return Problem.of("survey.error.scale5", worst=scale5_label(self.template, 1, ctx.locale),
                              best=scale5_label(self.template, 5, ctx.locale))
        if item.kind == surveys.SCALE10 and self.template.scale10 is not None:
            low, high = self.template.scale10
            return Problem.of("survey.error.scale10", low=text(low, ctx.locale), high=text(high, ctx.locale))
        return super().rating_problem(ctx, f)

    async def display(self, ctx: Context, f: Field, value: Any) -> str:
        if value is None:
            return ctx.t("survey.skipped")
        if self._item(f.name).kind == surveys.SCALE5:
            return f"{value} {scale5_label(self.template, int(value), ctx.locale)}"
        return await super().display(ctx, f, value)

    # -- moving ------------------------------------------------------------------------------
    @on(Answer)
    async def answered(self, ctx: Context, press: Answer) -> None:
        if press.value != BACK:
            await super().answered(ctx, press)
            return
        ctx.state.form.fails, ctx.state.form.picked = 0, []
        target = self.previous(ctx, press.field) or self.field(press.field)
        if target is not None:
            await self.ask(ctx, target)

    async def advance(self, ctx: Context, after: str | None) -> None:
        # After going back or editing from the summary, go on with the first unanswered question
        # (or the summary when there is none), so a changed answer that opens a follow-up asks it.
        ctx.state.form.editing = False
        nxt = self.next_field(self.values(ctx), after)
        if nxt is None:
            await self.show_summary(ctx)
        else:
            await self.ask(ctx, nxt)

    async def show_summary(self, ctx: Context) -> None:
        ctx.state.step = "summary"
        values = self.values(ctx)
        lines = [ctx.t("survey.summary_title")]
        edit_rows: list[list[Button]] = []
        for f in self.visible(ctx):
            label = text(self._item(f.name).label, ctx.locale)
            shown = await self.display(ctx, f, values.get(f.name))
            lines.append(ctx.t("form.summary_line", label=label, value=shown))
            button = self.button(ctx.t("form.edit", label=label), Edit(f.name))
            if edit_rows and len(edit_rows[-1]) < 2:
                edit_rows[-1].append(button)
            else:
                edit_rows.append([button])
        actions = [
            self.button(ctx.t("form.submit"), Submit()),
            self.button(ctx.t("form.leave"), Leave()),
        ]
        ctx.say("\n".join(lines), [*edit_rows, actions])

    # -- ending ------------------------------------------------------------------------------
    async def submit(self, ctx: Context, values: dict[str, Any]) -> None:
        answers = {f.name: values[f.name] for f in self.visible(ctx) if values.get(f.name) is not None}
        invitation = ctx.state.invitation or 0
        problem = await surveys.submit_response(ctx.session, invitation, answers, ctx.now, ctx.today)
        ctx.state.clear()  # the answers and the invitation id leave the conversation row now
        ctx.tell("survey.submitted" if problem is None else f"survey.problem_{problem}")

    async def leave(self, ctx: Context) -> None:
        ctx.state.clear()
        ctx.tell("survey.left")


class SurveyFlow(Flow):
    """Routes ``/start s…`` links and every later answer to the form of the survey's template."""

    name = "survey"
    start_prefix = surveys.TOKEN_PREFIX

    def __init__(self) -> None:
        self._forms: dict[str, SurveyForm] = {}

    def form(self, code: str) -> SurveyForm | None:
        template = get_template(code)
        if template is None:
            return None
        form = self._forms.get(code)
        if form is None or form.template is not template:
            form = self._forms[code] = SurveyForm(template)
        return form

    async def start(self, ctx: Context, payload: str | None, parse: Parse | None = None) -> None:
        found = await surveys.redeem(ctx.session, payload or "", ctx.now)
        if found.problem is not None or found.survey is None or found.invitation_id is None:
            ctx.state.clear()
            ctx.tell(f"survey.problem_{found.problem or 'unknown'}")
            return
        form = self.form(found.survey.template)
        project = await ctx.get(Project, found.survey.project_id)
        if form is None or project is None:
            ctx.state.clear()
            ctx.tell("survey.unavailable")
            return
        if ctx.state.invitation == found.invitation_id and ctx.state.form.values:
            await self.reprompt(ctx)  # the same link again mid-survey: carry on where they were
            return
        ctx.state.reset(ctx.state.step)
        ctx.state.invitation = found.invitation_id
        ctx.state.template = form.template.code
        ctx.say("\n".join([
            ctx.t("survey.intro", project=localized(ctx, project.title_zh, project.title_en),
                  title=text(form.template.title, ctx.locale), count=len(form.visible(ctx))),
            ctx.t("survey.anonymity"),
        ]))
        await form.advance(ctx, None)

    async def _active(self, ctx: Context) -> SurveyForm | None:
        """The form to continue with, after checking the invitation is still good (it may have closed)."""
        found = await surveys.check_invitation(ctx.session, ctx.state.invitation or 0, ctx.now)
        if found.problem is not None:
            ctx.state.clear()
            ctx.tell(f"survey.problem_{found.problem}")
            return None
        form = self.form(ctx.state.template or "")
        if form is None:
            ctx.state.clear()
            ctx.tell("survey.unavailable")
        return form

    async def handle(self, ctx: Context, msg: Incoming) -> None:
        form = await self._active(ctx)
        if form is not None:
            await form.handle(ctx, msg)

    def press(self, ctx: Context, data: str) -> Awaitable[None]:
        return self._pressed(ctx, data)

    async def _pressed(self, ctx: Context, data: str) -> None:
        """A press goes to the form's own table, once the invitation is known to be still good."""
        form = await self._active(ctx)
        if form is None:
            return
        pressed = form.press(ctx, data)
        if pressed is None:
            raise Stale(data)
        await pressed

    async def reprompt(self, ctx: Context) -> None:
        form = await self._active(ctx)
        if form is not None:
            await form.reprompt(ctx)

    async def quit(self, ctx: Context) -> None:
        form = self.form(ctx.state.template or "")
        await (form.leave(ctx) if form is not None else super().quit(ctx))
