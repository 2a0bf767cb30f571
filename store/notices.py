"""The notice: a message sent not as an answer, as the outbox stores it — a catalog key with raw values,
rendered only when it is sent, in the recipient's language then.

It lives here, in ``store/``, because the store writes and reads it (``store/`` imports nothing of the
project): a plain typed structure with its JSON form. ``dialogs.notices`` builds, completes and renders
notices; ``store.outbox`` queues them.

A row of the outbox holds a notice in three columns: ``kind`` (what sort of message), ``payload`` (JSON,
``encode``/``decode``) and ``milestone_id`` (the milestone it is ``about``, if any: a column, so the rules
queue thousands of reminders with one INSERT … SELECT whose payload is one constant).

Payload versions (``"v"``): 1 — no ``"v"``, written until December 2026: ``{"key", "values", "buttons",
"secret"?, "about"?: {"milestone", "due", "open"?}, "guard"?: {"milestone", "due"}, "digest"?:
{"department", "day"}}``; 2 — ``{"v": 2, "key", "values", "buttons", "secret"?, "about"?: {"due", "open"}
(the milestone in the column) | {"digest": department, "day"}}``. Both are read; 2 is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar, Literal

VERSION = 2


# --- values: plain strings and numbers, or one of these, written the recipient's way ------------

@dataclass(frozen=True)
class Money:
    fen: int | None


@dataclass(frozen=True)
class Day:
    day: date


@dataclass(frozen=True)
class Moment:
    at: datetime


@dataclass(frozen=True)
class Text:
    """A catalog text (``key``), in the recipient's language."""

    key: str


@dataclass(frozen=True)
class Names:
    """Data that exists in several languages (``{"zh-Hans": …, "en": …}``, or one text per locale)."""

    by_locale: Mapping[str, str]


Value = str | int | float | bool | None | Money | Day | Moment | Text | Names
ButtonRow = Sequence[tuple[str, str]]  # (label: a catalog key or plain text, button data)
Open = Literal["status", "query"]


# --- what a notice is about: facts read when it is sent ------------------------------------------

@dataclass(frozen=True)
class AboutMilestone:
    """A notice about a milestone: cancelled if the milestone is done, re-dated (``due`` is the local due day
    it was queued for) or gone before it is sent; otherwise the project's code and title, the milestone's
    name and a button opening the project (``open``: an organization member's ``status``, staff's public
    record ``query``) are filled in then. ``open`` None: checked for staleness only (rows of version 1
    queued complete). ``milestone`` None only in the template of ``store.outbox.enqueue_selected``,
    where each row brings its own."""

    milestone: int | None
    due: date
    open: Open | None = "query"


@dataclass(frozen=True)
class AboutDigest:
    """A staff digest: whose department (None: the whole city) and which day; its figures come at sending."""

    department: int | None
    day: date


About = AboutMilestone | AboutDigest


@dataclass(frozen=True)
class Notice:
    """``key``: the catalog message; ``values`` its placeholders; ``buttons`` rows of (label, data);
    ``secret`` values are rendered like the others but dropped from the outbox row once it is final (a
    survey token); ``kind``: what sort of message (the outbox row's kind; the key when not given)."""

    key: str
    values: Mapping[str, Value] = field(default_factory=dict)
    buttons: Sequence[ButtonRow] = ()
    about: About | None = None
    secret: Mapping[str, Value] = field(default_factory=dict)
    kind: str | None = None

    version: ClassVar[int] = VERSION

    @property
    def row_kind(self) -> str:
        return self.kind or self.key

    @property
    def milestone(self) -> int | None:
        return self.about.milestone if isinstance(self.about, AboutMilestone) else None


class UnreadableNotice(ValueError):
    """A payload this version cannot read (malformed, or written by a newer version)."""


# --- JSON -------------------------------------------------------------------------------------------

