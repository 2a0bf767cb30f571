"""Messages sent not as an answer (reminders, status changes, invitations, digests).

A notice is queued in the outbox as a catalog key with raw values, and rendered only when it is
sent, in the recipient's language then. Values are plain strings and numbers, or one of
``{"money": fen}``, ``{"day": "YYYY-MM-DD"}``, ``{"moment": ISO datetime}``, ``{"t": catalog key}``
so that amounts and dates are written the recipient's way.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from dialogs import i18n
from dialogs.types import Button, Reply
from store.outbox import enqueue


def money(fen: int | None) -> dict[str, Any]:
    return {"money": fen}


def day(value: date) -> dict[str, Any]:
    return {"day": value.isoformat()}


def moment(value: datetime) -> dict[str, Any]:
    return {"moment": value.isoformat()}


def text(key: str) -> dict[str, Any]:
    return {"t": key}


def notice_payload(
    key: Any, values: dict[str, Any], buttons: list[list[tuple[str, Any]]], *,
    secret: dict[str, Any] | None = None, about: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A notice as the outbox stores it: rendered at send time by ``render_notice``; ``secret`` values are
    dropped from the row once it is final. A notice ``about`` a milestone (``{"milestone": id, "due": day,
    "open": "status" | "query"}``) is cancelled if the milestone is done or re-dated before it is sent, and
    otherwise has the project's code and title, the milestone's name and a button opening the project
    filled in then (``dialogs.reminders.complete_notices``)."""
    data: dict[str, Any] = {"key": key, "values": values, "buttons": [[list(b) for b in row] for row in buttons]}
    if secret:
        data["secret"] = secret
    if about is not None:
        data["about"] = about
    return data


async def queue_notice(
    session: AsyncSession,
    identity_id: int,
    key: str,
    dedup_key: str,
    now: datetime,
    *,
    kind: str | None = None,
    buttons: list[list[tuple[str, str]]] | None = None,
    not_before: datetime | None = None,
    secret: dict[str, Any] | None = None,
    **values: Any,
) -> bool:
    """Queue catalog message ``key`` for an identity; ``buttons`` are rows of (label key, data).

    ``secret`` values (a survey token, say) are rendered like the others but removed from the outbox
    row as soon as the message is sent, dead or cancelled.
    """
    payload = notice_payload(key, values, buttons or [], secret=secret)
    return await enqueue(session, identity_id, kind or key, payload, dedup_key, now, not_before=not_before)


def _value(locale: str, zone: ZoneInfo, value: Any) -> Any:
    if isinstance(value, dict):
        if "money" in value:
            return i18n.money(locale, value["money"])
        if "day" in value:
            return i18n.day(locale, date.fromisoformat(value["day"]))
        if "moment" in value:
            return i18n.moment(locale, datetime.fromisoformat(value["moment"]), zone)
        if "t" in value:
            return i18n.t(locale, value["t"])
        if locale in value:  # {"zh-Hans": …, "en": …}: data that exists in several languages
            return value[locale]
        return i18n.name(locale, value.get("zh-Hans"), value.get("en"))
    return value


def render_notice(payload: dict[str, Any], locale: str, zone: ZoneInfo) -> Reply:
    raw = {**(payload.get("values") or {}), **(payload.get("secret") or {})}
    values = {name: _value(locale, zone, v) for name, v in raw.items()}
    buttons = [
        [Button(i18n.t(locale, label) if i18n.has(label) else label, data) for label, data in row]
        for row in payload.get("buttons") or []
    ]
    return Reply(i18n.t(locale, payload["key"], **values), buttons)
