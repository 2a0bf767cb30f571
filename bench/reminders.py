"""Reminder rule evaluation over a city-sized database, against one plain SQL query selecting the due milestones.

Usage: python bench/reminders.py [--projects 100000] [--repeat 5] [--pg [URL]]

Builds the database the way an operator would: a synthetic package (store.synth, "today" a Friday)
loaded with the importer, then one bound member per organization (a third reading English) and two
staff per department, whose staff were alerted of every milestone due before the busy tick as the service
running all along would have done (PostgreSQL is then VACUUMed and ANALYZEd, as autovacuum soon would). Then,
on SQLite (and PostgreSQL with --pg; URL defaults to CIVICBOT_TEST_DATABASE_URL), measured in the same run,
best of --repeat:

- evaluation: ``bot.reminders.evaluate_rules`` at the busiest tick of a day — Monday 09:00:30 with the
  previous tick at 08:59:30, so every milestone with a reminder moment at today's send hour (14, 7,
  3, 1, 0 days before and every 3 days overdue), every overdue alert and every staff digest is due:
  lease, reading, queuing every message, watermark, commit. The queued rows are deleted between
  repetitions (not timed; on PostgreSQL the outbox is then VACUUMed, as a service never queues a key
  again over its deleted row);
- baseline: the tick's SELECT — one plain SQL query for what the tick queues, read instead of written:
  the open milestones of running projects due for a reminder at that tick, once per reachable member of
  the project's organization (milestone, member), in its faster form. For reference, the narrower query
  earlier versions compared with: the due milestones alone (open, due on one of the days concerned; no
  project, no recipient); and, since a digest reads every open milestone overdue or due within 14 days,
  one plain query for all of those too;
- the busy tick in parts: the reminders' SELECT alone (rules decided, rows fanned out to members and
  payloads built, but not written); and what the tick leaves to sending — reminders are queued as
  references to their milestone and digests as department + day, completed by the dispatcher just
  before rendering (``complete_notices``): that cost for the tick's messages, in the dispatcher's batches;
- a quiet tick (10:00:30, nothing at the send hour): what every other minute of the day costs.

Reported: milliseconds (and process CPU on SQLite, where the database runs in-process: steadier on
a busy machine), rows, and the ratios (aim: ≤ 3×, and under 2 s on SQLite).

The dispatch part of the issue's benchmark (3,000 queued messages to 3,000 chats through the Telegram
fake with its 30 msg/s limit on) plugs in at ``dispatch_rate``: it queues the messages and drives the
real dispatcher through any ``Sender``. Here it runs with an in-process sender that returns at once —
the dispatcher's own ceiling; the Telegram-fake run is left to the Telegram channel's benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Select, and_, delete, func, insert, or_, select, text, union_all, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.outbox import Dispatcher, RetryPolicy
from bot.reminders import WATERMARK, evaluate_rules
from dialogs.notices.complete import complete_notices
from dialogs.reminders import RuleSettings, reminder_days, window_start
from dialogs.types import Reply
from store import models as m
from store.db import create_engine, sessionmaker, transaction
from store.importer import import_package
from store.leases import set_watermark
from store.migrate import upgrade
from store.notices import Notice, decode
from store.outbox import Outgoing, enqueue
from store.reminders import Schedule, reminder_rows
from store.synth import write_synthetic_package
from store.workdays import WorkCalendar
from testing.postgres import scratch_database

ZONE = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 11, 27)  # the package's "today": a Friday
BUSY_TICK = datetime(2026, 11, 30, 9, 0, 30, tzinfo=ZONE).astimezone(UTC)  # Monday, just after the send hour
QUIET_TICK = datetime(2026, 11, 30, 10, 0, 30, tzinfo=ZONE).astimezone(UTC)
TICK = timedelta(seconds=60)
RULES = RuleSettings(Schedule(ZONE, datetime.strptime("09:00", "%H:%M").time()), WorkCalendar())


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


async def build(url: str, package: Path) -> dict[str, float]:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        started = time.perf_counter()
        await import_package(engine, package, zone=ZONE, now=BUSY_TICK - timedelta(days=3), actor="bench")
        imported = time.perf_counter() - started
        await add_people(engine)
        await alerted_before(engine, BUSY_TICK - TICK)
        if engine.dialect.name == "postgresql":
            # what autovacuum does shortly after a big import and alerted_before's UPDATE of every past
            # milestone: without statistics the planner guesses, and without VACUUM every scan of milestones
            # also visits the dead versions of half of them (this bench's server may run without autovacuum)
            await _vacuum(engine, "VACUUM ANALYZE")
    finally:
        await engine.dispose()
    return {"import_s": imported}


async def add_people(engine: AsyncEngine) -> None:
    """One member per organization (every third reads English) and two staff per department."""
    async with transaction(sessionmaker(engine)) as s:
        orgs = (await s.execute(select(m.Organization.id).order_by(m.Organization.id))).scalars().all()
        departments = (await s.execute(select(m.Department.id))).scalars().all()
        created = BUSY_TICK - timedelta(days=30)
        people: list[dict[str, Any]] = [
            {"channel": "bench", "external_id": f"org{org}", "role": "org", "organization_id": org,
             "locale": "en" if n % 3 == 0 else None, "unreachable": False, "created_at": created}
            for n, org in enumerate(orgs)
        ]
        people += [
            {"channel": "bench", "external_id": f"staff{d}-{k}", "role": "staff", "department_id": d,
             "locale": None, "unreachable": False, "created_at": created}
            for d in departments for k in (1, 2)
        ]
        for start in range(0, len(people), 2000):
            await s.execute(insert(m.Identity), people[start:start + 2000])


async def alerted_before(engine: AsyncEngine, moment: datetime) -> None:
    """As the service running all along left them: staff were alerted of every milestone due before ``moment``
    when it fell due."""
    async with transaction(sessionmaker(engine)) as s:
        await s.execute(update(m.Milestone).where(m.Milestone.due_at < moment).values(alerted_due_at=m.Milestone.due_at))


async def _vacuum(engine: AsyncEngine, sql: str) -> None:
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(sql))


async def clear_outbox(engine: AsyncEngine) -> None:
    """Delete every queued message (not timed). On PostgreSQL the outbox is then VACUUMed: queuing the same
    keys again over their dead rows makes every unique check visit them, which a service never does (its
    keys are new every day, and autovacuum runs)."""
    async with transaction(sessionmaker(engine)) as s:
        await s.execute(delete(m.OutboxMessage))
    if engine.dialect.name == "postgresql":
        await _vacuum(engine, "VACUUM outbox")


def due_ranges(now: datetime) -> list[tuple[datetime, datetime]]:
    after = now - TICK
    days = RULES.schedule.send_days(after, now)
    ranges = RULES.schedule.due_ranges(days) if days else []
    return [*ranges, (after + timedelta(microseconds=1), now + timedelta(microseconds=1))]


def _recipients(stmt: Select[Any]) -> Select[Any]:
    """``stmt`` (over milestones) for running projects, once per reachable member of the organization."""
    return (stmt.join(m.Project, m.Project.id == m.Milestone.project_id)
            .join(m.Identity, and_(m.Identity.organization_id == m.Project.organization_id, m.Identity.role == "org",
                                   m.Identity.unreachable.is_(False)))
            .where(m.Project.status.not_in(("closed", "terminated"))))


async def baseline(engine: AsyncEngine, now: datetime, *, recipients: bool = True) -> tuple[float, float, int]:
    """The tick's SELECT: one plain query for the (milestone, member) pairs the tick queues reminders for,
    in its faster form (ORed ranges, or one SELECT per range); with ``recipients`` False, the due milestones
    alone. Wall and CPU seconds, rows."""
    columns = ((m.Milestone.id, m.Identity.id) if recipients
               else (m.Milestone.id, m.Milestone.project_id, m.Milestone.kind, m.Milestone.due_at))
    widen = _recipients if recipients else (lambda stmt: stmt)
    ranges = due_ranges(now)
    ored = widen(select(*columns).where(m.Milestone.done_at.is_(None), or_(
        *[and_(m.Milestone.due_at >= lo, m.Milestone.due_at < hi) for lo, hi in ranges])))
    unioned = union_all(*[
        widen(select(*columns).where(m.Milestone.done_at.is_(None), m.Milestone.due_at >= lo,
                                     m.Milestone.due_at < hi))
        for lo, hi in ranges
    ])
    best, best_cpu, rows = float("inf"), float("inf"), 0
    async with sessionmaker(engine)() as s:
        for stmt in (ored, unioned):
            started, cpu = time.perf_counter(), time.process_time()
            found = (await s.execute(stmt)).all()
            best = min(best, time.perf_counter() - started)
            best_cpu = min(best_cpu, time.process_time() - cpu)
            rows = len(found)
    return best, best_cpu, rows


async def baseline_all(engine: AsyncEngine, now: datetime) -> tuple[float, float, int]:
    """One plain query for every open milestone some rule of the tick reads: those with a reminder moment
    now, and the digest's — overdue or due within 14 days (wall and CPU seconds, rows)."""
    until = max([now + timedelta(days=14), *(hi for _, hi in due_ranges(now))])
    stmt = select(m.Milestone.id, m.Milestone.project_id, m.Milestone.kind, m.Milestone.due_at).where(
        m.Milestone.done_at.is_(None), m.Milestone.due_at < until)
    async with sessionmaker(engine)() as s:
        started, cpu = time.perf_counter(), time.process_time()
        rows = len((await s.execute(stmt)).all())
        return time.perf_counter() - started, time.process_time() - cpu, rows


