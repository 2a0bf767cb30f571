"""The reminder rules, evaluated from the database as of a moment: milestone reminders to organizations,
overdue alerts to staff, and the staff digest on working days — each queued once in the outbox.

Nothing is scheduled per reminder: every evaluation recomputes what falls due in the window since the
previous one, so edited due dates and imports take effect at the next moment. When the window holds
several moments of one milestone (the service was down), only the latest is queued.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dialogs.committee import contract_reminders, review_rules
from dialogs.notices import bilingual
from dialogs.notify import recorded_events
from store.notices import AboutDigest, AboutMilestone, Day, Notice, Value
from store.outbox import Outgoing, enqueue, enqueue_selected, queued_keys
from store.recipients import department_staff, staff_and_admins
from store.reminders import (
    Schedule,
    mark_alerted,
    milestones_due_in,
    organization_names,
    reminder_insert,
    unalerted_milestones_due_in,
)
from store.workdays import WorkCalendar

__all__ = ["Evaluation", "RuleSettings", "evaluate", "reminder_days", "window_start"]

# A first evaluation (or one after the clock went back) looks this far back …
FIRST_LOOK_BACK = timedelta(days=1)
# … and one after a long stop no further: older moments are stale, and the next ones will come.
CATCH_UP = timedelta(days=7)

KIND_REMINDER = "reminder"
KIND_OVERDUE = "overdue"
KIND_ALERT = "overdue_alert"
KIND_DIGEST = "digest"


@dataclass(frozen=True)
class RuleSettings:
    schedule: Schedule
    calendar: WorkCalendar = field(default_factory=WorkCalendar)
    admins: frozenset[tuple[str, str]] = frozenset()
    review_answer_hours: int = 48


@dataclass
class Evaluation:
    """What one evaluation queued (new outbox rows; keys queued before are not counted)."""

    reminders: int = 0
    alerts: int = 0
    digests: int = 0
    events: int = 0  # payments and inspections recorded since the last evaluation
    review: int = 0  # expert invitations passed to reserves, reminders to experts, contract reminders

    @property
    def queued(self) -> int:
        return self.reminders + self.alerts + self.digests + self.events + self.review


def window_start(watermark: datetime | None, now: datetime) -> datetime:
    """Where an evaluation at ``now`` starts looking, given when the previous one was as of."""
    if watermark is None or watermark > now:
        return now - FIRST_LOOK_BACK
    return max(watermark, now - CATCH_UP)


async def evaluate(session: AsyncSession, settings: RuleSettings, now: datetime, after: datetime) -> Evaluation:
    """Queue everything that fell due in ``(after, now]``, and the digests owed on ``now``'s day."""
    result = Evaluation()
    result.reminders, result.alerts = await _milestone_rules(session, settings.schedule, now, after)
    result.digests = await _digests(session, settings, now)
    result.events = await recorded_events(session, now)
    result.review = (await review_rules(session, now, settings.review_answer_hours, settings.schedule)
                     + await contract_reminders(session, now, settings.schedule))
    return result


# --- milestones --------------------------------------------------------------------------------

async def _milestone_rules(session: AsyncSession, schedule: Schedule, now: datetime, after: datetime) -> tuple[int, int]:
    reminders, days = 0, reminder_days(schedule, now, after)
    for due_day in days:
        reminders += await enqueue_selected(session, reminder_insert(), due_day.notice, due_day.params, now)
    overdue_days = [due_day.utc_range for due_day in days if due_day.overdue]
    return reminders, await _overdue_alerts(session, schedule, now, after, overdue_days)


@dataclass(frozen=True)
class DueDay:
    """The organizations' reminders about the milestones due on one day: one notice for all of them (each
    about its own milestone), queued by ``store.reminders.reminder_insert`` with ``params``."""

    notice: Notice
    utc_range: tuple[datetime, datetime]
    dedup_suffix: str
    overdue: bool

    @property
    def params(self) -> dict[str, Any]:
        return {"due_from": self.utc_range[0], "due_to": self.utc_range[1], "dedup_suffix": self.dedup_suffix}


