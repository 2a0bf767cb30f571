"""The form toolkit: a flow that asks fields one by one, validates, and ends on a summary.

In the spirit of Rasa forms: each ``Field`` (``dialogs.fields``) names its prompt, kind, limits and checks;
the ``Form`` asks the next unanswered field, has its kind read what the person typed or pressed, explains
a failure in one message (what is wrong, what is expected), and after two failures offers an example,
skip (when optional) or leaving. A summary lists the answers with one edit button per field, and the
problems the fields' own checks find in them (plus the form's checks across fields); submission waits
until there are none.

Its buttons carry typed payloads (``dialogs.buttons``): an ``Answer`` to the question being asked, and
``Edit``, ``Submit`` and ``Leave``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dialogs.buttons import Payload, Stale, on
from dialogs.context import Context, Parse
from dialogs.fields import (
    DONE,
    EXAMPLE,
    MULTI,
    SKIP,
    SUMMARY_MONEY,
    Choice,
    Field,
    Problem,
    Values,
    scale,
)
from dialogs.flow import Flow
from dialogs.state import State
from dialogs.types import Button, Incoming

FAILS_BEFORE_HELP = 2


@dataclass(frozen=True)
class Answer(Payload, action="a"):
    """An answer pressed: one of the question's options, or skip, example, done."""

    field: str
    value: str

    def current(self, state: State) -> bool:
        return state.step == self.field  # an answer to a question no longer asked is stale


@dataclass(frozen=True)
class Edit(Payload, action="edit", steps=("summary",)):
    field: str


@dataclass(frozen=True)
class Submit(Payload, action="submit", steps=("summary",)):
    pass


@dataclass(frozen=True)
class Leave(Payload, action="leave"):
    """Leave the form (saving the draft where the form keeps drafts), from any of its steps."""


