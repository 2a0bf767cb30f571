"""Button routing as data: a flow's buttons carry typed payloads, and a table maps each to its handler.

A payload is a frozen dataclass declared once (in the spirit of aiogram's ``CallbackData``)::

    @dataclass(frozen=True)
    class Move(Payload, action="move", steps=("ticket",)):
        ticket: int
        target: Literal["investigating", "resolved"]

``Move(7, "resolved").pack("tickets")`` is the button's data, ``tickets:move:7.resolved`` — channel-neutral
text, within Telegram's 64 bytes for what flows carry. A flow's method marked ``@on(Move)`` gets the payload
back, typed, when such a button is pressed (``Flow.press`` looks it up in the flow's table).

A press is stale when its flow is not the one going on, its action has no handler, its values do not read
back (a forged or old button), it belongs to another step (``steps``; ``Payload.current``), or its handler
finds the record it is about changed and raises ``Stale``. The engine answers every stale press one way:
it says so and shows the current step again (``dialogs.engine``).
"""

from __future__ import annotations

import types
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import MISSING, dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

if TYPE_CHECKING:
    from dialogs.state import State

MAX_ID_DIGITS = 9  # ids and page numbers from button data stay far from integer overflow
SEPARATOR = "."  # between a payload's values; the last value may contain it
P = TypeVar("P", bound="Payload")
Reader = Callable[[str], Any]
_NOTHING = object()


class Stale(Exception):
    """Raised by a press's handler when what the button is about is gone or changed (a ticket already moved,
    a seat already taken): the engine drops what the handler said so far and answers as to any stale press."""


class Payload:
    """The base of every typed button payload: subclasses are frozen dataclasses whose fields (``int``,
    ``str`` or a ``Literal`` of strings; defaults allowed) are the values the button carries."""

    action: ClassVar[str]
    steps: ClassVar[frozenset[str] | None] = None
    _readers: ClassVar[tuple[tuple[Reader, bool], ...] | None] = None

    def __init_subclass__(cls, *, action: str, steps: Iterable[str] | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if ":" in action or not action:
            raise ValueError(f"a button action is a word without ':' ({action!r})")
        cls.action = action
        cls.steps = frozenset(steps) if steps is not None else None
        cls._readers = None  # read from the dataclass's fields on first use (the decorator runs after this)

    def pack(self, flow: str) -> str:
        """The button data of this payload on ``flow``'s buttons."""
        values = [str(getattr(self, f.name)) for f in fields(self)]  # type: ignore[arg-type]  # subclasses are dataclasses
        return f"{flow}:{self.action}:{SEPARATOR.join(values)}"

    @classmethod
    def unpack(cls: type[P], value: str) -> P | None:
        """The payload a button's value (what follows ``flow:action:``) stands for; None when it does not read."""
        readers = cls._field_readers()
        if not readers:
            return cls() if value == "" else None
        parts = value.split(SEPARATOR, len(readers) - 1) if value else []
        values = []
        for n, (read, optional) in enumerate(readers):
            if n >= len(parts):
                if optional:
                    break
                return None
            got = read(parts[n])
            if got is _NOTHING:
                return None
            values.append(got)
        return cls(*values)

    def current(self, state: State) -> bool:
        """Whether the press still fits the conversation: by default, the step is one of ``steps`` (any step
        when it names none). A payload may say more (a form's answer: the question it answers is asked)."""
        return self.steps is None or state.step in self.steps

    @classmethod
    def _field_readers(cls) -> tuple[tuple[Reader, bool], ...]:
        if cls._readers is None:
            hints = get_type_hints(cls)
            cls._readers = tuple(
                (_reader(hints[f.name]), f.default is not MISSING or f.default_factory is not MISSING)
                for f in fields(cls)  # type: ignore[arg-type]  # subclasses are dataclasses
            )
        return cls._readers


def parse_id(value: str | None) -> int | None:
    """A non-negative id or page number from button data or a payload; None for anything else."""
    if value is None or not value.isascii() or not value.isdigit() or len(value) > MAX_ID_DIGITS:
        return None
    return int(value)


def _reader(hint: Any) -> Reader:
    """How one value of a payload reads back from text: ids and page numbers as ``int``s, words as ``str``s
    (or one of a ``Literal``'s words)."""
    if hint is int:
        return lambda text: _NOTHING if (number := parse_id(text)) is None else number
    if hint is str:
        return lambda text: text
    if get_origin(hint) is Literal:
        allowed = frozenset(str(a) for a in get_args(hint))
        return lambda text: text if text in allowed else _NOTHING
    if get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint):
        inner = _reader(next(a for a in get_args(hint) if a is not type(None)))
        return lambda text: None if text == "None" else inner(text)
    raise TypeError(f"a button payload holds int, str or Literal values, not {hint!r}")


@dataclass(frozen=True)
class Route:
    payload: type[Payload]
    method: str  # the flow's method that takes the press


def on(payload: type[Payload]) -> Callable[[Callable[..., Awaitable[None]]], Callable[..., Awaitable[None]]]:
    """Mark a flow's method as the handler of presses carrying ``payload``: ``async def m(self, ctx, press)``."""

    def mark(method: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        method.__dict__["_pressed"] = payload
        return method

    return mark


def routes_of(cls: type, inherited: dict[str, Route]) -> dict[str, Route]:
    """A flow class's dispatch table: its bases' routes, then its own ``@on`` methods (which win)."""
    table = dict(inherited)
    for name, member in vars(cls).items():
        payload = getattr(member, "_pressed", None)
        if payload is not None:
            table[payload.action] = Route(payload, name)
    return table


def split(data: str) -> tuple[str, str, str]:
    """A button's data as its flow, its action and its values (the text after ``flow:action:``)."""
    flow, _, rest = data.partition(":")
    action, _, value = rest.partition(":")
    return flow, action, value