def reminder_days(schedule: Schedule, now: datetime, after: datetime) -> list[DueDay]:
    """Every due day with a reminder moment in ``(after, now]`` — the latest moment of each day's
    milestones, decided here once for all of them. The project's code and title are filled in when the
    reminder is sent (``dialogs.notices.complete``), so nothing per row goes into it but the milestone."""
    days = schedule.send_days(after, now)
    if days is None:
        return []
    today = schedule.local_day(now)
    found = []
    for due_day in schedule.due_days(days):
        moment = schedule.latest(due_day, days)
        if moment is None:
            continue
        left = (due_day - today).days
        key = "remind.upcoming" if left > 0 else "remind.today" if left == 0 else "remind.overdue"
        notice = Notice(key, {"due": Day(due_day), "days": abs(left)},
                        about=AboutMilestone(None, due_day, "status"),
                        kind=KIND_OVERDUE if moment.overdue else KIND_REMINDER)
        found.append(DueDay(notice, schedule.day_range(due_day), f":{moment.rule}:{due_day.isoformat()}",
                            moment.overdue))
    return found


async def _overdue_alerts(
    session: AsyncSession, schedule: Schedule, now: datetime, after: datetime,
    overdue_days: Sequence[tuple[datetime, datetime]],
) -> int:
    """The department's staff hear of a milestone at the first evaluation after its due time — and,
    if they never did (it was overdue before the service first ran, or imported overdue), whenever its
    organization is reminded that it is overdue (``overdue_days``: the due days of those reminders, as
    UTC ranges)."""
    milestones = await milestones_due_in(session, [(after + timedelta(microseconds=1), now + timedelta(microseconds=1))])
    seen = {m.id for m in milestones}
    milestones += [m for m in await unalerted_milestones_due_in(session, overdue_days) if m.id not in seen]
    if not milestones:
        return 0
    staff = await department_staff(session, {m.department_id for m in milestones})
    org_names = await organization_names(session, {m.organization_id for m in milestones})
    alerts: list[Outgoing] = []
    for m in milestones:
        due_day = schedule.local_day(m.due_at)
        values: dict[str, Value] = {"due": Day(due_day), "org": bilingual(*org_names[m.organization_id])}
        notice = Notice("remind.staff_overdue", values, about=AboutMilestone(m.id, due_day, "query"), kind=KIND_ALERT)
        for person in staff.get(m.department_id, ()):
            alerts.append(Outgoing(person.identity_id, f"alert:{m.id}:{person.identity_id}:{due_day.isoformat()}",
                                   notice))
    # a department without staff yet: its milestones stay unalerted, for staff who join
    await mark_alerted(session, {m.id for m in milestones if staff.get(m.department_id)})
    return await enqueue(session, alerts, now)


# --- the staff digest --------------------------------------------------------------------------

async def _digests(session: AsyncSession, settings: RuleSettings, now: datetime) -> int:
    """Each staff member (and administrator) not yet sent today's digest is queued one; its figures are
    read when it is sent (``dialogs.notices.complete``), so a digest deferred or retried is current, and the
    busiest tick of the day does not count every open milestone of the city."""
    schedule = settings.schedule
    today = schedule.local_day(now)
    if now < schedule.at(today) or not settings.calendar.is_workday(today):
        return 0
    people = await staff_and_admins(session, settings.admins)
    keys = {p.identity_id: f"digest:{p.identity_id}:{today.isoformat()}" for p in people}
    had = await queued_keys(session, keys.values())
    messages = [
        Outgoing(p.identity_id, keys[p.identity_id], digest_notice(p.department_id, today))
        for p in people if keys[p.identity_id] not in had
    ]
    return await enqueue(session, messages, now)


def digest_notice(department_id: int | None, day: date) -> Notice:
    """A digest as queued: whose department (None: the whole city) and which day; the figures come at sending."""
    return Notice("digest.body", about=AboutDigest(department_id, day), kind=KIND_DIGEST)
