"""Survey results on a project with 100,000 synthetic responses, against one hand-written SQL aggregate.

Usage:  python bench/survey.py [--responses N] [--pg postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]

Loads the responses (about ten answers each) into a fresh SQLite database, and with --pg into a
throw-away PostgreSQL database on that server, then times ``store.surveys.survey_results`` (every
figure of the survey) and a single ``SELECT item, value_int, count(*) … GROUP BY`` over the same
rows, in the same run. Aims: within 2× of that aggregate, and under 1 s on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from store import surveys
from store.db import create_engine, sessionmaker
from store.migrate import upgrade
from testing.postgres import scratch_database
from testing.surveys import NOW, load_postgres, load_sqlite, seed_project, synthesize

RUNS = 7
BASELINE = text(
    "SELECT a.item, a.value_int, count(*) FROM survey_answers a "
    "JOIN survey_responses r ON r.id = a.response_id WHERE r.survey_id = :survey GROUP BY a.item, a.value_int"
)


@dataclass
class Timing:
    wall: float  # median seconds
    cpu: float  # median CPU seconds of this process (SQLite works in it; PostgreSQL does not)


async def timed(run: Callable[[], Awaitable[object]]) -> Timing:
    await run()  # warm the caches and the statement cache
    walls, cpus = [], []
    for _ in range(RUNS):
        start, cpu = time.perf_counter(), time.process_time()
        await run()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return Timing(statistics.median(walls), statistics.median(cpus))


async def measure(engine: AsyncEngine, project_id: int, survey_id: int) -> tuple[Timing, Timing, surveys.Results]:
    sessions = sessionmaker(engine)
    async with sessions() as s:
        ref = await surveys.find_survey(s, project_id, survey_id)
        assert ref is not None
        results = await surveys.survey_results(s, ref, NOW)

    async def ours() -> None:
        async with sessions() as s:
            await surveys.survey_results(s, ref, NOW)

    async def baseline() -> None:
        async with sessions() as s:
            (await s.execute(BASELINE, {"survey": survey_id})).all()

    return await timed(ours), await timed(baseline), results


def report(backend: str, answers: int, ours: Timing, base: Timing, results: surveys.Results) -> None:
    ratio = ours.wall / base.wall
    within = ratio <= 2 and (backend != "sqlite" or ours.wall < 1)
    cpu = f"  (CPU {ours.cpu * 1000:.0f} ms vs {base.cpu * 1000:.0f} ms)" if backend == "sqlite" else ""
    print(f"{backend:<10} responses {results.responses:>7,}  answers {answers:>9,}  "
          f"results {ours.wall * 1000:7.1f} ms  aggregate {base.wall * 1000:7.1f} ms  ratio {ratio:4.2f}  "
          f"{'ok' if within else 'MISSED'}{cpu}")
    print(f"{'':<10} valid {results.valid_responses:,}  satisfaction {results.satisfaction_rate:.4f}  "
          f"mean {results.mean_score:.2f}  NPS {results.nps:.2f}  margin {results.margin_of_error:.4f}")


async def bench_sqlite(count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="civicbot-bench-") as tmp:
        path = Path(tmp) / "bench.db"
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        try:
            await upgrade(engine)
            project_id, survey_id, closes_at = await seed_project(engine)
            await engine.dispose()  # the bulk load goes through sqlite3 directly
            data = synthesize(count, project_id, survey_id, closes_at)
            load_sqlite(path, data)
            ours, base, results = await measure(engine, project_id, survey_id)
        finally:
            await engine.dispose()
    report("sqlite", len(data.answers), ours, base, results)


async def bench_postgres(server: str, count: int) -> None:
    async with scratch_database(server) as url:
        engine = create_engine(url)
        try:
            await upgrade(engine)
            project_id, survey_id, closes_at = await seed_project(engine)
            data = synthesize(count, project_id, survey_id, closes_at)
            await load_postgres(url, data)
            ours, base, results = await measure(engine, project_id, survey_id)
        finally:
            await engine.dispose()
    report("postgresql", len(data.answers), ours, base, results)


async def run(args: argparse.Namespace) -> None:
    await bench_sqlite(args.responses)
    if args.pg:
        await bench_postgres(args.pg, args.responses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--pg", metavar="URL", help="PostgreSQL server to create a throw-away database on")
    args = parser.parse_args()
    print(f"survey results, {args.responses:,} responses, median of {RUNS} runs (ratio = results ÷ one GROUP BY)")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
