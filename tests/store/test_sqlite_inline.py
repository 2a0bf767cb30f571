"""The SQLite driver that runs statements on the loop's thread: a writer waiting for the lock never
blocks the loop, and gives up after its busy timeout with SQLite's own error."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from store import sqlite_inline
from store.db import create_engine, sessionmaker, transaction


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "inline.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (n INTEGER)")
    return path


async def test_engine_connections_are_inline_and_sqlite_never_busy_waits(db_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{db_path}")
    try:
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert isinstance(raw, sqlite_inline.Connection)
            assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 0
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
    finally:
        await engine.dispose()


async def test_a_transaction_waiting_for_the_write_lock_leaves_the_loop_free(db_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{db_path}")
    sessions = sessionmaker(engine)
    holder_began, release = asyncio.Event(), asyncio.Event()
    order: list[str] = []

    async def holder() -> None:
        async with transaction(sessions) as s:  # BEGIN IMMEDIATE: holds the write lock …
            await s.execute(text("INSERT INTO t VALUES (1)"))
            holder_began.set()
            await release.wait()  # … while waiting on the loop (as a turn awaiting a download would)
            order.append("holder commits")

    async def waiter() -> None:
        await holder_began.wait()
        async with transaction(sessions) as s:
            await s.execute(text("INSERT INTO t VALUES (2)"))  # BEGIN IMMEDIATE comes with the first statement
            order.append("waiter wrote")

    async def ticker() -> None:
        await holder_began.wait()
        for _ in range(20):  # the loop runs while the waiter waits for the lock
            await asyncio.sleep(0)
        order.append("loop ran")
        release.set()

    try:
        # promptly: a busy-wait inside SQLite would hold the loop (and so the holder) for its whole timeout
        await asyncio.wait_for(asyncio.gather(holder(), waiter(), ticker()), timeout=2)
        assert order == ["loop ran", "holder commits", "waiter wrote"]
        async with sessions() as s:
            assert (await s.execute(text("SELECT n FROM t ORDER BY n"))).scalars().all() == [1, 2]
    finally:
        await engine.dispose()


async def test_a_lock_held_past_the_busy_timeout_fails_with_sqlites_error(db_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{db_path}",
                           async_creator=sqlite_inline.creator(str(db_path), busy_timeout=0.05))
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's writer that does not let go
    try:
        with pytest.raises(OperationalError, match="locked"):
            async with transaction(sessionmaker(engine)) as s:
                await s.execute(text("INSERT INTO t VALUES (3)"))
        other.execute("ROLLBACK")
        async with transaction(sessionmaker(engine)) as s:  # the lock is free: nothing was left half-done
            await s.execute(text("INSERT INTO t VALUES (4)"))
        async with sessionmaker(engine)() as s:
            assert (await s.execute(text("SELECT n FROM t"))).scalars().all() == [4]
    finally:
        other.close()
        await engine.dispose()


async def test_errors_other_than_busy_are_not_retried(db_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{db_path}")
    try:
        async with engine.connect() as conn:
            with pytest.raises(OperationalError, match="no such table"):
                await conn.execute(text("SELECT * FROM missing"))
    finally:
        await engine.dispose()
