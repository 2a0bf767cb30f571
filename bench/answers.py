"""Public answers on a 100,000-project synthetic database: p95 answer time against the bare SQL it runs;
and the accuracy of answers to typed questions on the demo city and a synthetic one.

Usage: python bench/answers.py [--projects 100000] [--rounds 40] [--db URL] [--json]
                               [--accuracy-projects 200] [--no-accuracy] [--accuracy-only]

Writes a synthetic package (store.synth) and loads it with the real importer into a fresh SQLite
database (or into the empty database at ``--db``; a database that already holds projects is used as
it is, so a loaded one can be reused between runs). For each representative question, the query flow
answers it inside one transaction as in a turn (payload decoded, names resolved, the page rendered in
Chinese). The SQL statements that answer issued are recorded and, in the same run and in alternation
with the answer, replayed bare on the driver connection inside one transaction: that is the floor
under the answer. Answers whose SQL takes under 20 ms get five times the rounds, so their p95 is not
one unlucky scheduling slice. The ratio of the p95s is the price of the flow over its own queries (aim ≤ 2×).
The whole engine turn (conversation row lock, de-duplication, state save) is shown next to it.

Accuracy: the question sets of testing/question_set.py — every district, category, organization and project
× every attribute, in Chinese, Traditional Chinese and English with paraphrase templates, generated over
the demo package and over a synthetic package of ``--accuracy-projects`` projects, plus the hand-written
colloquial questions — each asked as a new person through the engine with the real NLU, and judged by
what the answer is about (the right project, district, organization or category and the right answer
for the attribute). Prints the accuracy of each set (aim ≥ 0.95) and the free-text turn time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from dialogs.context import Context, DialogSettings, State
from dialogs.flows.query import QueryFlow
from dialogs.questions import Question, decode, encode
from dialogs.registry import build_engine
from dialogs.types import Incoming
from dialogs.understanding import Understanding
from store import models as m
from store.conversations import ensure_identity
from store.db import create_engine, sessionmaker
from store.demo import write_demo_package
from store.importer import import_package
from store.migrate import upgrade
from store.synth import write_synthetic_package
from testing import question_set

ZONE = ZoneInfo("Asia/Shanghai")
QUICK = 0.02  # seconds: answers whose bare SQL is quicker get five times the rounds


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def load(db: AsyncEngine, projects: int, now: datetime) -> str:
    async with db.connect() as conn:
        existing = await conn.scalar(select(func.count()).select_from(m.Project))
    if existing:
        return f"reusing a database with {existing} projects"
    with tempfile.TemporaryDirectory(prefix="civicbot-synth-") as tmp:
        started = time.perf_counter()
        write_synthetic_package(Path(tmp), projects, today=now.astimezone(ZONE).date())
        written = time.perf_counter() - started
        await import_package(db, Path(tmp), zone=ZONE, now=now, actor="bench")
    return f"{projects} projects written in {written:.1f} s, imported in {time.perf_counter() - started - written:.1f} s"


async def questions(sessions: async_sessionmaker[AsyncSession], now: datetime) -> dict[str, Question]:
    """Representative questions, with names taken from the data."""
    year = now.astimezone(ZONE).year
    async with sessions() as s:
        district = await s.scalar(select(m.Project.district).group_by(m.Project.district)
                                  .order_by(func.count().desc()).limit(1))
        level1 = await s.scalar(select(m.CatalogItem.level1_zh).order_by(m.CatalogItem.code).limit(1))
        paid = await s.scalar(select(m.Project.code).join(m.Disbursement, m.Disbursement.project_id == m.Project.id)
                              .join(m.ProgressUpdate, m.ProgressUpdate.project_id == m.Project.id)
                              .where(m.Disbursement.installment == 2, m.ProgressUpdate.public.is_(True)).limit(1))
        surveyed = await s.scalar(select(m.Project.code).join(m.SurveyResponse, m.SurveyResponse.project_id == m.Project.id)
                                  .limit(1))
        running = await s.scalar(select(m.Project.code).where(m.Project.status == "in_progress").limit(1))
        uscc = await s.scalar(select(m.Organization.uscc).where(m.Organization.rating == "5A").limit(1))
    return {
        "projects: district + category": Question("query_projects", district=district, level1=level1),
        "projects: year + status, page 20": Question("query_projects", year=year, statuses=("closed",), page=20),
        "one project's record": Question("query_projects", project=paid),
        "funding: tranches of a project": Question("query_funding", project=paid),
        "funding: totals of a district": Question("query_funding", district=district),
        "progress + inspections": Question("query_progress", project=paid),
        "satisfaction (disclosure rule)": Question("query_satisfaction", project=surveyed),
        "evaluation: grades + excellent": Question("query_evaluation"),
        "budget of the year": Question("query_budget"),
        "catalog of the year": Question("query_catalog"),
        "qualified list: district + 4A+": Question("query_organizations", district=district, rating="4A+"),
        "one organization": Question("query_organizations", organization=uscc),
        "call windows": Question("query_deadline"),
        "next milestones of a project": Question("query_deadline", project=running),
    }


@dataclass
class Recorder:
    """Collects the statements the database driver receives while ``on``."""

    on: bool = False
    statements: list[tuple[str, Any]] = field(default_factory=list)

    def __call__(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if self.on and not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            self.statements.append((statement, parameters))


async def timed(action: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await action()
    return time.perf_counter() - started


async def run(url: str | None, projects: int, rounds: int, as_json: bool) -> None:
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="civicbot-bench-") as tmp:
        db = create_engine(url or f"sqlite+aiosqlite:///{tmp}/answers.db")
        await upgrade(db)
        origin = await load(db, projects, now)
        sessions = sessionmaker(db)
        settings = DialogSettings()
        flow = QueryFlow()
        engine = build_engine(sessions, settings, clock=lambda: now)
        async with sessions() as s, s.begin():
            identity = await ensure_identity(s, "bench", "reader", now)
        asked = await questions(sessions, now)
        recorder = Recorder()
        event.listen(db.sync_engine, "before_cursor_execute", recorder)

        async def answer(question: Question) -> None:
            async with sessions() as s, s.begin():
                ctx = Context(session=s, identity=await s.get(m.Identity, identity.id), state=State(), locale="zh-Hans",
                              now=now, settings=settings, incoming=Incoming("bench", "reader", "x"))
                await flow.answer(ctx, question)
                assert ctx.replies

        async def bare(statements: list[tuple[str, Any]]) -> None:
            async with db.connect() as conn, conn.begin():
                for statement, parameters in statements:
                    await conn.exec_driver_sql(statement, parameters)

        turns = iter(range(10**9))
        run_id = secrets.token_hex(4)  # a reused database remembers the message ids it has handled

        async def turn(question: Question) -> None:
            payload = f"g:run:query:{encode(question)}"
            replies = await engine.handle(Incoming("bench", "reader", f"{run_id}-{next(turns)}", button=payload))
            assert replies

        results = []
        for name, question in asked.items():
            assert decode(encode(question)) == question
            recorder.statements, recorder.on = [], True
            await answer(question)
            recorder.on = False
            statements = list(recorder.statements)
            warm = []
            for _ in range(3):  # warm caches (statement compilation, the page cache)
                await answer(question), await turn(question)
                warm.append(await timed(lambda s=statements: bare(s)))
            # A p95 of quick answers needs more samples to stand above scheduling noise.
            samples = rounds * 5 if min(warm) < QUICK else rounds
            times: dict[str, list[float]] = {"answer": [], "bare": [], "turn": []}
            for _ in range(samples):
                times["bare"].append(await timed(lambda s=statements: bare(s)))
                times["answer"].append(await timed(lambda q=question: answer(q)))
                times["turn"].append(await timed(lambda q=question: turn(q)))
            results.append({
                "answer": name,
                "queries": len(statements),
                "samples": samples,
                **{f"{k}_p50_ms": round(statistics.median(v) * 1000, 2) for k, v in times.items()},
                **{f"{k}_p95_ms": round(pct(v, 0.95) * 1000, 2) for k, v in times.items()},
                "ratio_p50": round(statistics.median(times["answer"]) / statistics.median(times["bare"]), 2),
                "ratio_p95": round(pct(times["answer"], 0.95) / pct(times["bare"], 0.95), 2),
                "turn_ratio_p95": round(pct(times["turn"], 0.95) / pct(times["bare"], 0.95), 2),
            })
        await db.dispose()

    if as_json:
        print(json.dumps({"database": db.dialect.name, "data": origin, "rounds": rounds, "results": results},
                         ensure_ascii=False, indent=2))
        return
    print(f"{db.dialect.name}: {origin}; {rounds} rounds per answer ({rounds * 5} for quick ones), in alternation")
    print(f"{'answer':34} {'SQL':>4} {'bare p95':>9} {'answer p95':>11} {'ratio':>6} {'(p50)':>6} {'turn p95':>9}"
          f" {'turn ratio':>10}")
    for r in results:
        print(f"{r['answer']:34} {r['queries']:>4} {r['bare_p95_ms']:>7.2f}ms {r['answer_p95_ms']:>9.2f}ms "
              f"{r['ratio_p95']:>5.2f}x {r['ratio_p50']:>5.2f}x {r['turn_p95_ms']:>7.2f}ms {r['turn_ratio_p95']:>9.2f}x")
    worst = max(results, key=lambda r: r["ratio_p95"])
    print(f"worst answer/bare-SQL ratio at p95: {worst['ratio_p95']:.2f}x ({worst['answer']}); aim ≤ 2x")


async def accuracy(projects: int, as_json: bool) -> None:
    """The question sets asked through the engine on the demo city and on a synthetic one."""
    now = datetime.now(UTC)
    today = now.astimezone(ZONE).date()
    results = []
    with tempfile.TemporaryDirectory(prefix="civicbot-accuracy-") as tmp:
        for city in ("demo", "synthetic"):
            folder = Path(tmp) / city
            if city == "demo":
                write_demo_package(folder, today)
            else:
                write_synthetic_package(folder, projects, today=today)
            db = create_engine(f"sqlite+aiosqlite:///{tmp}/{city}.db")
            await upgrade(db)
            await import_package(db, folder, zone=ZONE, now=now, actor="bench")
            sessions = sessionmaker(db)
            understanding = Understanding(sessions, clock=lambda: now)
            await understanding.prepare()
            engine = build_engine(sessions, DialogSettings(), understand=understanding, clock=lambda: now)
            names = await question_set.city_names(sessions, today.year)
            sets = {"generated": question_set.generate(names)}
            if city == "demo":
                sets["colloquial"] = question_set.colloquial(names)
                sets["colloquial, held out"] = question_set.colloquial(names, question_set.HELD_OUT)
                sets["colloquial, 3rd batch"] = question_set.colloquial(names, question_set.UNTUNED)
                sets["colloquial, final"] = question_set.colloquial(names, question_set.FINAL)
            for name, asked in sets.items():
                score = await question_set.score(engine, sessions, asked, run=f"{city}-{name}")
                times = [v.seconds for v in score.verdicts]
                results.append({
                    "city": city, "set": name, "questions": len(asked), "accuracy": round(score.accuracy, 4),
                    "by_kind": {k: f"{r}/{n}" for k, (r, n) in sorted(score.by_kind().items())},
                    "turn_p50_ms": round(statistics.median(times) * 1000, 2),
                    "turn_p95_ms": round(pct(times, 0.95) * 1000, 2),
                    "wrong": [f"{v.asked.text} -> {v.got}" for v in score.wrong()[:10]],
                })
            await db.dispose()
    if as_json:
        print(json.dumps({"accuracy": results}, ensure_ascii=False, indent=2))
        return
    print(f"\naccuracy of typed questions (synthetic city: {projects} projects); aim ≥ 0.95")
    print(f"{'city':10} {'set':22} {'questions':>9} {'accuracy':>9} {'turn p50':>9} {'turn p95':>9}")
    for r in results:
        print(f"{r['city']:10} {r['set']:22} {r['questions']:>9} {r['accuracy']:>9.3f} {r['turn_p50_ms']:>7.2f}ms"
              f" {r['turn_p95_ms']:>7.2f}ms")
        for wrong in r["wrong"][:5]:
            print(f"    wrong: {wrong}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file in a temporary folder)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--accuracy-projects", type=int, default=200,
                        help="projects of the synthetic city the question set is generated over")
    parser.add_argument("--no-accuracy", action="store_true", help="measure answer times only")
    parser.add_argument("--accuracy-only", action="store_true", help="measure the accuracy only")
    args = parser.parse_args()
    if not args.accuracy_only:
        asyncio.run(run(args.db, args.projects, args.rounds, args.json))
    if not args.no_accuracy:
        asyncio.run(accuracy(args.accuracy_projects, args.json))


if __name__ == "__main__":
    main()
