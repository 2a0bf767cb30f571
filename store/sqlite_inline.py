"""SQLite for SQLAlchemy's asyncio engine without a thread per connection.

SQLAlchemy's ``sqlite+aiosqlite`` dialect talks to aiosqlite, which runs every call (cursor, execute,
fetch, close, commit) on a worker thread and wakes the event loop for its result: a chat turn's four
statements cost some thirty thread hand-overs, several times the work SQLite itself does for them.
SQLite is an in-process library whose statements here take microseconds, so this module runs them
directly on the event loop's thread behind the same interface (``async_creator`` of the engine).

The one call that can take long is waiting for another writer's lock. The connection's busy timeout
is therefore 0, and a statement answered ``SQLITE_BUSY`` is retried after an ``asyncio.sleep`` (up to
``busy_timeout`` seconds in all): the loop keeps serving other users while it waits, and a transaction
that is itself waiting on the loop (a download inside a turn) can never be blocked by a busy-wait.
A statement that failed with ``SQLITE_BUSY`` did nothing, so running it again is safe.

A read can take long too (survey results over 100,000 responses: most of a second), and on the loop's
thread it would freeze every chat. So every read is given ``READ_SLICE`` on the loop: SQLite's progress
handler interrupts it past that, and it runs again on a worker thread — where SQLite releases the GIL —
while the loop goes on. Its rows are fetched with it, so the loop never steps a long result either. An
interrupted SELECT changes nothing (only an interrupted write would roll its transaction back, which is
why writes are never interrupted). Turns' statements take microseconds: they never leave the loop.
"""

from __future__ import annotations

import asyncio
import math
import re
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

BUSY_FIRST_WAIT = 0.001  # seconds; doubled up to BUSY_LONGEST_WAIT while the lock is held elsewhere
BUSY_LONGEST_WAIT = 0.05
READ_SLICE = 0.01  # seconds a read may hold the loop before it moves to a worker thread
PROGRESS_STEPS = 10_000  # SQLite VM instructions between two looks at the clock (some 0.1 ms of work)
# off the loop, far fewer looks: each takes the GIL from the loop's thread (still ~10 ms to a cancellation)
PROGRESS_STEPS_OFF_LOOP = 1_000_000
_READ = re.compile(r"\s*(SELECT|WITH)\b", re.IGNORECASE)
_WRITE = re.compile(r"\b(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


def _reads_only(sql: str) -> bool:
    """A statement that cannot change the database (so interrupting it is harmless)."""
    return _READ.match(sql) is not None and (sql.lstrip()[:6].upper() == "SELECT" or _WRITE.search(sql) is None)


def _busy(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(error)


async def _retrying(call: Callable[[], Any], busy_timeout: float) -> Any:
    deadline: float | None = None
    wait = BUSY_FIRST_WAIT
    while True:
        try:
            return call()
        except sqlite3.OperationalError as error:
            if not _busy(error):
                raise
            now = time.monotonic()
            deadline = deadline if deadline is not None else now + busy_timeout
            if now >= deadline:
                raise
            await asyncio.sleep(min(wait, deadline - now))
            wait = min(wait * 2, BUSY_LONGEST_WAIT)


def _retrying_here(call: Callable[[], Any], busy_timeout: float) -> Any:
    """``_retrying`` for a worker thread, which may wait in place."""
    deadline = time.monotonic() + busy_timeout
    wait = BUSY_FIRST_WAIT
    while True:
        try:
            return call()
        except sqlite3.OperationalError as error:
            if not _busy(error) or time.monotonic() >= deadline:
                raise
            time.sleep(wait)
            wait = min(wait * 2, BUSY_LONGEST_WAIT)


class Cursor:
    """An aiosqlite-shaped cursor over a ``sqlite3.Cursor``."""

    def __init__(self, connection: Connection, cursor: sqlite3.Cursor) -> None:
        self._connection = connection
        self._cursor = cursor
        self._rows: deque[Any] | None = None  # a read's rows, fetched with it

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> Cursor:
        self._rows = None
        connection = self._connection
        if not _reads_only(sql):
            await _retrying(lambda: self._cursor.execute(sql, parameters), connection.busy_timeout)
            return self

        def read() -> None:
            self._cursor.execute(sql, parameters)
            self._rows = deque(self._cursor.fetchall())

        try:
            with connection.sliced():
                await _retrying(read, connection.busy_timeout)
        except sqlite3.OperationalError as error:
            if not connection.sliced_out(error):
                raise
            await connection.off_loop(lambda: _retrying_here(read, connection.busy_timeout))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any] | dict[str, Any]]) -> Cursor:
        rows = list(parameters)  # a retry needs them again
        await _retrying(lambda: self._cursor.executemany(sql, rows), self._connection.busy_timeout)
        return self

    async def fetchone(self) -> Any:
        if self._rows is None:
            return self._cursor.fetchone()
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        size = size if size is not None else self._cursor.arraysize
        if self._rows is None:
            return self._cursor.fetchmany(size)
        return [self._rows.popleft() for _ in range(min(size, len(self._rows)))]

    async def fetchall(self) -> list[Any]:
        if self._rows is None:
            return self._cursor.fetchall()
        rows, self._rows = list(self._rows), deque()
        return rows

    async def close(self) -> None:
        self._cursor.close()