async def evaluation(engine: AsyncEngine, now: datetime, *, keep: bool = False) -> tuple[float, float, int]:
    """One timed evaluation of the tick ending at ``now`` (wall and CPU seconds, messages queued); its
    messages are then deleted unless ``keep``."""
    sessions = sessionmaker(engine)
    async with transaction(sessions) as s:
        await set_watermark(s, WATERMARK, now - TICK)
        assert window_start(now - TICK, now) == now - TICK
    started, cpu = time.perf_counter(), time.process_time()
    result = await evaluate_rules(sessions, RULES, now)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert result is not None
    if not keep:
        await clear_outbox(engine)
    return elapsed, cpu, result.queued


async def parts(engine: AsyncEngine, now: datetime) -> dict[str, float]:
    """Where the busy tick's time goes, and what it leaves to sending: the reminders' SELECT alone (rules
    decided, rows fanned out, keys and payloads built, but counted instead of written); then, with the
    tick's messages queued, completing them as the dispatcher does before rendering (``complete_notices``
    in its batches): the reminders (project, title, stale check) and the digests (their one pass)."""
    rows = reminder_rows().subquery()
    # summing the keys' lengths makes the database build every key, as the INSERT does (the payload is
    # one constant of the day, its milestone a column)
    built = select(func.count(), func.sum(func.length(rows.c.dedup_key) + rows.c.milestone_id))
    sessions = sessionmaker(engine)
    async with sessions() as s:
        started = time.perf_counter()
        for due_day in reminder_days(RULES.schedule, now, now - TICK):  # one run per due day, as the rule does
            await s.execute(built, due_day.params)
        fan_out = time.perf_counter() - started
    await evaluation(engine, now, keep=True)
    batch = RetryPolicy().batch
    async with sessions() as s:
        queued = (await s.execute(select(m.OutboxMessage.kind, m.OutboxMessage.payload, m.OutboxMessage.milestone_id)
                                  .order_by(m.OutboxMessage.id))).all()
        reminders = [decode(kind, p, ref) for kind, p, ref in queued if kind != "digest"]
        digests = [decode(kind, p, ref) for kind, p, ref in queued if kind == "digest"]
        started = time.perf_counter()
        for i in range(0, len(reminders), batch):
            await complete_notices(s, reminders[i:i + batch], ZONE, now)
        completing = time.perf_counter() - started
        started = time.perf_counter()
        await complete_notices(s, digests, ZONE, now)
        digest = time.perf_counter() - started
    await clear_outbox(engine)
    return {"fan_out_s": fan_out, "complete_s": completing, "completed": len(reminders), "digest_s": digest,
            "digests": len(digests)}