def encode_value(value: Value) -> Any:
    if isinstance(value, Money):
        return {"money": value.fen}
    if isinstance(value, Day):
        return {"day": value.day.isoformat()}
    if isinstance(value, Moment):
        return {"moment": value.at.isoformat()}
    if isinstance(value, Text):
        return {"t": value.key}
    if isinstance(value, Names):
        return dict(value.by_locale)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"a notice value cannot be {type(value).__name__}: {value!r}")


def decode_value(raw: Any) -> Value:
    if isinstance(raw, dict):
        if "money" in raw:
            return Money(raw["money"])
        if "day" in raw:
            return Day(date.fromisoformat(raw["day"]))
        if "moment" in raw:
            return Moment(datetime.fromisoformat(raw["moment"]))
        if "t" in raw:
            return Text(str(raw["t"]))
        return Names({str(k): str(v) for k, v in raw.items() if v is not None})
    if raw is None or isinstance(raw, str | int | float | bool):
        return raw
    raise UnreadableNotice(f"not a notice value: {raw!r}")


def encode(notice: Notice) -> dict[str, Any]:
    """The payload column of ``notice`` (its milestone goes to the ``milestone_id`` column: ``notice.milestone``)."""
    data: dict[str, Any] = {
        "v": VERSION, "key": notice.key,
        "values": {name: encode_value(v) for name, v in notice.values.items()},
        "buttons": [[[label, data] for label, data in row] for row in notice.buttons],
    }
    if notice.secret:
        data["secret"] = {name: encode_value(v) for name, v in notice.secret.items()}
    about = notice.about
    if isinstance(about, AboutMilestone):
        data["about"] = {"due": about.due.isoformat(), "open": about.open}
    elif isinstance(about, AboutDigest):
        data["about"] = {"digest": about.department, "day": about.day.isoformat()}
    return data


def decode(kind: str | None, payload: Mapping[str, Any] | None, milestone_id: int | None = None) -> Notice:
    """The notice an outbox row holds (either payload version); ``UnreadableNotice`` if it holds none."""
    if not payload:
        raise UnreadableNotice("empty payload")
    try:
        version = payload.get("v", 1)
        if version == 1:
            about = _about_v1(payload)
        elif version == 2:
            about = _about_v2(payload.get("about"), milestone_id)
        else:
            raise UnreadableNotice(f"payload version {version!r} (this version reads 1 and 2)")
        return Notice(
            key=str(payload["key"]),
            values={str(k): decode_value(v) for k, v in (payload.get("values") or {}).items()},
            buttons=tuple(tuple((str(label), str(data)) for label, data in row) for row in payload.get("buttons") or ()),
            about=about,
            secret={str(k): decode_value(v) for k, v in (payload.get("secret") or {}).items()},
            kind=kind,
        )
    except UnreadableNotice:
        raise
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise UnreadableNotice(f"{type(exc).__name__}: {exc}") from exc


def _open(raw: Any) -> Open:
    if raw == "status":
        return "status"
    return "query"


def _about_v1(payload: Mapping[str, Any]) -> About | None:
    if "digest" in payload:
        digest = payload["digest"]
        return AboutDigest(digest["department"], date.fromisoformat(digest["day"]))
    about = payload.get("about")
    if about and "milestone" in about:
        return AboutMilestone(int(about["milestone"]), date.fromisoformat(about["due"]), _open(about.get("open")))
    guard = payload.get("guard")  # rows of earlier versions: queued complete, checked for staleness only
    if guard and "milestone" in guard:
        return AboutMilestone(int(guard["milestone"]), date.fromisoformat(guard["due"]), None)
    return None


def _about_v2(about: Mapping[str, Any] | None, milestone_id: int | None) -> About | None:
    if not about:
        return None
    if "digest" in about:
        return AboutDigest(about["digest"], date.fromisoformat(about["day"]))
    if milestone_id is None:
        raise UnreadableNotice("a notice about a milestone without its milestone_id")
    opens = about.get("open")
    return AboutMilestone(milestone_id, date.fromisoformat(about["due"]), None if opens is None else _open(opens))
