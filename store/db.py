"""Async engine and session helpers for SQLite and PostgreSQL (asyncpg): the one place that knows which
database it is (``capabilities`` says what callers may rely on; ``connection`` runs a turn's statements).

SQLite (URLs ``sqlite+aiosqlite://``) runs through ``store.sqlite_inline``: statements on the loop's
thread, waiting for another writer's lock asynchronously. It gets what it needs to behave like a real
database here: foreign keys on every connection, WAL, a busy timeout, and ``BEGIN IMMEDIATE`` so a
read-then-write transaction holds the write lock from its first statement.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Executable, Select, event, text
from sqlalchemy.engine import CursorResult, Dialect, Result, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql.compiler import SQLCompiler

from store import sqlite_inline

SQLITE_MMAP_BYTES = 256 * 1024 * 1024
SQLITE_CACHE_KIB = 32 * 1024
SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATING = "civicbot_migrating"  # execution option: a migration transaction (foreign keys off on SQLite)
READ_ONLY = "civicbot_read_only"  # execution option: a transaction that only reads (see ``reading``)
# PostgreSQL connections a process keeps, and the extra ones it opens at a peak and closes after: the channels
# let no more turns at the database at once than it keeps (``Capabilities.writers``), since an extra one is a
# new connection at every peak (measured: 23 new connections per 1,000 updates of bench/telegram.py with
# SQLAlchemy's 5 kept, each its connect and its statements prepared again)
POOL_SIZE = 16
POOL_OVERFLOW = 8
PING_AFTER_IDLE = 1.0  # seconds a pooled PostgreSQL connection may sit unused before it is tried (see _ping_when_idle)
_IDLE_SINCE = "civicbot_idle_since"


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
    kwargs.setdefault("pool_size", POOL_SIZE)
    kwargs.setdefault("max_overflow", POOL_OVERFLOW)
    engine = create_async_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: AsyncEngine) -> None:
    """A pooled connection idle ``PING_AFTER_IDLE`` seconds is tried before use, and replaced if the server
    dropped it (a restart). Not SQLAlchemy's ``pool_pre_ping``: on asyncpg that is three round trips
    (BEGIN, a query, ROLLBACK) before every transaction — a turn's eight became five without it; a connection
    that came back to the pool a moment ago was working then."""
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE:
            return  # new, or in use a moment ago
        try:
            dbapi_connection.run_async(lambda driver: driver.fetchrow(";"))
        except Exception as error:  # gone: the pool connects afresh and tries again
            raise DisconnectionError(f"a pooled connection was dropped: {error}") from error


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


def _on_sqlite(factory: async_sessionmaker[AsyncSession]) -> bool:
    """Whether sessions of ``factory`` are SQLite's (whose statements run on the loop's thread, see
    store/sqlite_inline, and end without waiting for anything)."""
    bind = factory.kw.get("bind")
    return bind is not None and bind.dialect.name == "sqlite"


@dataclass(frozen=True)
class Capabilities:
    """What the database lets the application rely on — asked instead of which database it is."""

    writers: int | None  # write transactions worth running at once (None: no limit of the database's own)
    notifications: bool  # a commit can be announced to every process (``store.outbox.notify_queued``)
    advisory_locks: bool  # a transaction can take a named lock (``store.leases.try_advisory_xact_lock``)
    writing_with: bool  # a statement's WITH clause can write: writes that depend on each other take one round trip

    def write_slots(self, wanted: int) -> int:
        """How many of ``wanted`` concurrent write transactions are worth letting at the database: beyond
        its writers they only wait for each other (on SQLite in its busy handler's sleeps, far slower than
        a queue of the caller's; on PostgreSQL beyond the connections the pool keeps, on connections opened
        for the moment)."""
        return wanted if self.writers is None else min(wanted, self.writers)


_SQLITE = Capabilities(writers=1, notifications=False, advisory_locks=False, writing_with=False)  # one writer a file
_POSTGRESQL = Capabilities(writers=None, notifications=True, advisory_locks=True, writing_with=True)


def capabilities(bind: AsyncEngine | async_sessionmaker[AsyncSession]) -> Capabilities:
    """What the database of ``bind`` (an engine, or sessions bound to one) can do."""
    engine = bind if isinstance(bind, AsyncEngine) else bind.kw.get("bind")
    if not isinstance(engine, AsyncEngine):
        raise TypeError("capabilities() needs an engine, or sessions bound to one")
    if engine.dialect.name == "sqlite":
        return _SQLITE
    size = getattr(engine.sync_engine.pool, "size", None)  # the connections a queue pool keeps
    return replace(_POSTGRESQL, writers=size()) if callable(size) else _POSTGRESQL


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One session in one transaction: committed on success, rolled back on error.

    An async session used as a context manager is closed in a task of its own, so that a cancellation
    cannot abandon the close halfway — a trip through the event loop for every transaction, which
    lets other work in before the caller goes on (measured: a chat turn's own cost nearly doubled in
    the Telegram pipeline). A close that cannot suspend cannot be interrupted either, so on SQLite the
    session is closed in place."""
    if not _on_sqlite(factory):
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