class Form(Flow):
    """Subclasses declare ``fields`` and implement ``begin``, ``store`` and ``submit``; ``can_save``
    shows "save and exit" (the record keeps the answers)."""

    fields: tuple[Field, ...] = ()

    # -- hooks -------------------------------------------------------------------------------
    async def begin(self, ctx: Context, payload: str | None, parse: Parse | None = None) -> bool:
        """Prepare the record (create or resume), from what the opening message named (``parse``) too;
        False when the form cannot start (say why)."""
        return True

    async def store(self, ctx: Context, values: Values) -> None:
        """Persist the answers so far (a draft); called after each accepted answer."""

    async def problems(self, ctx: Context, values: Values) -> list[Problem]:
        """Checks across fields, shown on the summary; submission waits until there are none."""
        return []

    async def submit(self, ctx: Context, values: Values) -> None:
        raise NotImplementedError

    def summary_title(self, ctx: Context, values: Values) -> str:
        return ctx.t("form.summary_title")

    # -- state -------------------------------------------------------------------------------
    def values(self, ctx: Context) -> Values:
        return ctx.state.form.values

    def field(self, name: str | None) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def next_field(self, values: Values, after: str | None = None) -> Field | None:
        started = after is None
        for f in self.fields:
            if not started:
                started = f.name == after
                continue
            if f.applies(values) and f.name not in values:
                return f
        if after is not None:
            return self.next_field(values, None)
        return None

    async def options(self, ctx: Context, f: Field) -> list[Choice]:
        """The field's choices, looked up once per turn (until an answer changes what they depend on)."""
        if f.choices is None:
            return []
        key = ("choices", self.name, f.name)
        found: list[Choice] | None = ctx.memo.get(key)
        if found is None:
            found = ctx.memo[key] = await f.choices(ctx, self.values(ctx))
        return found

    # -- flow --------------------------------------------------------------------------------
    async def start(self, ctx: Context, payload: str | None, parse: Parse | None = None) -> None:
        if not await self.begin(ctx, payload, parse):
            ctx.state.clear()
            return
        await self.advance(ctx, None)

    async def reprompt(self, ctx: Context) -> None:
        current = self.field(ctx.state.step)
        if current is None:
            await self.show_summary(ctx)
        else:
            await self.ask(ctx, current)

    async def advance(self, ctx: Context, after: str | None) -> None:
        values = self.values(ctx)
        editing, ctx.state.form.editing = ctx.state.form.editing, False
        if editing:
            await self.show_summary(ctx)
            return
        nxt = self.next_field(values, after)
        if nxt is None:
            await self.show_summary(ctx)
        else:
            await self.ask(ctx, nxt)

    async def ask(self, ctx: Context, f: Field, problem: Problem | None = None) -> None:
        ctx.state.step = f.name
        values = self.values(ctx)
        lines = []
        if problem is not None:
            lines.append(ctx.t("form.problem", problem=problem.text(ctx)))
        lines.append(ctx.t(f.prompt))
        if f.name in values and problem is None:
            lines.append(ctx.t("form.current_value", value=await self.display(ctx, f, values[f.name])))
        rows = await self.input_buttons(ctx, f)
        fails = ctx.state.form.fails
        leave = self.button(ctx.t("form.leave"), Leave())
        if fails >= FAILS_BEFORE_HELP:
            help_row = []
            if f.example:
                help_row.append(self.button(ctx.t("form.show_example"), Answer(f.name, EXAMPLE)))
            if not f.required:
                help_row.append(self.button(ctx.t("form.skip"), Answer(f.name, SKIP)))
            help_row.append(leave)
            rows.append(help_row)
            lines.append(ctx.t("form.help_offer" if f.example else "form.help_offer_no_example"))
        elif not f.required:
            rows.append([self.button(ctx.t("form.skip"), Answer(f.name, SKIP))])
        if self.can_save and fails < FAILS_BEFORE_HELP:
            rows.append([self.button(ctx.t("form.save_exit"), Leave())])
        ctx.say("\n".join(lines), rows)

    async def input_buttons(self, ctx: Context, f: Field) -> list[list[Button]]:
        """The answers the field's kind offers as buttons."""
        offer = await f.kind.buttons(self, ctx, f)
        return [[self.button(label, Answer(f.name, value)) for label, value in row] for row in offer]

    # -- answers -----------------------------------------------------------------------------
    async def handle(self, ctx: Context, msg: Incoming) -> None:
        """What was typed or sent: the answer to the question asked (the summary wants its buttons)."""
        step = ctx.state.step
        if step == "summary":
            ctx.tell("form.use_buttons")
            await self.show_summary(ctx)
            return
        f = self.field(step)
        if f is None:
            await self.advance(ctx, None)
            return
        await self.take(ctx, f, msg, None)

    @on(Answer)
    async def answered(self, ctx: Context, press: Answer) -> None:
        f = self.field(press.field)
        if f is None:
            raise Stale(press)
        if press.value == EXAMPLE:
            ctx.say(ctx.t("form.example", example=ctx.t(f.example or "form.no_example")))
            await self.ask(ctx, f)
        elif press.value == SKIP:
            if f.required:
                raise Stale(press)
            await self.accept(ctx, f, None)
        elif f.kind is MULTI and press.value != DONE:
            await self.toggle(ctx, f, press.value)
        else:
            await self.take(ctx, f, ctx.incoming, press.value)

    async def take(self, ctx: Context, f: Field, msg: Incoming, pressed: str | None) -> None:
        """Read an answer to ``f`` (typed, or the value of a button pressed): accepted, or asked again
        with the problem."""
        result = await self.parse(ctx, f, msg, pressed)
        if not isinstance(result, Problem):
            result = await self.check(ctx, f, result, self.values(ctx)) or result
        if isinstance(result, Problem):
            ctx.state.form.fails += 1
            await self.ask(ctx, f, result)
            return
        await self.accept(ctx, f, result)

    async def check(self, ctx: Context, f: Field, value: Any, values: Values) -> Problem | None:
        """The field's own checks on an answer: its kind's limits, then its ``check`` across the other answers."""
        problem = await f.kind.check(self, ctx, f, value)
        if problem is None and f.check is not None:
            problem = await f.check(ctx, value, values)
        return problem

    async def accept(self, ctx: Context, f: Field, value: Any) -> None:
        values = self.values(ctx)
        values[f.name] = value
        ctx.memo.clear()  # choices and checks may depend on the answer just given
        for other in self.fields:  # answers that no longer apply are dropped
            if not other.applies(values):
                values.pop(other.name, None)
        ctx.state.form.fails, ctx.state.form.picked = 0, []
        await self.store(ctx, values)
        await self.advance(ctx, f.name)

    async def toggle(self, ctx: Context, f: Field, value: str) -> None:
        if value not in {c.value for c in await self.options(ctx, f)}:
            raise Stale(value)
        picked = ctx.state.form.picked
        if value in picked:
            picked.remove(value)
        else:
            picked.append(value)
        await self.ask(ctx, f)

    @on(Leave)
    async def left(self, ctx: Context, press: Leave) -> None:
        await self.leave(ctx)

    async def leave(self, ctx: Context) -> None:
        """The form's own leave button (a form may lead back somewhere else instead of ending)."""
        ctx.tell("form.saved" if self.can_save else "common.cancelled")
        ctx.state.clear()

    async def quit(self, ctx: Context) -> None:
        await (self.leave(ctx) if self.can_save else super().quit(ctx))

    # -- reading and showing answers ------------------------------------------------------------
    async def parse(self, ctx: Context, f: Field, msg: Incoming, pressed: str | None) -> Any:
        """The answer as kept, or the problem with it: the field's kind reads it."""
        return await f.kind.parse(self, ctx, f, msg, pressed)

    def rating_problem(self, ctx: Context, f: Field) -> Problem:
        """What to say when a rating's answer is not one of its values: the values and the buttons."""
        low, high = scale(f)
        return Problem.of("form.error.rating", low=low, high=high)

    def not_text(self, ctx: Context) -> Problem:
        """A photo, a file or a contact sent where the step wants words: say so, and where photos go."""
        photo_step = next((g for g in self.fields if g.kind.name == "media"), None)
        if photo_step is None:
            return Problem.of("form.error.text_not_media")
        return Problem.of("form.error.text_photo_step", step=ctx.t(photo_step.label))

    async def display(self, ctx: Context, f: Field, value: Any) -> str:
        if value is None:
            return ctx.t("common.none")
        return await f.kind.display(self, ctx, f, value)

    # -- summary -----------------------------------------------------------------------------
    async def summary_problems(self, ctx: Context, values: Values) -> list[Problem]:
        """What stands in the way of submitting: each answer's own checks again (the answers they depend
        on may have changed since, or the world: a call closed, a budget spent), then ``problems``."""
        found = []
        for f in self.fields:
            if f.applies(values) and values.get(f.name) is not None:
                problem = await self.check(ctx, f, values[f.name], values)
                if problem is not None:
                    found.append(problem)
        return [*found, *await self.problems(ctx, values)]

    async def show_summary(self, ctx: Context) -> None:
        ctx.state.step = "summary"
        values = self.values(ctx)
        lines = [self.summary_title(ctx, values)]
        # the summary is one screen: its amounts share one unit
        ctx.memo[SUMMARY_MONEY] = ctx.amounts(values.get(f.name) for f in self.fields if f.kind.name == "money")
        edit_rows: list[list[Button]] = []
        row: list[Button] = []
        for f in self.fields:
            if not f.applies(values):
                continue
            shown = await self.display(ctx, f, values.get(f.name)) if f.name in values else ctx.t("form.missing")
            lines.append(ctx.t("form.summary_line", label=ctx.t(f.label), value=shown))
            if not f.editable:
                continue
            row.append(self.button(ctx.t("form.edit", label=ctx.t(f.label)), Edit(f.name)))
            if len(row) == 2:
                edit_rows.append(row)
                row = []
        if row:
            edit_rows.append(row)
        problems = await self.summary_problems(ctx, values)
        if problems:
            lines.append(ctx.t("form.problems_title"))
            lines.extend(ctx.t("form.problem_line", problem=p.text(ctx)) for p in problems)
        actions = [
            self.button(ctx.t("form.submit"), Submit()),
            self.button(ctx.t("form.save_exit" if self.can_save else "form.leave"), Leave()),
        ]
        ctx.say("\n".join(lines), [*edit_rows, actions])

    @on(Edit)
    async def edit(self, ctx: Context, press: Edit) -> None:
        f = self.field(press.field)
        if f is None or not f.editable or not f.applies(self.values(ctx)):
            raise Stale(press)
        ctx.state.form.editing = True
        await self.ask(ctx, f)

    @on(Submit)
    async def submitted(self, ctx: Context, press: Submit) -> None:
        values = self.values(ctx)
        missing = self.next_field(values, None)
        if missing is not None:
            ctx.tell("form.still_missing", label=ctx.t(missing.label))
            await self.ask(ctx, missing)
            return
        if await self.summary_problems(ctx, values):
            ctx.tell("form.fix_first")
            await self.show_summary(ctx)
            return
        await self.submit(ctx, values)
