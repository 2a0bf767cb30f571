"""Long reads never freeze the chats: no statement holds the event loop for more than 50 ms.

SQLite runs on the loop's thread (store/sqlite_inline): a read past its slice moves to a worker thread.
``store.db.reading`` transactions take no write lock, so turns keep writing while a report reads.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from dialogs.context import DialogSettings
from dialogs.registry import build_engine
from store import surveys
from store.db import create_engine, reading, sessionmaker, transaction
from testing.chat import Person
from testing.surveys import NOW, fill_survey, seed_project

STALL_LIMIT = 0.05  # seconds: the bar for the loop's longest stall
RESPONSES = 100_000
# about a second of SQLite work on this machine, whatever the tables hold
LONG_QUERY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) SELECT sum(x) FROM c"


class LoopWatch:
    """Records the longest time the loop did not come back to a task that asked to run every 2 ms:
    ``longest`` in wall time, ``longest_cpu`` in the loop thread's own CPU time (the part this process's
    code held the loop; the rest of a wall-time stall is the machine's other work)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.longest_cpu = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        while True:
            asked, cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(0.002)
            self.longest = max(self.longest, time.perf_counter() - asked - 0.002)
            self.longest_cpu = max(self.longest_cpu, time.thread_time() - cpu)

    async def __aenter__(self) -> LoopWatch:
        self._task = asyncio.create_task(self._watch())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._task is not None
        self._task.cancel()

    def check(self) -> None:
        """The loop's longest stall under STALL_LIMIT: in CPU time always; in wall time too unless other
        processes keep this machine's cores busy (then it is printed, not judged)."""
        print(f"loop's longest stall: {self.longest * 1000:.1f} ms wall, {self.longest_cpu * 1000:.1f} ms CPU")
        assert self.longest_cpu < STALL_LIMIT, f"the loop was held {self.longest_cpu * 1000:.0f} ms"
        if os.getloadavg()[0] < (os.cpu_count() or 1):
            assert self.longest < STALL_LIMIT, f"the loop stalled {self.longest * 1000:.0f} ms"


@pytest.fixture
async def inline(tmp_path: Path) -> AsyncIterator[object]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'long.db'}")
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_a_long_sqlite_read_leaves_the_loop_and_a_short_one_stays(inline: object) -> None:
    sessions = sessionmaker(inline)  # type: ignore[arg-type]
    loop_thread = threading.get_ident()
    async with transaction(sessions) as session:
        raw = (await (await session.connection()).get_raw_connection()).driver_connection
        await raw.create_function("thread_id", 0, threading.get_ident)
        short = (await session.execute(text("SELECT thread_id()"))).scalar()
        async with LoopWatch() as watch:
            total, ran_on = (await session.execute(text(LONG_QUERY.replace("sum(x)", "sum(x), thread_id()")))).one()
    assert short == loop_thread  # a turn's statements never pay for a thread
    assert ran_on != loop_thread  # the long one finished on a worker thread
    assert total == 2_000_000 * 2_000_001 // 2
    watch.check()


async def test_a_long_read_gives_its_rows_and_an_error_in_it_is_still_an_error(inline: object) -> None:
    sessions = sessionmaker(inline)  # type: ignore[arg-type]
    async with transaction(sessions) as session:
        rows = (await session.execute(text(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) "
            "SELECT x FROM c WHERE x % 400000 = 0"))).all()
        assert [x for (x,) in rows] == [400_000, 800_000, 1_200_000, 1_600_000, 2_000_000]
    with pytest.raises(OperationalError, match="no such table"):
        async with transaction(sessions) as session:
            await session.execute(text("SELECT count(*) FROM missing_table"))


async def test_a_cancelled_long_read_stops_and_the_connection_stays_usable(inline: object) -> None:
    sessions = sessionmaker(inline)  # type: ignore[arg-type]

    async def report() -> None:
        async with transaction(sessions) as session:
            await session.execute(text(LONG_QUERY))

    read = asyncio.create_task(report())
    await asyncio.sleep(0.1)  # past its slice: on the worker thread now
    started = time.perf_counter()
    read.cancel()
    with pytest.raises(asyncio.CancelledError):
        await read
    assert time.perf_counter() - started < 0.5  # interrupted, not run to its end
    async with transaction(sessions) as session:
        assert (await session.execute(text("SELECT 41 + 1"))).scalar() == 42


async def test_results_of_100000_responses_leave_the_loop_free_and_a_chat_goes_on(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        project_id, survey_id, _closes_at = await seed_project(engine)
        await fill_survey(engine, project_id, survey_id, RESPONSES)
        sessions = sessionmaker(engine)
        with time_machine.travel(NOW, tick=True):
            bot = build_engine(sessions, DialogSettings())
            resident = Person(bot, "resident-1")
            # the first turns create the identity and compile their statements: not what is measured
            await resident.say("/start")
            await resident.say("/menu")
            async with reading(sessions) as session:  # nor are the report's first statements compiled
                await surveys.survey_results(session, (await surveys.find_survey(session, project_id, survey_id)), NOW)

            async def report() -> tuple[surveys.Results, float]:
                async with reading(sessions) as session:
                    ref = await surveys.find_survey(session, project_id, survey_id)
                    assert ref is not None
                    results = await surveys.survey_results(session, ref, NOW)
                return results, time.perf_counter()

            async def chat() -> float:
                for _ in range(5):
                    await resident.say("/menu")
                    assert resident.buttons()
                return time.perf_counter()

            async with LoopWatch() as watch:
                started = time.perf_counter()
                (results, report_done), chat_done = await asyncio.gather(report(), chat())
        assert results.responses == RESPONSES
        assert results.valid_responses == RESPONSES * 49 // 50  # every 50th left the overall item out
        # the chat did not wait for the report: its five turns were over first (or the report was quick)
        assert chat_done <= report_done or report_done - started < 0.2
        watch.check()
    finally:
        await engine.dispose()


async def test_a_reading_transaction_takes_no_write_lock_on_sqlite(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        sessions = sessionmaker(engine)
        async with reading(sessions) as report:
            await report.execute(text("SELECT count(*) FROM projects"))
            # a writer goes on at once, while the report's transaction is open
            async with transaction(sessions) as turn:
                await turn.execute(text("INSERT INTO departments (code, name_zh) VALUES ('W', '写')"))
            # the report reads its own snapshot, from before that write
            assert (await report.execute(text("SELECT count(*) FROM departments WHERE code = 'W'"))).scalar() == 0
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_a_reading_transaction_refuses_writes_on_postgresql(pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        with pytest.raises(Exception, match="read-only"):
            async with reading(sessionmaker(engine)) as report:
                await report.execute(text("INSERT INTO departments (code, name_zh) VALUES ('W', '写')"))
    finally:
        await engine.dispose()