_ASKED = object()  # a parameter of a ``_Compiled`` statement the caller gives


class _Compiled:
    """A statement compiled once for one dialect, with what its parameters and result columns need for the
    driver itself to run it: positional parameters (SQLite's ``?``, asyncpg's ``$n``) in ``positiontup``
    order, converted by the columns' own bind and result processors as SQLAlchemy would."""

    def __init__(self, stmt: Any, dialect: Dialect) -> None:  # a Core statement
        self.compiled: SQLCompiler = stmt.compile(dialect=dialect)
        self.sql: str = self.compiled.string
        # each positional parameter: its name, the value the statement fixed (a literal; _ASKED for a parameter
        # the caller gives) and its bind processor — what ``construct_params`` works out at every call
        self.binds: list[tuple[str, Any, Any]] = []
        for name in self.compiled.positiontup or ():
            bind = self.compiled.binds[name]
            if bind.expanding or bind.callable is not None:
                raise ValueError(f"{name}: an expanding or callable parameter cannot be bound once")
            fixed = _ASKED if bind.required else bind.value
            self.binds.append((name, fixed, bind.type.dialect_impl(dialect).bind_processor(dialect)))
        columns = stmt.selected_columns if isinstance(stmt, Select) else ()
        self.results = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]

    def arguments(self, params: dict[str, Any]) -> tuple[Any, ...]:
        values = (params[name] if fixed is _ASKED else params.get(name, fixed) for name, fixed, _ in self.binds)
        return tuple(process(value) if process else value
                     for (_, _, process), value in zip(self.binds, values, strict=True))

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        if not self.results:
            return tuple(raw)
        return tuple(process(value) if process else value for process, value in zip(self.results, raw, strict=True))


_COMPILED: dict[tuple[int, str], _Compiled] = {}  # by id() of a statement built at import (each holds its statement)


class Connection:
    """A connection in one transaction (``conn``, for an ORM session to join) whose ``rows`` runs Core
    statements built once, at import. The driver runs them itself (``_InlineConnection`` on SQLite,
    ``_AsyncpgConnection`` on PostgreSQL): that fast path stays in this module."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.capabilities = capabilities(conn.engine)

    async def rows(self, stmt: Executable, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The rows ``stmt`` returns with ``params`` bound (none for a write without RETURNING)."""
        raise NotImplementedError


def _compiled(stmt: Executable, dialect: Dialect) -> _Compiled:
    compiled = _COMPILED.get((id(stmt), dialect.name))
    if compiled is None:
        compiled = _COMPILED[(id(stmt), dialect.name)] = _Compiled(stmt, dialect)
    return compiled


