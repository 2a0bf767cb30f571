"""The reminder rules, evaluated from the database as of a moment: milestone reminders to organizations,
overdue alerts to staff, and the staff digest on working days — each queued once in the outbox.

Nothing is scheduled per reminder: every evaluation recomputes what falls due in the window since the
previous one, so edited due dates and imports take effect at the next moment. When the window holds
several moments of one milestone (the service was down), only the latest is queued.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Integer, Select, String, bindparam, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from dialogs import i18n
from dialogs.flow import run_button
from dialogs.notices import notice_payload
from dialogs.notify import recorded_events
from dialogs.questions import Question, encode
from store.inserts import InsertIgnore
from store.models import Department
from store.outbox import NewMessage, enqueue_each, enqueue_many, insert_from, queued_keys, sql_json
from store.recipients import department_staff, staff_and_admins
from store.reminders import (
    DigestItem,
    DigestScope,
    Schedule,
    digest_scopes,
    member_reminder_source,
    milestones_due_in,
    organization_names,
)
from store.types import UTCDateTime
from store.workdays import WorkCalendar

DIGEST_DAYS = 14
DIGEST_ITEMS = 5
DIGEST_BUTTONS = 6
# A first evaluation (or one after the clock went back) looks this far back …
FIRST_LOOK_BACK = timedelta(days=1)
# … and one after a long stop no further: older moments are stale, and the next ones will come.
CATCH_UP = timedelta(days=7)

KIND_REMINDER = "reminder"
KIND_OVERDUE = "overdue"
KIND_ALERT = "overdue_alert"
KIND_DIGEST = "digest"


def project_button(code: str) -> str:
    """Button data opening a project's record (the public-information flow answers it)."""
    return run_button("query", encode(Question("query_projects", project=code)))


@dataclass(frozen=True)
class RuleSettings:
    schedule: Schedule
    calendar: WorkCalendar = field(default_factory=WorkCalendar)
    admins: frozenset[tuple[str, str]] = frozenset()


@dataclass
class Evaluation:
    """What one evaluation queued (new outbox rows; keys queued before are not counted)."""

    reminders: int = 0
    alerts: int = 0
    digests: int = 0
    events: int = 0  # payments and inspections recorded since the last evaluation

    @property
    def queued(self) -> int:
        return self.reminders + self.alerts + self.digests + self.events


def window_start(watermark: datetime | None, now: datetime) -> datetime:
    """Where an evaluation at ``now`` starts looking, given when the previous one was as of."""
    if watermark is None or watermark > now:
        return now - FIRST_LOOK_BACK
    return max(watermark, now - CATCH_UP)


def localized(zh: str, en: str | None) -> dict[str, str]:
    return {"zh-Hans": zh, "en": en or zh}


async def evaluate(session: AsyncSession, settings: RuleSettings, now: datetime, after: datetime) -> Evaluation:
    """Queue everything that fell due in ``(after, now]``, and the digests owed on ``now``'s day."""
    result = Evaluation()
    result.reminders, result.alerts = await _milestone_rules(session, settings.schedule, now, after)
    result.digests = await _digests(session, settings, now)
    result.events = await recorded_events(session, now)
    return result


# --- milestones --------------------------------------------------------------------------------

async def _milestone_rules(session: AsyncSession, schedule: Schedule, now: datetime, after: datetime) -> tuple[int, int]:
    reminders = await enqueue_each(session, reminder_insert(), reminder_days(schedule, now, after), now)
    return reminders, await _overdue_alerts(session, schedule, now, after)


def reminder_days(schedule: Schedule, now: datetime, after: datetime) -> list[dict[str, Any]]:
    """The bind parameters of ``reminder_source`` for every due day with a reminder moment in
    ``(after, now]`` — the latest moment of each day's milestones, decided here once for all of them."""
    days = schedule.send_days(after, now)
    if days is None:
        return []
    today = schedule.local_day(now)
    found = []
    for due_day in schedule.due_days(days):
        moment = schedule.latest(due_day, days)
        if moment is None:
            continue
        due_from, due_to = schedule.day_range(due_day)
        left = (due_day - today).days
        found.append({
            "due_from": due_from, "due_to": due_to, "due_day": due_day.isoformat(), "days_left": abs(left),
            "notice": "remind.upcoming" if left > 0 else "remind.today" if left == 0 else "remind.overdue",
            "dedup_suffix": f":{moment.rule}:{due_day.isoformat()}",
            "kind": KIND_OVERDUE if moment.overdue else KIND_REMINDER,
        })
    return found


@cache
def reminder_source() -> Select[Any]:
    """(dedup_key, identity_id, kind, payload) of the organizations' reminders about the open milestones
    due on one day (bind parameters of ``reminder_days``), once per reachable member: built once, run
    per due day, fanned out by the database — no milestone or member row comes into Python. The
    payload is the one ``notice_payload()`` writes, with SQL columns for the values."""
    # the day's bounds are rendered into the SQL at execution (the compiled form stays cached), so
    # PostgreSQL plans each run for its own few rows instead of a generic plan after five runs
    rows = member_reminder_source(
        bindparam("due_from", type_=UTCDateTime(), literal_execute=True),
        bindparam("due_to", type_=UTCDateTime(), literal_execute=True),
    ).subquery()
    due = bindparam("due_day", type_=String())
    values = {
        "code": rows.c.project_code,
        "title": {"zh-Hans": rows.c.title_zh, "en": func.coalesce(rows.c.title_en, rows.c.title_zh)},
        "milestone": {"t": literal("lifecycle.milestone.") + rows.c.milestone_kind},
        "due": {"day": due}, "days": bindparam("days_left", type_=Integer()),
    }
    button = ("remind.open_project", literal(run_button("status", "p")) + cast(rows.c.project_id, String))
    body = notice_payload(bindparam("notice", type_=String()), values, [[button]],
                          guard={"milestone": rows.c.milestone_id, "due": due})
    dedup = (literal("remind:") + cast(rows.c.milestone_id, String) + ":" + cast(rows.c.identity_id, String)
             + bindparam("dedup_suffix", type_=String()))
    return select(dedup, rows.c.identity_id, bindparam("kind", type_=String()), sql_json(body))


