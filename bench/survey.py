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
import random
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from store import models as m
from store import surveys
from store.db import create_engine, sessionmaker
from store.migrate import upgrade

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
RUNS = 7
BASELINE = text(
    "SELECT a.item, a.value_int, count(*) FROM survey_answers a "
    "JOIN survey_responses r ON r.id = a.response_id WHERE r.survey_id = :survey GROUP BY a.item, a.value_int"
)
SCALES = ("needs_met", "attitude", "skill", "convenience", "helpfulness", "responsiveness")
AGES = ("under_18", "18_59", "60_79", "80_plus")

Row = tuple[Any, ...]


@dataclass
class Data:
    invitations: list[Row]  # (survey, token hash, expires, used on, created)
    responses: list[Row]  # (id, key, project, survey, day)
    answers: list[Row]  # (response, item, int, text)


def synthesize(count: int, project_id: int, survey_id: int, closes_at: datetime, seed: int = 1) -> Data:
    """``count`` responses with about ten answers each, like real ones, and 10 % more invitations."""
    rng = random.Random(seed)
    responses: list[Row] = []
    answers: list[Row] = []
    first = date(2026, 11, 1)
    invitations = [
        (survey_id, secrets.token_hex(32), closes_at, first + timedelta(days=n % 28) if n < count else None, NOW)
        for n in range(count + count // 10)
    ]
    for rid in range(1, count + 1):
        responses.append((rid, secrets.token_hex(16), project_id, survey_id, first + timedelta(days=rid % 28)))
        overall = rng.choices((5, 4, 3, 2, 1), (50, 30, 12, 5, 3))[0]
        for item in SCALES:
            if rng.random() < 0.92:
                answers.append((rid, item, min(5, max(1, overall + rng.randint(-1, 1))), None))
        if rng.random() < 0.98:  # a few responses leave the overall item out: not valid
            answers.append((rid, "overall", overall, None))
        if rng.random() < 0.8:
            answers.append((rid, "recommend", min(10, max(0, overall * 2 + rng.randint(-2, 0))), None))
        if overall <= 2 and rng.random() < 0.5:
            answers.append((rid, "what_went_wrong", None, "等待时间太长，约好的时间没有人来"))
        if rng.random() < 0.1:
            answers.append((rid, "suggestion", None, "希望增加周末的活动"))
        if rng.random() < 0.5:
            answers.append((rid, "age_group", None, rng.choice(AGES)))
        if rng.random() < 0.4:
            answers.append((rid, "sessions", rng.randint(1, 30), None))
    return Data(invitations, responses, answers)


async def seed_project(engine: AsyncEngine) -> tuple[int, int, datetime]:
    """One department, catalog item, organization, project and open survey."""
    async with sessionmaker(engine)() as s, s.begin():
        dept = m.Department(code="BENCH", name_zh="基准测试局")
        s.add(dept)
        await s.flush()
        item = m.CatalogItem(year=2026, code="B01", level1_zh="养老服务", name_zh="居家养老", department_id=dept.id)
        org = m.Organization(uscc="52440305MA5F000001", name_zh="基准服务中心", kind="social_service_org")
        s.add_all([item, org])
        await s.flush()
        project = m.Project(code="BENCH-001", year=2026, title_zh="基准项目", catalog_item_id=item.id,
                            organization_id=org.id, department_id=dept.id, recipients=150_000, amount_fen=1,
                            status="closing", start_on=date(2026, 1, 1), end_on=date(2026, 12, 31))
        s.add(project)
        await s.flush()
        survey = await surveys.open_survey(s, project.id, NOW - timedelta(days=30), NOW + timedelta(days=30))
        return project.id, survey.id, survey.closes_at


INVITATION_COLUMNS = ["survey_id", "token_hash", "expires_at", "used_on", "created_at"]
RESPONSE_COLUMNS = ["id", "response_key", "project_id", "survey_id", "submitted_on"]
ANSWER_COLUMNS = ["response_id", "item", "value_int", "value_text"]


def load_sqlite(path: Path, data: Data) -> None:
    """Bulk insert with sqlite3 itself, in the text formats SQLAlchemy writes (datetimes naive UTC)."""
    def iso(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return value.isoformat() if isinstance(value, date) else value

    with sqlite3.connect(path) as db:
        for table, columns, rows in (("survey_invitations", INVITATION_COLUMNS, data.invitations),
                                     ("survey_responses", RESPONSE_COLUMNS, data.responses),
                                     ("survey_answers", ANSWER_COLUMNS, data.answers)):
            marks = ", ".join("?" for _ in columns)
            db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                           [tuple(iso(v) for v in row) for row in rows])
        db.execute("ANALYZE")


async def load_postgres(url: str, data: Data) -> None:
    conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await conn.copy_records_to_table("survey_invitations", records=data.invitations, columns=INVITATION_COLUMNS)
        await conn.copy_records_to_table("survey_responses", records=data.responses, columns=RESPONSE_COLUMNS)
        await conn.copy_records_to_table("survey_answers", records=data.answers, columns=ANSWER_COLUMNS)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


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
    name = f"civicbot_bench_{secrets.token_hex(4)}"
    admin_dsn = make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server).set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    try:
        await upgrade(engine)
        project_id, survey_id, closes_at = await seed_project(engine)
        data = synthesize(count, project_id, survey_id, closes_at)
        await load_postgres(url, data)
        ours, base, results = await measure(engine, project_id, survey_id)
    finally:
        await engine.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
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
