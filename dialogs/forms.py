"""The form toolkit: a flow that asks fields one by one, validates, and ends on a summary.

In the spirit of Rasa forms: each ``Field`` names its prompt, input kind, limits and checks; the
``Form`` asks the next unanswered field, parses what the person typed or pressed with the shared
parsers of ``nlu``, explains a failure in one message (what is wrong, what is expected), and after
two failures offers an example, skip (when optional) or leaving. A summary lists the answers with
one edit button per field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from dialogs.context import Context, Parse
from dialogs.flow import Flow, button_data, split_button
from dialogs.types import Button, Incoming
from nlu.dates import Prefer, parse_date, parse_date_range
from nlu.normalize import TextTooLong, clean_text, fold
from nlu.numbers import parse_int, parse_int_range, parse_money_fen

TEXT, LONG_TEXT, INTEGER, MONEY, DATE, DATE_RANGE = "text", "long_text", "integer", "money", "date", "date_range"
CHOICE, MULTI, RATING, YES_NO, MEDIA = "choice", "multi", "rating", "yes_no", "media"

SKIP, EXAMPLE, LEAVE, DONE = "~skip", "~example", "~leave", "~done"
FAILS_BEFORE_HELP = 2
OPTIONS_NAMED = 8  # an answer that is no option is told the options, up to this many
SUMMARY_MONEY = "forms.summary_money"  # the memo key of the money formatter of the summary being shown

YES_WORDS = frozenset({"是", "是的", "对", "好", "好的", "可以", "要", "y", "yes", "yeah", "ok", "确认", "同意", "1"})
NO_WORDS = frozenset({"否", "不", "不是", "不要", "没有", "n", "no", "nope", "不同意", "0"})


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class Problem:
    """Why an answer was not taken: a catalog key and its values."""

    key: str
    values: tuple[tuple[str, object], ...] = ()

    @classmethod
    def of(cls, key: str, **values: object) -> Problem:
        return cls(key, tuple(values.items()))

    def text(self, ctx: Context) -> str:
        return ctx.t(self.key, **dict(self.values))


Values = dict[str, Any]
Check = Callable[[Context, Any, Values], Awaitable[Problem | None]]
Choices = Callable[[Context, Values], Awaitable[list[Choice]]]


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    prompt: str
    label: str
    required: bool = True
    max_len: int = 200
    minimum: int | None = None
    maximum: int | None = None
    choices: Choices | None = None
    check: Check | None = None
    skip_if: Callable[[Values], bool] | None = None
    example: str | None = None
    prefer: Prefer = "future"
    editable: bool = True

    def applies(self, values: Values) -> bool:
        return self.skip_if is None or not self.skip_if(values)


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
        if fails >= FAILS_BEFORE_HELP:
            help_row = []
            if f.example:
                help_row.append(Button(ctx.t("form.show_example"), button_data(self.name, f.name, EXAMPLE)))
            if not f.required:
                help_row.append(Button(ctx.t("form.skip"), button_data(self.name, f.name, SKIP)))
            help_row.append(Button(ctx.t("form.leave"), button_data(self.name, f.name, LEAVE)))
            rows.append(help_row)
            lines.append(ctx.t("form.help_offer" if f.example else "form.help_offer_no_example"))
        elif not f.required:
            rows.append([Button(ctx.t("form.skip"), button_data(self.name, f.name, SKIP))])
        if self.can_save and fails < FAILS_BEFORE_HELP:
            rows.append([Button(ctx.t("form.save_exit"), button_data(self.name, f.name, LEAVE))])
        ctx.say("\n".join(lines), rows)

    async def input_buttons(self, ctx: Context, f: Field) -> list[list[Button]]:
        if f.kind == CHOICE and f.choices is not None:
            options = await self.options(ctx, f)
            return [[Button(c.label, button_data(self.name, f.name, c.value))] for c in options]
        if f.kind == MULTI and f.choices is not None:
            picked = set(ctx.state.form.picked)
            options = await self.options(ctx, f)
            rows = [
                [Button(("✓ " if c.value in picked else "") + c.label, button_data(self.name, f.name, c.value))]
                for c in options
            ]
            rows.append([Button(ctx.t("form.done"), button_data(self.name, f.name, DONE))])
            return rows
        if f.kind == RATING:
            low, high = _scale(f)
            return [[Button(str(v), button_data(self.name, f.name, str(v))) for v in range(low, high + 1)]]
        if f.kind == YES_NO:
            return [[
                Button(ctx.t("form.answer_yes"), button_data(self.name, f.name, "yes")),
                Button(ctx.t("form.answer_no"), button_data(self.name, f.name, "no")),
            ]]
        return []

    async def handle(self, ctx: Context, msg: Incoming) -> None:
        step = ctx.state.step
        if step == "summary":
            await self.on_summary(ctx, msg)
            return
        f = self.field(step)
        if f is None:
            await self.advance(ctx, None)
            return
        pressed: str | None = None
        if msg.button is not None:
            _, button_step, pressed = split_button(msg.button)
            if button_step != f.name:
                ctx.tell("common.stale_button")
                await self.ask(ctx, f)
                return
            if pressed == LEAVE:
                await self.leave(ctx)
                return
            if pressed == EXAMPLE:
                ctx.say(ctx.t("form.example", example=ctx.t(f.example or "form.no_example")))
                await self.ask(ctx, f)
                return
            if pressed == SKIP and not f.required:
                await self.accept(ctx, f, None)
                return
        if f.kind == MULTI and pressed is not None and pressed != DONE:
            await self.toggle(ctx, f, pressed)
            return
        result = await self.parse(ctx, f, msg, pressed)
        if isinstance(result, Problem):
            ctx.state.form.fails += 1
            await self.ask(ctx, f, result)
            return
        if f.check is not None:
            problem = await f.check(ctx, result, self.values(ctx))
            if problem is not None:
                ctx.state.form.fails += 1
                await self.ask(ctx, f, problem)
                return
        await self.accept(ctx, f, result)

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
        options = {c.value for c in await self.options(ctx, f)} if f.choices else set()
        if value not in options:
            ctx.tell("common.stale_button")
        else:
            picked = ctx.state.form.picked
            if value in picked:
                picked.remove(value)
            else:
                picked.append(value)
        await self.ask(ctx, f)

    async def leave(self, ctx: Context) -> None:
        """The form's own leave button (a form may lead back somewhere else instead of ending)."""
        ctx.tell("form.saved" if self.can_save else "common.cancelled")
        ctx.state.clear()

    async def quit(self, ctx: Context) -> None:
        await (self.leave(ctx) if self.can_save else super().quit(ctx))

    # -- parsing -----------------------------------------------------------------------------
    async def parse(self, ctx: Context, f: Field, msg: Incoming, pressed: str | None) -> Any:
        text = (msg.text or "").strip()
        if f.kind == MEDIA:
            if msg.media is None:
                return Problem.of("form.error.need_media")
            return {"kind": msg.media.kind, "path": msg.media.ref, "filename": msg.media.filename}
        if not text and pressed is None and (msg.media is not None or msg.other is not None):
            return self.not_text(ctx)
        if f.kind in (CHOICE, MULTI):
            return await self._parse_choice(ctx, f, text, pressed)
        if f.kind == YES_NO:
            word = fold(pressed or text)
            if word in YES_WORDS:
                return True
            if word in NO_WORDS:
                return False
            return Problem.of("form.error.yes_no")
        if pressed is not None and f.kind != RATING:
            return Problem.of("form.error.need_text")
        if not text and pressed is None:
            return Problem.of("form.error.empty")
        if f.kind in (TEXT, LONG_TEXT):
            try:
                cleaned = clean_text(text, f.max_len, multiline=f.kind == LONG_TEXT)
            except TextTooLong as exc:
                return Problem.of("form.error.too_long", length=exc.length, limit=f.max_len)
            if len(cleaned) < (f.minimum or 1):
                return Problem.of("form.error.too_short", minimum=f.minimum or 1)
            return cleaned
        if f.kind == RATING:
            # a typed number is the rating itself, whatever position its button has on the screen
            number = parse_int(pressed or text)
            low, high = _scale(f)
            if number is None or not low <= number <= high:
                return self.rating_problem(ctx, f)
            return number
        if f.kind == INTEGER:
            number = parse_int(text)
            if number is None:
                if f.minimum is not None and f.maximum is not None:
                    return Problem.of("form.error.integer_between", minimum=f.minimum, maximum=f.maximum)
                return Problem.of("form.error.integer")
            return self._bounded(ctx, f, number)
        if f.kind == MONEY:
            fen = parse_money_fen(text)
            if fen is None:
                return Problem.of("form.error.money")
            return self._bounded(ctx, f, fen)
        if f.kind == DATE:
            day = parse_date(text, ctx.today, prefer=f.prefer)
            if day is None:
                return Problem.of("form.error.date")
            return day.isoformat()
        if f.kind == DATE_RANGE:
            span = parse_date_range(text, ctx.today, prefer=f.prefer)
            if span is None:
                return Problem.of("form.error.date_range")
            return [span[0].isoformat(), span[1].isoformat()]
        raise ValueError(f"unknown field kind {f.kind!r}")

    def rating_problem(self, ctx: Context, f: Field) -> Problem:
        """What to say when a rating's answer is not one of its values: the values and the buttons."""
        low, high = _scale(f)
        return Problem.of("form.error.rating", low=low, high=high)

    def not_text(self, ctx: Context) -> Problem:
        """A photo, a file or a contact sent where the step wants words: say so, and where photos go."""
        photo_step = next((g for g in self.fields if g.kind == MEDIA), None)
        if photo_step is None:
            return Problem.of("form.error.text_not_media")
        return Problem.of("form.error.text_photo_step", step=ctx.t(photo_step.label))

    def _bounded(self, ctx: Context, f: Field, value: int) -> int | Problem:
        # an amount and its bound are read side by side: one money unit for both
        show = ctx.amounts([value, f.minimum, f.maximum]) if f.kind == MONEY else str
        if f.minimum is not None and value < f.minimum:
            return Problem.of("form.error.too_small", value=show(value), minimum=show(f.minimum))
        if f.maximum is not None and value > f.maximum:
            return Problem.of("form.error.too_large", value=show(value), maximum=show(f.maximum))
        return value

    async def _parse_choice(self, ctx: Context, f: Field, text: str, pressed: str | None) -> Any:
        options = await self.options(ctx, f) if f.choices else []
        if f.kind == MULTI:
            if pressed == DONE:
                picked = [v for v in ctx.state.form.picked if v in {c.value for c in options}]
            else:
                picked = []
                for part in _split_list(text):
                    match = _match_choice(options, part)
                    if match is None:
                        return _not_an_option(ctx, options, part)
                    picked.append(match.value)
            if not picked and f.required:
                return Problem.of("form.error.pick_one")
            return picked
        if pressed is not None:
            if pressed in {c.value for c in options}:
                return pressed
            return Problem.of("form.error.choice", answer="")
        match = _match_choice(options, text)
        if match is None:
            return _not_an_option(ctx, options, text)
        return match.value

    # -- summary -----------------------------------------------------------------------------
    async def display(self, ctx: Context, f: Field, value: Any) -> str:
        if value is None:
            return ctx.t("common.none")
        if f.kind == MONEY:
            show: Callable[[int | None], str] = ctx.memo.get(SUMMARY_MONEY, ctx.money)
            return show(value)
        if f.kind == DATE:
            return ctx.day(date.fromisoformat(value))
        if f.kind == DATE_RANGE:
            return ctx.t("form.range", start=ctx.day(date.fromisoformat(value[0])), end=ctx.day(date.fromisoformat(value[1])))
        if f.kind == YES_NO:
            return ctx.t("form.answer_yes" if value else "form.answer_no")
        if f.kind in (CHOICE, MULTI) and f.choices is not None:
            labels = {c.value: c.label for c in await self.options(ctx, f)}
            if f.kind == MULTI:
                return "、".join(labels.get(v, v) for v in value)
            return labels.get(value, str(value))
        if f.kind == MEDIA:
            return value.get("filename") or ctx.t("form.media_attached")
        return str(value)

    async def show_summary(self, ctx: Context) -> None:
        ctx.state.step = "summary"
        values = self.values(ctx)
        lines = [self.summary_title(ctx, values)]
        # the summary is one screen: its amounts share one unit
        ctx.memo[SUMMARY_MONEY] = ctx.amounts(values.get(f.name) for f in self.fields if f.kind == MONEY)
        edit_rows: list[list[Button]] = []
        row: list[Button] = []
        for f in self.fields:
            if not f.applies(values):
                continue
            shown = await self.display(ctx, f, values.get(f.name)) if f.name in values else ctx.t("form.missing")
            lines.append(ctx.t("form.summary_line", label=ctx.t(f.label), value=shown))
            if not f.editable:
                continue
            row.append(Button(ctx.t("form.edit", label=ctx.t(f.label)), button_data(self.name, "summary", f"edit.{f.name}")))
            if len(row) == 2:
                edit_rows.append(row)
                row = []
        if row:
            edit_rows.append(row)
        problems = await self.problems(ctx, values)
        if problems:
            lines.append(ctx.t("form.problems_title"))
            lines.extend(ctx.t("form.problem_line", problem=p.text(ctx)) for p in problems)
        actions = [Button(ctx.t("form.submit"), button_data(self.name, "summary", "submit"))]
        if self.can_save:
            actions.append(Button(ctx.t("form.save_exit"), button_data(self.name, "summary", LEAVE)))
        else:
            actions.append(Button(ctx.t("form.leave"), button_data(self.name, "summary", LEAVE)))
        ctx.say("\n".join(lines), [*edit_rows, actions])

    async def on_summary(self, ctx: Context, msg: Incoming) -> None:
        if msg.button is None:
            ctx.tell("form.use_buttons")
            await self.show_summary(ctx)
            return
        _, step, value = split_button(msg.button)
        if step != "summary":
            ctx.tell("common.stale_button")
            await self.show_summary(ctx)
            return
        if value == LEAVE:
            await self.leave(ctx)
            return
        if value.startswith("edit."):
            f = self.field(value[5:])
            if f is None or not f.editable or not f.applies(self.values(ctx)):
                await self.show_summary(ctx)
                return
            ctx.state.form.editing = True
            await self.ask(ctx, f)
            return
        if value == "submit":
            values = self.values(ctx)
            missing = self.next_field(values, None)
            if missing is not None:
                ctx.tell("form.still_missing", label=ctx.t(missing.label))
                await self.ask(ctx, missing)
                return
            problems = await self.problems(ctx, values)
            if problems:
                ctx.tell("form.fix_first")
                await self.show_summary(ctx)
                return
            await self.submit(ctx, values)
            return
        await self.show_summary(ctx)