@cache
def reminder_insert() -> InsertIgnore:
    """The reminders' INSERT … SELECT, one object for the life of the process (its cache key is computed once)."""
    return insert_from(reminder_source())


async def _overdue_alerts(session: AsyncSession, schedule: Schedule, now: datetime, after: datetime) -> int:
    """The department's staff hear of a milestone at the first evaluation after its due time."""
    milestones = await milestones_due_in(session, [(after + timedelta(microseconds=1), now + timedelta(microseconds=1))])
    if not milestones:
        return 0
    staff = await department_staff(session, {m.department_id for m in milestones})
    org_names = await organization_names(session, {m.organization_id for m in milestones})
    alerts: list[NewMessage] = []
    for m in milestones:
        due_day = schedule.local_day(m.due_at)
        values = {
            "code": m.project_code, "title": localized(m.title_zh, m.title_en),
            "milestone": {"t": f"lifecycle.milestone.{m.kind}"}, "due": {"day": due_day.isoformat()},
            "org": localized(*org_names[m.organization_id]),
        }
        body = notice_payload("remind.staff_overdue", values,
                              [[("remind.open_project", project_button(m.project_code))]],
                              guard={"milestone": m.id, "due": due_day.isoformat()})
        for person in staff.get(m.department_id, ()):
            alerts.append(NewMessage(person.identity_id, KIND_ALERT, body,
                                     f"alert:{m.id}:{person.identity_id}:{due_day.isoformat()}"))
    return await enqueue_many(session, alerts, now)


# --- the staff digest --------------------------------------------------------------------------

async def _digests(session: AsyncSession, settings: RuleSettings, now: datetime) -> int:
    schedule = settings.schedule
    today = schedule.local_day(now)
    if now < schedule.at(today) or not settings.calendar.is_workday(today):
        return 0
    people = await staff_and_admins(session, settings.admins)
    keys = {p.identity_id: f"digest:{p.identity_id}:{today.isoformat()}" for p in people}
    had = await queued_keys(session, keys.values())
    owed = [p for p in people if keys[p.identity_id] not in had]
    if not owed:
        return 0
    department_ids = sorted({p.department_id for p in owed if p.department_id is not None})
    scopes = await digest_scopes(
        session, department_ids, any(p.department_id is None for p in owed), now,
        now + timedelta(days=DIGEST_DAYS), DIGEST_ITEMS,
    )
    names = {
        d.id: localized(d.name_zh, d.name_en)
        for d in (await session.execute(select(Department).where(Department.id.in_(department_ids)))).scalars()
    }
    bodies: dict[int | None, dict[str, Any]] = {}
    messages = []
    for person in owed:
        scope_id = person.department_id
        if scope_id not in bodies:
            scope_name = names.get(scope_id) if scope_id is not None else None
            bodies[scope_id] = _digest_body(scopes[scope_id], scope_name, today, schedule)
        messages.append(NewMessage(person.identity_id, KIND_DIGEST, bodies[scope_id], keys[person.identity_id]))
    return await enqueue_many(session, messages, now)


def _digest_lines(items: list[DigestItem], total: int, schedule: Schedule) -> dict[str, str]:
    lines: dict[str, str] = {}
    for locale in i18n.LOCALES:
        rows = [
            i18n.t(locale, "digest.line", code=item.project_code,
                   title=item.title_en if locale == "en" and item.title_en else item.title_zh,
                   milestone=i18n.t(locale, f"lifecycle.milestone.{item.milestone_kind}"),
                   due=i18n.day(locale, schedule.local_day(item.due_at)))
            for item in items
        ]
        if total > len(items):
            rows.append(i18n.t(locale, "digest.more", count=total - len(items)))
        lines[locale] = "".join(rows)
    return lines


def _digest_body(scope: DigestScope, scope_name: dict[str, str] | None, today: date, schedule: Schedule) -> dict[str, Any]:
    overdue, soon = scope.overdue_items, scope.soon_items
    values = {
        "day": {"day": today.isoformat()},
        "scope": scope_name or {"t": "digest.all_departments"},
        "overdue": scope.overdue, "overdue_lines": _digest_lines(overdue, scope.overdue, schedule),
        "soon": scope.due_soon, "soon_lines": _digest_lines(soon, scope.due_soon, schedule),
        "days": DIGEST_DAYS, "applications": scope.applications,
    }
    codes = list(dict.fromkeys(item.project_code for item in overdue + soon))[:DIGEST_BUTTONS]
    buttons = [[(code, project_button(code)) for code in codes[i:i + 3]] for i in range(0, len(codes), 3)]
    if scope.applications:
        buttons.append([("digest.open_applications", run_button("review"))])
    key = "digest.body" if not scope.empty else "digest.all_clear"
    return notice_payload(key, values, buttons)

