"""store/db.py: what a database lets callers rely on (``capabilities``), and PostgreSQL's pooled connections
tried after they sat idle, replaced when the server dropped them."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from store import db
from store.db import capabilities, create_engine, sessionmaker


async def test_capabilities_in_store_terms(engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> None:
    found = capabilities(sessions)
    assert found == capabilities(engine)
    if engine.dialect.name == "sqlite":  # one writer, one process per file
        assert (found.writers, found.notifications, found.advisory_locks) == (1, False, False)
        assert found.write_slots(8) == 1
    else:
        assert (found.writers, found.notifications, found.advisory_locks) == (None, True, True)
        assert found.write_slots(8) == 8


def test_capabilities_need_an_engine() -> None:
    with pytest.raises(TypeError, match="engine"):
        capabilities(async_sessionmaker())


async def _backend(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _drop(admin: AsyncEngine, pid: int) -> None:
    async with admin.connect() as conn:
        assert (await conn.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})).scalar_one()


@pytest.mark.postgres
async def test_an_idle_connection_the_server_dropped_is_replaced(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)
    engine, admin = create_engine(pg_url, pool_size=1), create_engine(pg_url)
    try:
        first = await _backend(engine)
        await _drop(admin, first)  # a server restart, say, while the connection waits in the pool
        async with db.transaction(sessionmaker(engine)) as session:
            assert (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one() != first
    finally:
        await engine.dispose()
        await admin.dispose()


@pytest.mark.postgres
async def test_a_connection_in_use_a_moment_ago_is_not_tried(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """No round trip before a busy pool's transactions: a connection dropped in that moment fails one of them."""
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 3600.0)
    engine, admin = create_engine(pg_url, pool_size=1), create_engine(pg_url)
    try:
        await _drop(admin, await _backend(engine))
        with pytest.raises(DBAPIError):
            await _backend(engine)
        await _backend(engine)  # the pool reconnects after the failure
    finally:
        await engine.dispose()
        await admin.dispose()