def _not_an_option(ctx: Context, options: Sequence[Choice], typed: str) -> Problem:
    """A typed answer that is none of the options: say so, and name them (the first few)."""
    if not options:
        return Problem.of("form.error.choice", answer=typed[:40])
    names = ctx.t("form.option_separator").join(c.label for c in options[:OPTIONS_NAMED])
    if len(options) > OPTIONS_NAMED:
        names += "…"
    return Problem.of("form.error.not_an_option", answer=typed[:40], options=names)


def _scale(f: Field) -> tuple[int, int]:
    """A rating's lowest and highest value (1–5 unless the field says otherwise)."""
    return (1 if f.minimum is None else f.minimum), (5 if f.maximum is None else f.maximum)


def _split_list(text: str) -> list[str]:
    for sep in "，、;；":
        text = text.replace(sep, ",")
    return [part.strip() for part in text.split(",") if part.strip()]


def _match_choice(options: Sequence[Choice], text: str) -> Choice | None:
    """A choice typed as its number (1-based), its label or its value, a unique part of its label, or a
    number within the one range its label names."""
    key = fold(text).strip()
    if not key:
        return None
    number = parse_int(key)
    if number is not None and 1 <= number <= len(options) and key.isdigit():
        return options[number - 1]
    exact = [c for c in options if fold(c.label) == key or fold(c.value) == key]
    if len(exact) == 1:
        return exact[0]
    partial = [c for c in options if key in fold(c.label)]
    if len(partial) == 1:
        return partial[0]
    if number is not None:  # "七十二岁" picks the band "60–79岁"
        within = [c for c in options if _covers(parse_int_range(c.label), number)]
        if len(within) == 1:
            return within[0]
    return None


def _covers(span: tuple[int | None, int | None] | None, number: int) -> bool:
    return span is not None and (span[0] is None or span[0] <= number) and (span[1] is None or number <= span[1])
