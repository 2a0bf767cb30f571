"""Async engine and session helpers for SQLite and PostgreSQL (asyncpg).

SQLite (URLs ``sqlite+aiosqlite://``) runs through ``store.sqlite_inline``: statements on the loop's
thread, waiting for another writer's lock asynchronously. It gets what it needs to behave like a real
database here: foreign keys on every connection, WAL, a busy timeout, and ``BEGIN IMMEDIATE`` so a
read-then-write transaction holds the write lock from its first statement.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import event, text
from sqlalchemy.engine import CursorResult, Result, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from store import sqlite_inline

SQLITE_MMAP_BYTES = 256 * 1024 * 1024
SQLITE_CACHE_KIB = 32 * 1024
SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATING = "civicbot_migrating"  # execution option: a migration transaction (foreign keys off on SQLite)
READ_ONLY = "civicbot_read_only"  # execution option: a transaction that only reads (see ``reading``)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url`` with the per-dialect setup this project relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # statements run on the loop's thread, not aiosqlite's (see store/sqlite_inline)
        kwargs.setdefault("async_creator", sqlite_inline.creator(database or ":memory:", SQLITE_BUSY_TIMEOUT_MS / 1000))
        engine = create_async_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN instead of the driver's lazy implicit begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        # the inline driver waits for a busy lock itself (SQLITE_BUSY_TIMEOUT_MS), with the loop free:
        # SQLite must not wait inside
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Reads through a memory map and a larger page cache: the rule evaluation and digests walk
        # thousands of milestones and look their projects up at random; without these every page is a
        # read() system call (measured: the digest's count pass 45 ms → 22 ms on 100,000 projects).
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(MIGRATING):
            # Batch migrations re-create tables; with foreign keys on, dropping the old table would
            # cascade-delete the rows that reference it. The pragma only works outside a transaction.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        # straight to the driver: the statement needs none of SQLAlchemy's execution machinery (events,
        # result, compiled cache), which costs as much as one of a turn's real statements
        begin = "BEGIN" if connection.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE"
        try:
            connection.connection.dbapi_connection.execute(begin)
        except sqlite3.Error as error:  # raised as SQLAlchemy raises a driver's error (e.g. "locked")
            raise DBAPIError.instance(begin, None, error, sqlite3.Error) from error


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def on_sqlite(factory: async_sessionmaker[AsyncSession]) -> bool:
    """Whether sessions of ``factory`` are SQLite's (whose statements run on the loop's thread, see
    store/sqlite_inline, and end without waiting for anything)."""
    bind = factory.kw.get("bind")
    return bind is not None and bind.dialect.name == "sqlite"


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One session in one transaction: committed on success, rolled back on error.

    An async session used as a context manager is closed in a task of its own, so that a cancellation
    cannot abandon the close halfway — a trip through the event loop for every transaction, which
    lets other work in before the caller goes on (measured: a chat turn's own cost nearly doubled in
    the Telegram pipeline). A close that cannot suspend cannot be interrupted either, so on SQLite the
    session is closed in place."""
    if not on_sqlite(factory):
        async with factory() as session, session.begin():
            yield session
        return
    session = factory()
    try:
        async with session.begin():
            yield session
    finally:
        await session.close()


@asynccontextmanager
async def reading(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A transaction that only reads — results, exports, reports — from one consistent snapshot.

    On SQLite it takes no write lock (``BEGIN``, not ``BEGIN IMMEDIATE``): the chats' turns go on writing
    while it reads, however long it reads (and its long statements leave the loop, see store/sqlite_inline).
    On PostgreSQL it is a ``READ ONLY`` transaction (a write in it is an error). It ends with a commit, which
    keeps nothing but leaves the rows read usable afterwards (a rollback would expire them)."""
    async with factory() as session:
        connection = await session.connection(execution_options={READ_ONLY: True})
        if connection.dialect.name == "postgresql":
            await session.execute(text("SET TRANSACTION READ ONLY"))
        yield session
        await session.commit()


def affected(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE touched (``Session.execute`` types its result as the general
    ``Result``; for those statements it is a ``CursorResult``, which counts them)."""
    return cast("CursorResult[Any]", result).rowcount or 0
