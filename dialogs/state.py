"""A conversation's state between turns, typed: where the person is (flow, step), the form they fill in,
what the step shows (the pending choice its buttons and typed answers are read against) and the context a
follow-up question continues from.

It is kept in the conversation row (``store.conversations``: the flow and step columns, and a JSON column
for the rest) as versioned JSON: ``to_json`` writes version ``VERSION``; ``from_json`` reads every version
written so far, the dict-shaped slots of version 1 (no ``"v"`` key) included, and drops what it does not
know. Nothing a person typed is kept here unless a form took it as an answer: an NLU parse lives for
the turn that made it (``Flow.start``'s ``parse``), never in the row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

VERSION = 2


class _Keep:
    """The default of ``State.reset``'s flow: the current one."""


_KEEP_FLOW = _Keep()


@dataclass
class FormState:
    """A form's answers so far and how its current question is going."""

    values: dict[str, Any] = field(default_factory=dict)  # field name -> answer (JSON values)
    fails: int = 0  # answers to the current question not taken (help is offered after two)
    picked: list[str] = field(default_factory=list)  # a multiple choice's options ticked so far
    editing: bool = False  # the question was reached from the summary: back to it once answered

    def __bool__(self) -> bool:
        return bool(self.values or self.fails or self.picked or self.editing)


@dataclass
class State:
    """The conversation row's content while a turn runs (``Context.state``)."""

    flow: str | None = None
    step: str | None = None
    form: FormState = field(default_factory=FormState)
    # the engine asked "leave?" on the last turn: the next answer may be to that offer
    leave_offered: bool = False
    # what the step shows: the record its buttons and typed answers are about, the list page to go back to
    id: int | None = None  # the item shown (application, ticket, need…)
    page: int | None = None
    mine: bool = False  # tickets: only those assigned to me
    view: str | None = None  # outbox: which list
    period: str | None = None  # needs report: week, month, since…
    since: str | None = None  # needs report: its first day (ISO)
    target: str | None = None  # tickets: what a note is for (a status the ticket moves to)
    browse: str | None = None  # complaints: the district whose projects are listed
    application: int | None = None  # the draft an application form fills in
    call: int | None = None  # committee: the call shown
    plan: dict[str, Any] | None = None  # committee: a draw's seats and reserves before it is confirmed
    project: int | None = None  # survey staff: the project shown
    invite: int | None = None  # binding: the invite being confirmed
    invitation: int | None = None  # survey: the invitation answered (never its token)
    template: str | None = None  # survey: its questionnaire
    member: int | None = None  # expert: the committee seat
    subject: int | None = None  # expert: the application or project reviewed
    criterion: str | None = None  # expert: the criterion being scored
    # context for follow-ups ("那它的满意度呢？"): the last public question answered (dialogs.questions.encode)
    topic: str | None = None

    def clear(self) -> None:
        """Out of any flow, with nothing kept."""
        self.reset(None, flow=None)

    def reset(self, step: str | None, *, flow: str | _Keep | None = _KEEP_FLOW) -> None:
        """On ``step`` (of ``flow``; the current flow unless given) with nothing else kept: set what the
        new step needs next."""
        keep = self.flow if isinstance(flow, _Keep) else flow
        self.__dict__.update(State(keep, step).__dict__)

    def copy(self) -> State:
        """A deep copy, to go back to (the engine builds a step's screen again without keeping it)."""
        saved = object.__new__(State)
        saved.__dict__.update(self.__dict__)
        form = self.form
        saved.form = FormState(_copied(form.values), form.fails, list(form.picked), form.editing)
        if self.plan is not None:
            saved.plan = _copied(self.plan)
        return saved

    def restore(self, saved: State) -> None:
        """Back to ``saved`` (a ``copy``), in place: the turn's context holds this object."""
        self.__dict__.update(saved.__dict__)

    # -- JSON ---------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The slots column's value (flow and step are columns of their own): only what differs from the
        default, and ``{}`` for a state with nothing in it."""
        data: dict[str, Any] = {}
        form = self.form
        if form:
            shown: dict[str, Any] = {"values": form.values}
            if form.fails:
                shown["fails"] = form.fails
            if form.picked:
                shown["picked"] = form.picked
            if form.editing:
                shown["editing"] = True
            data["form"] = shown
        for name, _ in _SCALARS:
            value = getattr(self, name)
            if value is not None and value is not False:
                data[name] = value
        if data:
            data["v"] = VERSION
        return data

    @classmethod
    def from_json(cls, flow: str | None, step: str | None, data: dict[str, Any] | None) -> State:
        """The state of a conversation row, whatever version wrote its slots."""
        data = dict(data or {})
        version = data.pop("v", 1)
        while version in MIGRATIONS:
            data, version = MIGRATIONS[version](data)
        state = cls(flow, step)
        if version != VERSION:  # written by a newer release: start afresh rather than misread it
            return state
        form = data.get("form")
        if isinstance(form, dict):
            state.form = FormState(
                values=dict(form["values"]) if isinstance(form.get("values"), dict) else {},
                fails=_int(form.get("fails")) or 0,
                picked=[str(v) for v in form.get("picked", ()) if isinstance(v, str | int)]
                if isinstance(form.get("picked"), list) else [],
                editing=form.get("editing") is True,
            )
        for name, value in data.items():
            kind = _KINDS.get(name)
            if kind is None:  # "form", or a key this version does not know
                continue
            if kind is int:
                value = _int(value)
            elif kind is bool:
                value = value is True or None
            elif not isinstance(value, kind):
                value = None
            if value is not None:
                setattr(state, name, value)
        return state


_TYPES: dict[str, type] = {"int | None": int, "str | None": str, "bool": bool, "dict[str, Any] | None": dict}
# the fields kept as plain JSON values, with the type they must have when read back
_SCALARS: tuple[tuple[str, type], ...] = tuple(
    (f.name, _TYPES[str(f.type)]) for f in fields(State) if f.name not in ("flow", "step", "form")
)


def _copied(value: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of JSON values (dicts, lists, scalars): much quicker than ``copy.deepcopy``."""
    return {key: _copied_value(item) for key, item in value.items()}


def _copied_value(value: Any) -> Any:
    if isinstance(value, dict):
        return _copied(value)
    if isinstance(value, list):
        return [_copied_value(item) for item in value]
    return value


_KINDS = dict(_SCALARS)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# -- versions ---------------------------------------------------------------------------------
# Each migration reads the slots of one version and returns them in the next one's shape.


_V1_FORM = ("values", "fails", "picked", "editing")


def _from_v1(data: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Version 1: one flat dict of slot keys (rows saved before the state was typed). The form's keys move
    under ``form``; the engine's ``~leave_offered`` loses its tilde; the NLU parse (``nlu``, with the raw
    text of the message) is dropped."""
    migrated = {key: value for key, value in data.items() if key not in (*_V1_FORM, "nlu", "~leave_offered")}
    form = {key: data[key] for key in _V1_FORM if key in data}
    if form:
        form.setdefault("values", {})
        migrated["form"] = form
    if data.get("~leave_offered") is True:
        migrated["leave_offered"] = True
    return migrated, 2


MIGRATIONS: dict[int, Callable[[dict[str, Any]], tuple[dict[str, Any], int]]] = {1: _from_v1}