class _Immediate:
    """Stands in for aiosqlite's request queue: SQLAlchemy puts (future, function) on it to run a call
    (setting the isolation level) on the connection's thread — which is this one."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:  # handed to the awaiting caller, as aiosqlite does
            future.set_exception(error)


class _Slice:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def __enter__(self) -> None:
        self._connection._sliced_out = False
        self._connection._slice_ends = time.perf_counter() + READ_SLICE

    def __exit__(self, *_exc: object) -> None:
        self._connection._slice_ends = math.inf


class Connection:
    """An aiosqlite-shaped connection whose calls run on the calling thread."""

    def __init__(self, conn: sqlite3.Connection, busy_timeout: float) -> None:
        self._conn = conn
        self._tx = _Immediate()
        self.busy_timeout = busy_timeout
        self._slice_ends = math.inf  # the running read's time on the loop is up then
        self._sliced_out = False
        conn.set_progress_handler(self._on_progress, PROGRESS_STEPS)

    def _on_progress(self) -> int:
        if self._slice_ends == math.inf or time.perf_counter() < self._slice_ends:
            return 0
        self._sliced_out = True
        return 1  # interrupts the statement: SQLite raises "interrupted"

    def sliced(self) -> _Slice:
        """The block's reads may hold the loop ``READ_SLICE`` seconds, then are interrupted."""
        return _Slice(self)

    def sliced_out(self, error: sqlite3.OperationalError) -> bool:
        """Whether ``error`` is a read interrupted because its slice was up (not by anyone else)."""
        taken, self._sliced_out = self._sliced_out, False
        return taken and "interrupt" in str(error)

    async def off_loop(self, call: Callable[[], Any]) -> Any:
        """Run ``call`` on a worker thread; a cancelled caller interrupts it and waits until it has
        stopped, so the connection is never used by two threads at once."""
        self._conn.set_progress_handler(self._on_progress, PROGRESS_STEPS_OFF_LOOP)
        work = asyncio.ensure_future(asyncio.to_thread(call))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            # stopped by the progress handler, on the worker's own thread (not sqlite3's interrupt(),
            # which upsets CPython 3.11's recursion bookkeeping when it lands in a Python callback)
            self._slice_ends = -math.inf
            await asyncio.wait([work])
            work.exception()  # retrieved: the interruption is this cancellation, not an error to log
            raise
        finally:
            self._slice_ends = math.inf
            self._conn.set_progress_handler(self._on_progress, PROGRESS_STEPS)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._conn.isolation_level = value  # type: ignore[assignment]  # sqlite3 checks the value itself

    async def cursor(self) -> Cursor:
        return Cursor(self, self._conn.cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> Cursor:
        cursor = await self.cursor()
        return await cursor.execute(sql, parameters)

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any] | dict[str, Any]]) -> Cursor:
        cursor = await self.cursor()
        return await cursor.executemany(sql, parameters)

    async def execute_fetchall(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        cursor = await self.execute(sql, parameters)
        try:
            return await cursor.fetchall()
        finally:
            await cursor.close()

    async def commit(self) -> None:
        await _retrying(self._conn.commit, self.busy_timeout)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        self._conn.close()

    def stop(self) -> None:
        self._conn.close()


def creator(database: str, busy_timeout: float) -> Callable[..., Any]:
    """The engine's ``async_creator``: connections to ``database`` that wait ``busy_timeout`` seconds at
    most for another writer, without blocking the loop."""

    async def connect(*_args: Any, **_kwargs: Any) -> Connection:
        conn = sqlite3.connect(database, timeout=0, isolation_level=None, check_same_thread=False,
                               detect_types=0)
        return Connection(conn, busy_timeout)

    return connect
