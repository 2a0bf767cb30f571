"""Import speed and memory: a synthetic package loaded into a fresh database, against bare inserts of its rows.

Usage: python bench/import.py [--projects 100000] [--pg postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]

Writes a synthetic package (store.synth) of N projects, then, each in a child process of its own:

- import: `import_package` into a freshly migrated database (parse, validate, resolve, compare,
  write, audit), then the same package once more (the idempotent re-import: every row unchanged);
- baseline: the same rows, already as tuples (read back from the imported database), inserted
  into another freshly migrated database with no validation at all: `sqlite3` executemany (same
  pragmas as store.db: WAL, synchronous=NORMAL, foreign keys on) or asyncpg executemany, in one
  transaction, table by table.

Reported: wall and CPU time (CPU = user+sys of the child, less sensitive to a busy machine; on
PostgreSQL only the client's, so there the wall ratio is the one that counts),
rows/s, the import/baseline ratios, and memory: the child's peak resident set (ru_maxrss, which
includes the interpreter and libraries) and its growth during the import (peak minus the RSS just
before it). With --pg (or CIVICBOT_TEST_DATABASE_URL) the same runs go against PostgreSQL, in two
databases created for the run and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
from sqlalchemy.engine import make_url

from store.db import create_engine
from store.importer import import_package
from store.migrate import upgrade
from store.synth import write_synthetic_package

TODAY = date(2026, 11, 29)
NOW = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)
ZONE = ZoneInfo("Asia/Shanghai")
# every table the import writes, parents first
TABLES = (
    "departments", "organizations", "qualifications", "experts", "catalog_items", "budgets", "calls",
    "call_items", "projects", "milestones", "disbursements", "progress_updates", "inspections", "identities",
    "survey_responses", "survey_answers", "audit_log",
)
# tables whose rows carry no id of their own
_NO_ID = {"qualifications", "call_items"}


def _rss_kib() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


# --- child processes ------------------------------------------------------------------------------


async def child_import(url: str, package: str) -> dict[str, Any]:
    engine = create_engine(url)
    await upgrade(engine)
    rss_before = _rss_kib()
    start = _clock()
    result = await import_package(engine, Path(package), zone=ZONE, now=NOW)
    wall, cpu = _since(start)
    peak = _peak_kib()
    start = _clock()
    again = await import_package(engine, Path(package), zone=ZONE, now=NOW)
    re_wall, re_cpu = _since(start)
    await engine.dispose()
    assert all(c.inserted == c.updated == 0 for c in again.counts.values()), "the re-import changed rows"
    return {
        "rows": sum(c.rows for c in result.counts.values()), "wall": wall, "cpu": cpu,
        "rss_before_kib": rss_before, "peak_kib": peak, "reimport_wall": re_wall, "reimport_cpu": re_cpu,
    }


def _columns_sqlite(conn: sqlite3.Connection, table: str) -> list[str]:
    columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    return columns if table in _NO_ID else [c for c in columns if c != "id"]


async def child_baseline_sqlite(source: str, target_url: str) -> dict[str, Any]:
    engine = create_engine(target_url)
    await upgrade(engine)
    await engine.dispose()
    src = sqlite3.connect(source)
    data = {}
    for table in TABLES:
        columns = _columns_sqlite(src, table)
        data[table] = (columns, src.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid").fetchall())
    src.close()
    conn = sqlite3.connect(make_url(target_url).database or "", isolation_level=None)
    for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL"):
        conn.execute(f"PRAGMA {pragma}")
    start = _clock()
    conn.execute("BEGIN IMMEDIATE")
    for table, (columns, rows) in data.items():
        marks = ", ".join("?" * len(columns))
        conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
    conn.execute("COMMIT")
    wall, cpu = _since(start)
    conn.close()
    return {"rows": sum(len(rows) for _, rows in data.values()), "wall": wall, "cpu": cpu}


def _dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def child_baseline_pg(source_url: str, target_url: str) -> dict[str, Any]:
    engine = create_engine(target_url)
    await upgrade(engine)
    await engine.dispose()
    src = await asyncpg.connect(_dsn(source_url))
    data = {}
    for table in TABLES:
        columns = [r["column_name"] for r in await src.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position",
            table,
        )]
        if table not in _NO_ID:
            columns.remove("id")
        order = "" if table in _NO_ID else " ORDER BY id"
        rows = [tuple(r) for r in await src.fetch(f"SELECT {', '.join(columns)} FROM {table}{order}")]
        data[table] = (columns, rows)
    await src.close()
    conn = await asyncpg.connect(_dsn(target_url))
    start = _clock()
    async with conn.transaction():
        for table, (columns, rows) in data.items():
            marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
            if rows:
                await conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
    wall, cpu = _since(start)
    await conn.close()
    return {"rows": sum(len(rows) for _, rows in data.values()), "wall": wall, "cpu": cpu}


def _child(kind: str, *args: str) -> dict[str, Any]:
    """Runs one measurement in a fresh interpreter, so its peak memory is its own."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, *args], capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"the {kind} run failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the parent -----------------------------------------------------------------------------------