async def measure(url: str, repeat: int) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        async with sessionmaker(engine)() as s:
            milestones = await s.scalar(select(func.count()).select_from(m.Milestone))
            projects = await s.scalar(select(func.count()).select_from(m.Project))
        await evaluation(engine, BUSY_TICK)  # warm-up: statement caches, page cache
        await baseline(engine, BUSY_TICK)
        out: dict[str, Any] = {"projects": projects, "milestones": milestones}
        for label, now in (("busy", BUSY_TICK), ("quiet", QUIET_TICK)):
            if label == "quiet":  # later in the day, the morning's messages (digests included) are queued
                await evaluation(engine, BUSY_TICK, keep=True)
            evals = [await evaluation(engine, now, keep=label == "quiet") for _ in range(repeat)]
            bases = [await baseline(engine, now) for _ in range(repeat)]
            narrow = [await baseline(engine, now, recipients=False) for _ in range(repeat)]
            if label == "busy":
                split = [await parts(engine, now) for _ in range(repeat)]
                out["parts"] = {k: min(p[k] for p in split) for k in split[0]}
                wide = [await baseline_all(engine, now) for _ in range(repeat)]
                out["wide"] = {"baseline_s": min(w[0] for w in wide), "baseline_cpu_s": min(w[1] for w in wide),
                               "milestones": wide[0][2]}
            out[label] = {
                "evaluation_s": min(e[0] for e in evals), "evaluation_cpu_s": min(e[1] for e in evals),
                "queued": evals[0][2], "baseline_s": min(b[0] for b in bases),
                "baseline_cpu_s": min(b[1] for b in bases), "due_reminders": bases[0][2],
                "milestones_s": min(b[0] for b in narrow), "milestones_cpu_s": min(b[1] for b in narrow),
                "due_milestones": narrow[0][2],
            }
        await clear_outbox(engine)
        out["dispatch"] = await dispatch_rate(engine, InstantSender(), 3000)
    finally:
        await engine.dispose()
    return out


