"""store/db.py: what a database lets callers rely on (``capabilities``), a turn's connection whose statements
the driver runs (``connection``: committed together, errors as SQLAlchemy raises them), and PostgreSQL's pooled
connections tried after they sat idle, replaced when the server dropped them."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, func, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from store import db
from store.db import capabilities, create_engine, sessionmaker
from store.models import HandledIncoming
from testing.factories import NOW

_handled = HandledIncoming.__table__
_ADD_KEY = insert(_handled).values(key=bindparam("key"), handled_at=bindparam("at"))  # built once, as a turn's are
_KEYS = select(_handled.c.key, _handled.c.handled_at).order_by(_handled.c.key)


async def test_capabilities_in_store_terms(engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> None:
    found = capabilities(sessions)
    assert found == capabilities(engine)
    if engine.dialect.name == "sqlite":  # one writer, one process per file
        assert (found.writers, found.notifications, found.advisory_locks, found.writing_with) == (1, False, False, False)
        assert found.write_slots(8) == 1
    else:
        assert (found.writers, found.notifications, found.advisory_locks, found.writing_with) == (
            db.POOL_SIZE, True, True, True)  # as many as the pool keeps connections
        assert found.write_slots(8) == 8 and found.write_slots(100) == db.POOL_SIZE
        assert capabilities(create_engine(engine.url.render_as_string(hide_password=False), pool_size=3)).write_slots(8) == 3


def test_capabilities_need_an_engine() -> None:
    with pytest.raises(TypeError, match="engine"):
        capabilities(async_sessionmaker())


async def _keys(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as s:
        return list((await s.execute(select(_handled.c.key).order_by(_handled.c.key))).scalars())


async def test_a_connection_runs_its_statements_and_a_joined_session_committed_together(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with db.connection(engine) as conn:
        assert await conn.rows(_ADD_KEY, {"key": "t:1", "at": NOW}) == []
        session = sessions(bind=conn.conn, join_transaction_mode="rollback_only")  # as the engine joins a flow
        assert await session.scalar(select(func.count()).select_from(_handled)) == 1  # it sees the driver's write
        session.add(HandledIncoming(key="t:2", handled_at=NOW))
        await session.flush()
        await session.close()
        assert await conn.rows(_KEYS, {}) == [("t:1", NOW), ("t:2", NOW)]  # values read back typed (aware times)
    assert await _keys(sessions) == ["t:1", "t:2"]


async def test_a_failed_statement_is_sqlalchemys_error_and_the_connection_goes_on(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    with pytest.raises(IntegrityError):  # a unique violation, whichever driver ran it
        async with db.connection(engine) as conn:
            await conn.rows(_ADD_KEY, {"key": "t:1", "at": NOW})
            await conn.rows(_ADD_KEY, {"key": "t:1", "at": NOW})
    if engine.dialect.name == "sqlite":  # one transaction, under the write lock from its first statement
        assert await _keys(sessions) == []
    else:  # a statement outside a session's transaction is its own (store.conversations.TurnConnection)
        assert await _keys(sessions) == ["t:1"]
    async with db.connection(engine) as conn:  # the pool's connection is fine afterwards
        await conn.rows(_ADD_KEY, {"key": "t:3", "at": NOW})
    assert await _keys(sessions) == ["t:1", "t:3"] if engine.dialect.name != "sqlite" else ["t:3"]


async def test_a_failed_statement_in_a_joined_sessions_transaction_rolls_all_of_it_back(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    with pytest.raises(IntegrityError):
        async with db.connection(engine) as conn:
            session = sessions(bind=conn.conn, join_transaction_mode="rollback_only")
            session.add(HandledIncoming(key="t:1", handled_at=NOW))
            await session.flush()  # the session's transaction begins
            await session.close()
            await conn.rows(_ADD_KEY, {"key": "t:2", "at": NOW})
            await conn.rows(_ADD_KEY, {"key": "t:1", "at": NOW})
    assert await _keys(sessions) == []


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
