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
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, String, bindparam, cast, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from dialogs import i18n
from dialogs.committee import contract_reminders, review_rules
from dialogs.flow import run_button
from dialogs.notices import notice_payload
from dialogs.notify import recorded_events
from dialogs.questions import Question, encode
from store.inserts import InsertIgnore
from store.models import Department
from store.outbox import (
    ROW_VALUE,
    NewMessage,
    enqueue_each,
    enqueue_many,
    insert_from,
    json_halves,
    json_spliced,
    queued_keys,
)
from store.recipients import department_staff, staff_and_admins
from store.reminders import (
    DigestItem,
    DigestScope,
    MilestoneSubject,
    Schedule,
    digest_scopes,
    mark_alerted,
    member_reminder_source,
    milestone_subjects,
    milestones_due_in,
    organization_names,
    unalerted_milestones_due_in,
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


def localized(zh: str, en: str | None) -> dict[str, str]:
    return {"zh-Hans": zh, "en": en or zh}


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
    days = reminder_days(schedule, now, after)
    reminders = await enqueue_each(session, reminder_insert(), days, now)
    overdue_days = [(d["due_from"], d["due_to"]) for d in days if d["kind"] == KIND_OVERDUE]
    return reminders, await _overdue_alerts(session, schedule, now, after, overdue_days)


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
        notice = "remind.upcoming" if left > 0 else "remind.today" if left == 0 else "remind.overdue"
        head, tail = json_halves(notice_payload(
            notice, {"due": {"day": due_day.isoformat()}, "days": abs(left)}, [],
            about={"milestone": ROW_VALUE, "due": due_day.isoformat(), "open": "status"},
        ))
        found.append({
            "due_from": due_from, "due_to": due_to, "payload_head": head, "payload_tail": tail,
            "dedup_suffix": f":{moment.rule}:{due_day.isoformat()}",
            "kind": KIND_OVERDUE if moment.overdue else KIND_REMINDER,
        })
    return found


@cache
def reminder_source() -> Select[Any]:
    """(dedup_key, identity_id, kind, payload) of the organizations' reminders about the open milestones
    due on one day (bind parameters of ``reminder_days``), once per reachable member: built once, run
    per due day, fanned out by the database — no milestone or member row comes into Python. The
    payload is a notice ``about`` the milestone: the day's values are bound once, and the project's code
    and title are filled in when it is sent (``complete_notices``), so nothing per row goes into it but
    the milestone's id."""
    # the day's bounds are rendered into the SQL at execution (the compiled form stays cached), so
    # PostgreSQL plans each run for its own few rows instead of a generic plan after five runs
    rows = member_reminder_source(
        bindparam("due_from", type_=UTCDateTime(), literal_execute=True),
        bindparam("due_to", type_=UTCDateTime(), literal_execute=True),
    ).subquery()
    # the payload is the day's notice (``reminder_days``) with the milestone's id in place
    body = json_spliced(bindparam("payload_head", type_=String()), rows.c.milestone_id,
                        bindparam("payload_tail", type_=String()))
    dedup = (literal("remind:") + cast(rows.c.milestone_id, String) + ":" + cast(rows.c.identity_id, String)
             + bindparam("dedup_suffix", type_=String()))
    return select(dedup, rows.c.identity_id, bindparam("kind", type_=String()), body)


@cache
def reminder_insert() -> InsertIgnore:
    """The reminders' INSERT … SELECT, one object for the life of the process (its cache key is computed once)."""
    return insert_from(reminder_source())


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
    alerts: list[NewMessage] = []
    for m in milestones:
        due_day = schedule.local_day(m.due_at)
        values = {"due": {"day": due_day.isoformat()}, "org": localized(*org_names[m.organization_id])}
        body = notice_payload("remind.staff_overdue", values, [],
                              about={"milestone": m.id, "due": due_day.isoformat(), "open": "query"})
        for person in staff.get(m.department_id, ()):
            alerts.append(NewMessage(person.identity_id, KIND_ALERT, body,
                                     f"alert:{m.id}:{person.identity_id}:{due_day.isoformat()}"))
    # a department without staff yet: its milestones stay unalerted, for staff who join
    await mark_alerted(session, {m.id for m in milestones if staff.get(m.department_id)})
    return await enqueue_many(session, alerts, now)


# --- the staff digest --------------------------------------------------------------------------

async def _digests(session: AsyncSession, settings: RuleSettings, now: datetime) -> int:
    """Each staff member (and administrator) not yet sent today's digest is queued one; its figures are
    read when it is sent (``complete_notices``), so a digest deferred or retried is current, and the
    busiest tick of the day does not count every open milestone of the city."""
    schedule = settings.schedule
    today = schedule.local_day(now)
    if now < schedule.at(today) or not settings.calendar.is_workday(today):
        return 0
    people = await staff_and_admins(session, settings.admins)
    keys = {p.identity_id: f"digest:{p.identity_id}:{today.isoformat()}" for p in people}
    had = await queued_keys(session, keys.values())
    messages = [
        NewMessage(p.identity_id, KIND_DIGEST, digest_payload(p.department_id, today), keys[p.identity_id])
        for p in people if keys[p.identity_id] not in had
    ]
    return await enqueue_many(session, messages, now)


def digest_payload(department_id: int | None, day: date) -> dict[str, Any]:
    """A digest as queued: whose department (None: the whole city) and which day; the figures come at sending."""
    return {"key": "digest.body", "values": {}, "buttons": [], "digest": {"department": department_id,
                                                                         "day": day.isoformat()}}


# --- completing notices when they are sent ------------------------------------------------------

async def complete_notices(
    session: AsyncSession, payloads: Sequence[dict[str, Any]], zone: ZoneInfo, now: datetime
) -> list[dict[str, Any] | None]:
    """The payloads of messages about to be sent at ``now``, ready for ``render_notice`` — or None for a
    message gone stale (its milestone done, re-dated or removed since it was queued).

    A notice ``about`` a milestone gets the project's code and title and the milestone's name as they
    stand now; a digest gets its department's figures as of now. One read of the milestones and one
    digest pass for the whole batch; other payloads are returned as they are.
    """
    subjects = await milestone_subjects(session, {
        p[part]["milestone"] for p in payloads for part in ("about", "guard") if "milestone" in p.get(part, ())
    })
    digests = _DigestPass([p["digest"] for p in payloads if "digest" in p])
    await digests.read(session, now)
    completed: list[dict[str, Any] | None] = []
    for payload in payloads:
        # a "guard" (stale check only) is what rows queued by earlier versions carry
        guard = payload.get("about") or payload.get("guard")
        if guard and "milestone" in guard:
            subject = subjects.get(guard["milestone"])
            if (subject is None or subject.done_at is not None
                    or subject.due_at.astimezone(zone).date().isoformat() != guard["due"]):
                completed.append(None)
                continue
            if "about" in payload:
                payload = _about_milestone(payload, subject)
        if "digest" in payload:
            payload = digests.body(payload["digest"], zone)
        completed.append(payload)
    return completed


def _about_milestone(payload: dict[str, Any], m: MilestoneSubject) -> dict[str, Any]:
    values = {
        "code": m.project_code, "title": localized(m.title_zh, m.title_en),
        "milestone": {"t": f"lifecycle.milestone.{m.kind}"}, **payload.get("values", {}),
    }
    # an organization's member opens their project's status, staff its public record
    opens = (run_button("status", f"p{m.project_id}") if payload["about"].get("open") == "status"
             else project_button(m.project_code))
    return {**payload, "values": values, "buttons": [*payload.get("buttons", []), [["remind.open_project", opens]]]}


class _DigestPass:
    """The figures of every department (and the city) that the digests of one batch are for."""

    def __init__(self, digests: list[dict[str, Any]]) -> None:
        self.department_ids = sorted({d["department"] for d in digests if d["department"] is not None})
        self.include_all = any(d["department"] is None for d in digests)
        self.scopes: dict[int | None, DigestScope] = {}
        self.names: dict[int, dict[str, str]] = {}

    async def read(self, session: AsyncSession, now: datetime) -> None:
        if not self.department_ids and not self.include_all:
            return
        self.scopes = await digest_scopes(session, self.department_ids, self.include_all, now,
                                          now + timedelta(days=DIGEST_DAYS), DIGEST_ITEMS)
        departments = select(Department).where(Department.id.in_(self.department_ids))
        self.names = {d.id: localized(d.name_zh, d.name_en) for d in (await session.execute(departments)).scalars()}

    def body(self, digest: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
        scope_id = digest["department"]
        scope_name = self.names.get(scope_id) if scope_id is not None else None
        return _digest_body(self.scopes[scope_id], scope_name, date.fromisoformat(digest["day"]), zone)


def _digest_lines(items: list[DigestItem], total: int, zone: ZoneInfo) -> dict[str, str]:
    lines: dict[str, str] = {}
    for locale in i18n.LOCALES:
        rows = [
            i18n.t(locale, "digest.line", code=item.project_code,
                   title=i18n.name(locale, item.title_zh, item.title_en),
                   milestone=i18n.t(locale, f"lifecycle.milestone.{item.milestone_kind}"),
                   due=i18n.day(locale, item.due_at.astimezone(zone).date()))
            for item in items
        ]
        if total > len(items):
            rows.append(i18n.t(locale, "digest.more", count=total - len(items)))
        lines[locale] = "".join(rows)
    return lines


def _digest_body(scope: DigestScope, scope_name: dict[str, str] | None, today: date, zone: ZoneInfo) -> dict[str, Any]:
    overdue, soon = scope.overdue_items, scope.soon_items
    values = {
        "day": {"day": today.isoformat()},
        "scope": scope_name or {"t": "digest.all_departments"},
        "overdue": scope.overdue, "overdue_lines": _digest_lines(overdue, scope.overdue, zone),
        "soon": scope.due_soon, "soon_lines": _digest_lines(soon, scope.due_soon, zone),
        "days": DIGEST_DAYS, "applications": scope.applications,
    }
    codes = list(dict.fromkeys(item.project_code for item in overdue + soon))[:DIGEST_BUTTONS]
    buttons = [[(code, project_button(code)) for code in codes[i:i + 3]] for i in range(0, len(codes), 3)]
    if scope.applications:
        buttons.append([("digest.open_applications", run_button("review"))])
    key = "digest.body" if not scope.empty else "digest.all_clear"
    return notice_payload(key, values, buttons)
