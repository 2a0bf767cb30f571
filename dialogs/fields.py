"""A form's fields and their kinds: what a question asks, and how each kind of answer is read, checked,
offered as buttons and shown back.

A ``Kind`` is an object with four jobs — ``buttons`` (the answers it offers, as label and value),
``parse`` (text or a pressed value into the answer kept, or a ``Problem``), ``check`` (its own limits:
bounds, length) and ``display`` (the answer as the summary shows it). A ``Field`` names its kind, its
prompt and label, its limits and its own ``check`` across the other answers. The form toolkit
(``dialogs.forms``) asks, reads and summarises through them, and derives the summary's problems from the
fields' own checks. Parsing uses the shared parsers of ``nlu`` (money, numbers, dates).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from dialogs.context import Context
from dialogs.types import Incoming
from nlu.dates import Prefer, parse_date, parse_date_range
from nlu.normalize import TextTooLong, clean_text, fold
from nlu.numbers import parse_int, parse_int_range, parse_money_fen

if TYPE_CHECKING:
    from dialogs.forms import Form

# values of buttons every form shows besides a kind's own (never an option's value: those are codes and ids)
SKIP, EXAMPLE, DONE = "~skip", "~example", "~done"
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
Offer = list[list[tuple[str, str]]]  # button rows of (label, the value pressing it answers)


class Kind:
    """One kind of answer. The base reads typed text only; kinds whose buttons carry answers say so
    (``takes_press``)."""

    name = ""
    takes_press = False  # its buttons carry answers (a choice, a rating, yes or no)
    needs_text = True  # an empty answer is "empty", not "no option"

    async def buttons(self, form: Form, ctx: Context, f: Field) -> Offer:
        return []

    async def parse(self, form: Form, ctx: Context, f: Field, msg: Incoming, pressed: str | None) -> Any:
        """The answer as kept (JSON values), or the ``Problem`` that says why it was not taken."""
        text = (msg.text or "").strip()
        if not text and pressed is None and (msg.media is not None or msg.other is not None):
            return form.not_text(ctx)
        if pressed is not None and not self.takes_press:
            return Problem.of("form.error.need_text")
        if not text and pressed is None and self.needs_text:
            return Problem.of("form.error.empty")
        return await self.read(form, ctx, f, text, pressed)

    async def read(self, form: Form, ctx: Context, f: Field, text: str, pressed: str | None) -> Any:
        raise NotImplementedError

    async def check(self, form: Form, ctx: Context, f: Field, value: Any) -> Problem | None:
        """The kind's own limits (the field's bounds and lengths), on a parsed answer."""
        return None

    async def display(self, form: Form, ctx: Context, f: Field, value: Any) -> str:
        return str(value)

    def __repr__(self) -> str:
        return f"<kind {self.name}>"


class Text(Kind):
    def __init__(self, name: str, *, multiline: bool) -> None:
        self.name, self.multiline = name, multiline

    async def read(self, form: Form, ctx: Context, f: Field, text: str, pressed: str | None) -> Any:
        try:
            return clean_text(text, f.max_len, multiline=self.multiline)
        except TextTooLong as exc:
            return Problem.of("form.error.too_long", length=exc.length, limit=f.max_len)

    async def check(self, form: Form, ctx: Context, f: Field, value: Any) -> Problem | None:
        if len(value) < (f.minimum or 1):
            return Problem.of("form.error.too_short", minimum=f.minimum or 1)
        return None


class Bounded(Kind):
    """A whole number within the field's bounds (shown as the kind shows its values)."""

    def show(self, ctx: Context, f: Field, value: int) -> Callable[[int | None], str]:
        return lambda n: str(n)

    async def check(self, form: Form, ctx: Context, f: Field, value: Any) -> Problem | None:
        show = self.show(ctx, f, value)  # an amount and its bound are read side by side: one unit for both
        if f.minimum is not None and value < f.minimum:
            return Problem.of("form.error.too_small", value=show(value), minimum=show(f.minimum))
        if f.maximum is not None and value > f.maximum:
            return Problem.of("form.error.too_large", value=show(value), maximum=show(f.maximum))
        return None