def _report(backend: str, imported: dict[str, Any], base: dict[str, Any]) -> None:
    rows = imported["rows"]
    print(f"\n{backend}: {rows:,} package rows; baseline {base['rows']:,} table rows")
    print(f"  import      {imported['wall']:7.1f} s wall {imported['cpu']:7.1f} s CPU"
          f"  {rows / imported['wall']:9,.0f} rows/s")
    print(f"  baseline    {base['wall']:7.1f} s wall {base['cpu']:7.1f} s CPU"
          f"  {base['rows'] / base['wall']:9,.0f} rows/s")
    if backend == "SQLite":
        print(f"  ratio       {imported['wall'] / base['wall']:7.2f} wall  {imported['cpu'] / base['cpu']:7.2f} CPU"
              "   (import / baseline; aim <= 3)")
    else:
        # the server's work is not in the client's CPU time, so only the wall ratio means anything
        print(f"  ratio       {imported['wall'] / base['wall']:7.2f} wall  (import / baseline; aim <= 3;"
              " CPU above is the client's only)")
    print(f"  re-import   {imported['reimport_wall']:7.1f} s wall {imported['reimport_cpu']:7.1f} s CPU"
          "  (all rows unchanged)")
    peak, before = imported["peak_kib"] / 1024, imported["rss_before_kib"] / 1024
    print(f"  memory      peak RSS {peak:.0f} MB (ru_maxrss of the import process),"
          f" {peak - before:.0f} MB above its RSS before the import (aim < 500 MB)")


async def _pg_admin(server: str, sql: str) -> None:
    conn = await asyncpg.connect(_dsn(server))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pg", default=os.environ.get("CIVICBOT_TEST_DATABASE_URL"),
                        help="PostgreSQL server URL (postgresql+asyncpg://…) to run against as well")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        runs = {"import": child_import, "baseline-sqlite": child_baseline_sqlite, "baseline-pg": child_baseline_pg}
        print(json.dumps(asyncio.run(runs[kind](*rest))))
        return

    with tempfile.TemporaryDirectory(prefix="civicbot-bench-import-") as tmp:
        package = Path(tmp) / "package"
        start = time.perf_counter()
        written = write_synthetic_package(package, args.projects, seed=args.seed, today=TODAY)
        print(f"synthetic package of {args.projects:,} projects: {sum(written.values()):,} rows"
              f" in {time.perf_counter() - start:.1f} s")
        for name, count in written.items():
            print(f"  {name:22s} {count:>9,}")

        imported_db = Path(tmp) / "import.db"
        imported = _child("import", f"sqlite+aiosqlite:///{imported_db}", str(package))
        base = _child("baseline-sqlite", str(imported_db), f"sqlite+aiosqlite:///{Path(tmp) / 'baseline.db'}")
        _report("SQLite", imported, base)

        if args.pg:
            suffix = secrets.token_hex(4)
            names = (f"civicbot_bench_import_{suffix}", f"civicbot_bench_base_{suffix}")
            urls = [make_url(args.pg).set(drivername="postgresql+asyncpg", database=n).render_as_string(False)
                    for n in names]
            for name in names:
                asyncio.run(_pg_admin(args.pg, f'CREATE DATABASE "{name}"'))
            try:
                imported = _child("import", urls[0], str(package))
                base = _child("baseline-pg", urls[0], urls[1])
                _report("PostgreSQL", imported, base)
            finally:
                for name in names:
                    asyncio.run(_pg_admin(args.pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