class _InlineConnection(Connection):
    """Exists for speed: through SQLAlchemy a statement costs ~70 µs of Python against ~8 µs in SQLite —
    most of what a menu or help turn costs — so on SQLite the driver runs it, compiled once."""

    def __init__(self, conn: AsyncConnection, driver: Any) -> None:
        super().__init__(conn)
        self._driver = driver

    async def rows(self, stmt: Executable, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        compiled = _compiled(stmt, self.conn.dialect)
        arguments = compiled.arguments(params)
        try:
            cursor = await self._driver.execute(compiled.sql, arguments)
            try:
                raw = await cursor.fetchall() if cursor.description else []
            finally:
                await cursor.close()
        except sqlite3.Error as error:  # as SQLAlchemy raises it (an ``IntegrityError`` for a unique violation, ...)
            raise DBAPIError.instance(compiled.sql, arguments, error, sqlite3.Error) from error
        return [compiled.row(row) for row in raw]


class _AsyncpgConnection(Connection):
    """Exists for speed: through SQLAlchemy a statement on asyncpg costs ~190 µs of Python against ~85 µs
    run by asyncpg itself, and BEGIN with COMMIT ~260 µs against ~150 µs — together a third of what a menu
    turn in the Telegram pipeline costs. So asyncpg runs the turn's statements, compiled once: each on its
    own (a statement is its own transaction), or in the transaction SQLAlchemy's connection has begun for
    the flows' ORM session, which asyncpg commits. It reaches into SQLAlchemy's asyncpg adapter (``_started``,
    ``_commit_and_discard``, ``_handle_exception``): tests/store/test_db.py runs the turn on PostgreSQL, so
    an upgrade that changes them fails there."""

    def __init__(self, conn: AsyncConnection, adapted: Any) -> None:
        super().__init__(conn)
        self._adapted = adapted  # SQLAlchemy's AsyncAdapt_asyncpg_connection

    async def rows(self, stmt: Executable, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        compiled = _compiled(stmt, self.conn.dialect)
        arguments = compiled.arguments(params)
        adapted = self._adapted
        try:
            # in the transaction if the flow's ORM session has begun one (SQLAlchemy begins at its first
            # statement); else on its own, committed with itself (see store.conversations.TurnConnection)
            raw = await adapted.driver_connection.fetch(compiled.sql, *arguments)
        except Exception as error:
            raise _wrapped(adapted, compiled.sql, arguments, error) from error
        return [compiled.row(row) for row in raw]

    async def commit(self) -> None:
        """COMMIT by asyncpg (a flow's ORM session has flushed by now: the engine flushes it before)."""
        adapted = self._adapted
        if adapted._started:
            try:
                await adapted._commit_and_discard()
            except Exception as error:
                raise _wrapped(adapted, "COMMIT", (), error) from error


def _wrapped(adapted: Any, sql: str, arguments: Sequence[Any], error: Exception) -> Exception:
    """``error`` of asyncpg as SQLAlchemy raises it (an ``IntegrityError`` for a unique violation, ...)."""
    try:
        adapted._handle_exception(error)  # raises it translated to the adapter's DB-API error
    except Exception as translated:
        dbapi_error: type[Exception] = adapted.dbapi.Error
        if isinstance(translated, dbapi_error):
            return DBAPIError.instance(sql, tuple(arguments), translated, dbapi_error)
        return translated
    return error


@asynccontextmanager
async def connection(engine: AsyncEngine) -> AsyncIterator[Connection]:
    """A connection of its own in one transaction: committed when the block ends, rolled back on an error."""
    if engine.dialect.name != "sqlite":
        async with engine.connect() as conn:
            synced = conn.sync_connection
            assert synced is not None  # connected
            # SQLAlchemy's transaction, for the flows' ORM session to join: on asyncpg its BEGIN and COMMIT send
            # nothing (the adapter begins at the session's first statement, if it makes one; ours commits
            # first), so they are called plainly, without a trip through a greenlet each
            began = synced.begin()
            fast = _AsyncpgConnection(conn, synced.connection.dbapi_connection)
            yield fast  # an error: closing the connection rolls the transaction back
            await fast.commit()
            began.commit()
        return
    conn = await engine.connect()
    try:  # closed in place: it cannot suspend (see ``transaction``)
        async with conn.begin():
            # connected and in its transaction: the driver's connection is at hand, no I/O to reach it
            yield _InlineConnection(conn, conn.sync_connection.connection.driver_connection)  # type: ignore[union-attr]  # connected
    finally:
        await conn.close()