class Integer(Bounded):
    name = "integer"

    async def read(self, form: Form, ctx: Context, f: Field, text: str, pressed: str | None) -> Any:
        number = parse_int(text)
        if number is None:
            if f.minimum is not None and f.maximum is not None:
                return Problem.of("form.error.integer_between", minimum=f.minimum, maximum=f.maximum)
            return Problem.of("form.error.integer")
        return number


class Money(Bounded):
    """An amount, kept in fen."""

    name = "money"

    def show(self, ctx: Context, f: Field, value: int) -> Callable[[int | None], str]:
        return ctx.amounts([value, f.minimum, f.maximum])

    async def read(self, form: Form, ctx: Context, f: Field, text: str, pressed: str | None) -> Any:
        fen = parse_money_fen(text)
        return Problem.of("form.error.money") if fen is None else fen

    async def display(self, form: Form, ctx: Context, f: Field, value: Any) -> str:
        # the summary is one screen: its amounts share one unit (``Form.show_summary`` sets it)
        show: Callable[[int | None], str] = ctx.memo.get(SUMMARY_MONEY, ctx.money)
        return show(value)


class Day(Kind):
    """A date, kept as ISO text; "下周三" and "3月5日" read against today, towards ``Field.prefer``."""

    name = "date"

    async def read(self, form: Form, ctx: Context, f: Field, text: str, pressed: str | None) -> Any:
        day = parse_date(text, ctx.today, prefer=f.prefer)
        return Problem.of("form.error.date") if day is None else day.isoformat()

    async def display(self, form: Form, ctx: Context, f: Field, value: Any) -> str:
        return ctx.day(date.fromisoformat(value))


class DayRange(Kind):
    """A first and a last day, kept as two ISO texts."""

    name = "date_range"

    async def read(self, form: Form, ctx: Context, f: Field, text: str, pressed: str | None) -> Any:
        span = parse_date_range(text, ctx.today, prefer=f.prefer)
        if span is None:
            return Problem.of("form.error.date_range")
        return [span[0].isoformat(), span[1].isoformat()]

    async def display(self, form: Form, ctx: Context, f: Field, value: Any) -> str:
        start, end = (ctx.day(date.fromisoformat(v)) for v in value)
        return ctx.t("form.range", start=start, end=end)


class OneOf(Kind):
    """One of the field's choices: pressed, or typed as its number, label or a unique part of it."""

    name = "choice"
    takes_press = True
    needs_text = False

    async def buttons(self, form: Form, ctx: Context, f: Field) -> Offer:
        return [[(c.label, c.value)] for c in await form.options(ctx, f)]

    async def read(self, form: Form, ctx: Context, f: Field, text: str, pressed: str | None) -> Any:
        options = await form.options(ctx, f)
        if pressed is not None:
            return pressed if pressed in {c.value for c in options} else Problem.of("form.error.choice", answer="")
        match = match_choice(options, text)
        return _not_an_option(ctx, options, text) if match is None else match.value

    async def display(self, form: Form, ctx: Context, f: Field, value: Any) -> str:
        labels = {c.value: c.label for c in await form.options(ctx, f)}
        return labels.get(value, str(value))


class SomeOf(Kind):
    """Any of the field's choices: ticked one press at a time and ended with "done", or typed as a list."""

    name = "multi"
    takes_press = True
    needs_text = False

    async def buttons(self, form: Form, ctx: Context, f: Field) -> Offer:
        picked = set(ctx.state.form.picked)
        rows = [[(("✓ " if c.value in picked else "") + c.label, c.value)] for c in await form.options(ctx, f)]
        rows.append([(ctx.t("form.done"), DONE)])
        return rows

    async def read(self, form: Form, ctx: Context, f: Field, text: str, pressed: str | None) -> Any:
        options = await form.options(ctx, f)
        if pressed == DONE:
            picked = [v for v in ctx.state.form.picked if v in {c.value for c in options}]
        else:
            picked = []
            for part in _split_list(text):
                match = match_choice(options, part)
                if match is None:
                    return _not_an_option(ctx, options, part)
                picked.append(match.value)
        if not picked and f.required:
            return Problem.of("form.error.pick_one")
        return picked

    async def display(self, form: Form, ctx: Context, f: Field, value: Any) -> str:
        labels = {c.value: c.label for c in await form.options(ctx, f)}
        return "、".join(labels.get(v, v) for v in value)


