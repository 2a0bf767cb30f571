"""``civicbot import``: load a data package (CSV folder or XLSX workbook) all or nothing, idempotently.

The package is streamed file by file in dependency order inside one transaction: rows are parsed,
checked and written in batches; after the first error nothing more is written but every row is
still checked, and the transaction is rolled back at the end, so the caller gets every error at
once and the database is untouched. See import-format.md for the contract.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from store.importing.dialect import open_dialect
from store.importing.errors import ImportError_, ImportFailed
from store.importing.loader import AUDIT_COLUMNS, FileLoader, Progress, Run, SurveyLoader, TableCounts
from store.importing.rules import check_disbursements
from store.importing.source import Package, SourceError
from store.importing.tables import SPECS, SurveyResponses

__all__ = ["ImportError_", "ImportFailed", "ImportResult", "TableCounts", "import_package"]


@dataclass
class ImportResult:
    """Counts by table name of the package (``projects``, ``survey_responses``…), in import order."""

    counts: dict[str, TableCounts] = field(default_factory=dict)


async def import_package(
    engine: AsyncEngine,
    path: Path,
    *,
    zone: ZoneInfo,
    now: datetime,
    actor: str = "import",
    progress: Progress | None = None,
) -> ImportResult:
    """Loads the package at ``path``; raises ``ImportFailed`` with every error, writing nothing, if any.

    Times without an offset are in ``zone``; ``now`` (aware) dates the audit entries, new chat
    identities and the "not in the future" rule. ``progress(file, rows_read)`` is called as rows go.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    with _no_cyclic_gc():
        return await _import(engine, path, zone, now, actor, progress)


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pauses the cycle collector: an import holds a million small objects until it ends (keys seen,
    rows of a batch), which the collector would traverse again and again for a third of the time,
    and they form no cycles. Reference counting still frees everything as usual."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


async def _import(
    engine: AsyncEngine, path: Path, zone: ZoneInfo, now: datetime, actor: str, progress: Progress | None
) -> ImportResult:
    ranks = {spec.name: rank for rank, spec in enumerate(SPECS)}
    with Package(path) as package:
        try:
            package.open(list(ranks))
        except SourceError as exc:
            raise ImportFailed([ImportError_(exc.label, exc.line, "", "", exc.reason)]) from None
        async with engine.connect() as conn, conn.begin():
            run = Run(await open_dialect(conn), zone, now, actor, progress)
            expected = ", ".join(name if package.is_workbook else f"{name}.csv" for name in ranks)
            stray = "unknown sheet" if package.is_workbook else "unknown file"
            for label in package.stray:
                run.add_error(-1, label, 1, "", "", f"{stray} (expected one of: {expected})")
            for name, unreadable in package.unreadable.items():
                run.add_error(ranks[name], unreadable.label, unreadable.line, "", "", unreadable.reason)
            await run.prepare()
            summaries = []
            for spec in SPECS:
                table = package.tables.get(spec.name)
                if table is None:
                    continue
                for name in (*spec.needs, *filter(None, (spec.provides,))):
                    if name not in run.refs:
                        await run.load_refs(name)
                run.labels[spec.name] = table.label
                counts = run.counts[spec.name] = TableCounts()
                loader = SurveyLoader if isinstance(spec, SurveyResponses) else FileLoader
                await loader(run, ranks[spec.name], spec, table, counts).read()
                if spec.provides and counts.inserted and not run.failed:
                    await run.load_refs(spec.provides)  # the package's new keys have ids now
                if counts.inserted or counts.updated:
                    detail = {"file": table.label, "inserted": counts.inserted, "updated": counts.updated,
                              "unchanged": counts.unchanged}
                    summaries.append(run.audit_row("import", spec.name, table.label, detail))
            await check_disbursements(run, ranks)
            if run.errors:
                # leaving the block by an exception rolls the transaction back
                raise ImportFailed(run.sorted_errors())
            if summaries:
                await run.db.insert("audit_log", AUDIT_COLUMNS, summaries)
        if summaries:
            # fresh statistics, or the planner picks the wrong index for the new data volume
            async with engine.connect() as conn, conn.begin():
                await conn.exec_driver_sql("ANALYZE")
    return ImportResult(run.counts)
