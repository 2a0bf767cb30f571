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
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

BUSY_FIRST_WAIT = 0.001  # seconds; doubled up to BUSY_LONGEST_WAIT while the lock is held elsewhere
BUSY_LONGEST_WAIT = 0.05


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


class Cursor:
    """An aiosqlite-shaped cursor over a ``sqlite3.Cursor``."""

    def __init__(self, connection: Connection, cursor: sqlite3.Cursor) -> None:
        self._connection = connection
        self._cursor = cursor

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
        await _retrying(lambda: self._cursor.execute(sql, parameters), self._connection.busy_timeout)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any] | dict[str, Any]]) -> Cursor:
        rows = list(parameters)  # a retry needs them again
        await _retrying(lambda: self._cursor.executemany(sql, rows), self._connection.busy_timeout)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

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


class Connection:
    """An aiosqlite-shaped connection whose calls run on the calling thread."""

    def __init__(self, conn: sqlite3.Connection, busy_timeout: float) -> None:
        self._conn = conn
        self._tx = _Immediate()
        self.busy_timeout = busy_timeout

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
