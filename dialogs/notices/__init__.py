"""Messages sent not as an answer (reminders, status changes, invitations, digests): building and queuing.

A notice (``store.notices.Notice``: a catalog key, typed values, buttons, what it is ``about``, secret
values) is queued in the outbox and rendered only when it is sent, in the recipient's language then.
Queuing goes through ``store.outbox.enqueue`` (one message or many) or, for the rules' fan-outs,
``store.outbox.enqueue_selected``; ``queue_notice`` is the short form for one catalog message.

At sending: ``dialogs.notices.complete`` fills in what is read then (a milestone's project, a digest's
figures) or finds the notice stale; ``dialogs.notices.render`` renders it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from dialogs.notices.render import render_notice
from store.notices import Day, Moment, Money, Names, Notice, Text, Value
from store.outbox import Outgoing, enqueue

__all__ = ["Day", "Moment", "Money", "Names", "Notice", "Text", "Value", "bilingual", "day", "moment", "money",
           "queue_notice", "render_notice", "text"]


def money(fen: int | None) -> Money:
    return Money(fen)


def day(value: date) -> Day:
    return Day(value)


def moment(value: datetime) -> Moment:
    return Moment(value)


def text(key: str) -> Text:
    """A catalog text, in the recipient's language."""
    return Text(key)


def bilingual(zh: str | None, en: str | None = None) -> Names:
    """A name kept in Chinese and (if known) English; zh-Hant is derived from the Chinese."""
    return Names({"zh-Hans": zh or "", "en": en or zh or ""})


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
    secret: dict[str, Value] | None = None,
    **values: Value,
) -> bool:
    """Queue catalog message ``key`` for an identity (once per ``dedup_key``); ``buttons`` are rows of
    (label key, data). ``secret`` values (a survey token, say) are rendered like the others but removed
    from the outbox row as soon as the message is sent, dead or cancelled. False: queued before."""
    notice = Notice(key, values, tuple(tuple(row) for row in buttons or ()), secret=secret or {}, kind=kind)
    return await enqueue(session, Outgoing(identity_id, dedup_key, notice, not_before), now) == 1