# --- dispatch ------------------------------------------------------------------------------------

class InstantSender:
    """Accepts every message at once: what the dispatcher itself costs per message."""

    channels = frozenset({"bench"})

    async def send(self, identity_channel: str, external_id: str, reply: Reply) -> None:
        return None


async def dispatch_rate(engine: AsyncEngine, sender: Any, messages: int,
                        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> dict[str, float]:
    """HOOK for the Telegram-fake benchmark: queue ``messages`` notices to as many chats, dispatch them
    through ``sender`` (any ``bot.sending.Sender``; e.g. the Telegram channel's, pointed at the fake with
    its 30 msg/s limit on) and return the achieved rate."""
    sessions = sessionmaker(engine)
    async with transaction(sessions) as s:
        recipients = (await s.execute(
            select(m.Identity.id).where(m.Identity.channel.in_(sender.channels)).limit(messages)
        )).scalars().all()
        await enqueue(s, [
            Outgoing(identity_id, f"bench:dispatch:{identity_id}",
                     Notice("notify.publicized", {"code": "B", "title": "T"}, kind="status"))
            for identity_id in recipients
        ], QUIET_TICK)
    dispatcher = Dispatcher(sessions, sender, zone=ZONE, default_locale="zh-Hans", quiet=None,
                            policy=RetryPolicy(batch=50), sleep=sleep)
    started = time.perf_counter()
    counts = await dispatcher.dispatch(QUIET_TICK)
    elapsed = time.perf_counter() - started
    await clear_outbox(engine)
    return {"messages": counts.sent, "seconds": elapsed, "per_second": counts.sent / elapsed if elapsed else 0.0}


# --- running -------------------------------------------------------------------------------------

def report(backend: str, built: dict[str, float], result: dict[str, Any], *, cpu: bool) -> None:
    """``cpu``: also show process CPU time, a fair measure on a busy machine when the database runs
    in-process (SQLite); PostgreSQL's work happens in the server, so only wall time means anything there."""
    print(f"\n{backend}: {result['projects']:,} projects, {result['milestones']:,} milestones "
          f"(import {built['import_s']:.1f} s)")
    for label in ("busy", "quiet"):
        r = result[label]
        tick = "09:00:30 (every rule due)" if label == "busy" else "10:00:30 (an ordinary minute)"
        print(f"  tick {tick}")
        print(f"    evaluation {_ms(r['evaluation_s'])}" + (f" ({_ms(r['evaluation_cpu_s'])} CPU)" if cpu else "")
              + f"   queued {r['queued']:,} messages")
        print(f"    baseline   {_ms(r['baseline_s'])}" + (f" ({_ms(r['baseline_cpu_s'])} CPU)" if cpu else "")
              + f"   {r['due_reminders']:,} reminders due (milestone × member of a running project; one plain query)")
        if r["due_reminders"]:
            ratio = f"{r['evaluation_s'] / r['baseline_s']:.2f} × wall"
            if cpu and r["baseline_cpu_s"]:
                ratio += f", {r['evaluation_cpu_s'] / r['baseline_cpu_s']:.2f} × CPU"
            print(f"    ratio      {ratio}")
            narrow = f"{r['evaluation_s'] / r['milestones_s']:.2f} × wall"
            if cpu and r["milestones_cpu_s"]:
                narrow += f", {r['evaluation_cpu_s'] / r['milestones_cpu_s']:.2f} × CPU"
            print(f"    (the due milestones alone, no project or recipient: {_ms(r['milestones_s'])}"
                  + (f" ({_ms(r['milestones_cpu_s'])} CPU)" if cpu else "")
                  + f", {r['due_milestones']:,} rows: {narrow})")
        else:
            print("    ratio      n/a (nothing due: the evaluation's fixed cost is lease, watermark, commit)")
    p, w, busy = result["parts"], result["wide"], result["busy"]
    base = busy["baseline_s"]
    print(f"  busy tick, in parts: the reminders' SELECT (rules, fan-out, payloads; not written) "
          f"{_ms(p['fan_out_s'])} = {p['fan_out_s'] / base:.2f} ×; the rest is writing {busy['queued']:,} "
          f"outbox rows, alerts, the digests' queue, lease and commit")
    print(f"  left to sending (the dispatcher, paced at 30 msg/s by Telegram): completing {p['completed']:,} reminders "
          f"in batches of {RetryPolicy().batch} {_ms(p['complete_s'])} in all "
          f"({p['complete_s'] / max(p['completed'], 1) * 1e6:.0f} µs each); the {p['digests']} digests' one pass "
          f"{_ms(p['digest_s'])}")
    wide = f"{busy['evaluation_s'] / w['baseline_s']:.2f} × wall"
    if cpu and w["baseline_cpu_s"]:
        wide += f", {busy['evaluation_cpu_s'] / w['baseline_cpu_s']:.2f} × CPU"
    print(f"  busy tick against one plain query for every milestone its rules read (reminders' and the digest's, "
          f"{w['milestones']:,} rows: {_ms(w['baseline_s'])}" + (f" ({_ms(w['baseline_cpu_s'])} CPU)" if cpu else "")
          + f"): {wide}")
    d = result["dispatch"]
    print(f"  dispatcher ceiling (instant sender): {d['messages']:,} messages in {d['seconds']:.2f} s = "
          f"{d['per_second']:,.0f} msg/s (Telegram's limit: 30 msg/s)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pg", nargs="?", const="", default=None, metavar="URL",
                        help="also PostgreSQL, on this server (default: CIVICBOT_TEST_DATABASE_URL)")
    args = parser.parse_args()
    if args.pg == "":
        args.pg = os.environ.get("CIVICBOT_TEST_DATABASE_URL") or parser.error(
            "--pg needs a server URL (or CIVICBOT_TEST_DATABASE_URL)")
    with tempfile.TemporaryDirectory(prefix="civicbot-bench-") as tmp:
        package = Path(tmp) / "package"
        started = time.perf_counter()
        write_synthetic_package(package, args.projects, seed=7, today=TODAY)
        print(f"synthetic package of {args.projects:,} projects written in {time.perf_counter() - started:.1f} s")
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        built = await build(url, package)
        report("SQLite", built, await measure(url, args.repeat), cpu=True)
        if args.pg:
            async with scratch_database(args.pg) as pg:
                built = await build(pg, package)
                report("PostgreSQL", built, await measure(pg, args.repeat), cpu=False)


if __name__ == "__main__":
    asyncio.run(main())