class Rating(Kind):
    """A whole number on a scale (1–5 unless the field's bounds say otherwise), pressed or typed."""

    name = "rating"
    takes_press = True

    async def buttons(self, form: Form, ctx: Context, f: Field) -> Offer:
        low, high = scale(f)
        return [[(str(v), str(v)) for v in range(low, high + 1)]]

    async def read(self, form: Form, ctx: Context, f: Field, text: str, pressed: str | None) -> Any:
        # a typed number is the rating itself, whatever position its button has on the screen
        number = parse_int(pressed or text)
        return form.rating_problem(ctx, f) if number is None else number

    async def check(self, form: Form, ctx: Context, f: Field, value: Any) -> Problem | None:
        low, high = scale(f)
        return None if low <= value <= high else form.rating_problem(ctx, f)


class YesNo(Kind):
    name = "yes_no"
    takes_press = True
    needs_text = False

    async def buttons(self, form: Form, ctx: Context, f: Field) -> Offer:
        return [[(ctx.t("form.answer_yes"), "yes"), (ctx.t("form.answer_no"), "no")]]

    async def read(self, form: Form, ctx: Context, f: Field, text: str, pressed: str | None) -> Any:
        word = fold(pressed or text)
        if word in YES_WORDS:
            return True
        if word in NO_WORDS:
            return False
        return Problem.of("form.error.yes_no")

    async def display(self, form: Form, ctx: Context, f: Field, value: Any) -> str:
        return ctx.t("form.answer_yes" if value else "form.answer_no")


class Attached(Kind):
    """A photo or a file, kept as its reference in the media store."""

    name = "media"

    async def parse(self, form: Form, ctx: Context, f: Field, msg: Incoming, pressed: str | None) -> Any:
        if msg.media is None:
            return Problem.of("form.error.need_media")
        return {"kind": msg.media.kind, "path": msg.media.ref, "filename": msg.media.filename}

    async def display(self, form: Form, ctx: Context, f: Field, value: Any) -> str:
        return str(value.get("filename") or ctx.t("form.media_attached"))


TEXT, LONG_TEXT = Text("text", multiline=False), Text("long_text", multiline=True)
INTEGER, MONEY, DATE, DATE_RANGE = Integer(), Money(), Day(), DayRange()
CHOICE, MULTI, RATING, YES_NO, MEDIA = OneOf(), SomeOf(), Rating(), YesNo(), Attached()


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    prompt: str
    label: str
    required: bool = True
    max_len: int = 200
    minimum: int | None = None
    maximum: int | None = None
    choices: Choices | None = None
    check: Check | None = None  # across the other answers; the kind checks the field's own limits
    skip_if: Callable[[Values], bool] | None = None
    example: str | None = None
    prefer: Prefer = "future"
    editable: bool = True

    def applies(self, values: Values) -> bool:
        return self.skip_if is None or not self.skip_if(values)


def scale(f: Field) -> tuple[int, int]:
    """A rating's lowest and highest value (1–5 unless the field says otherwise)."""
    return (1 if f.minimum is None else f.minimum), (5 if f.maximum is None else f.maximum)


def _not_an_option(ctx: Context, options: Sequence[Choice], typed: str) -> Problem:
    """A typed answer that is none of the options: say so, and name them (the first few)."""
    if not options:
        return Problem.of("form.error.choice", answer=typed[:40])
    names = ctx.t("form.option_separator").join(c.label for c in options[:OPTIONS_NAMED])
    if len(options) > OPTIONS_NAMED:
        names += "…"
    return Problem.of("form.error.not_an_option", answer=typed[:40], options=names)


def _split_list(text: str) -> list[str]:
    for sep in "，、;；":
        text = text.replace(sep, ",")
    return [part.strip() for part in text.split(",") if part.strip()]


def match_choice(options: Sequence[Choice], text: str) -> Choice | None:
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
