"""Shared fixtures: throw-away migrated databases on SQLite and on PostgreSQL.

PostgreSQL tests run against the server named by ``CIVICBOT_TEST_DATABASE_URL``; each test gets
its own database, cloned from a migrated template made once per session, and dropped afterwards.
Without that variable they are skipped, unless ``CIVICBOT_REQUIRE_POSTGRES=1`` (CI), where a
missing server is an error instead.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from store.db import create_engine, sessionmaker
from store.migrate import upgrade

PG_ENV = "CIVICBOT_TEST_DATABASE_URL"


def _pg_server_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("CIVICBOT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{PG_ENV} is not set but CIVICBOT_REQUIRE_POSTGRES=1")
        pytest.skip(f"{PG_ENV} not set: PostgreSQL tests skipped")
    return url


def run_blocking(factory: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine to completion from sync code, even when called under a running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, factory()).result()


def _dsn(url: str, database: str) -> str:
    parsed = make_url(url).set(drivername="postgresql", database=database)
    return parsed.render_as_string(hide_password=False)


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(_dsn(url, make_url(url).database or "postgres"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"

    async def build() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade(engine)
        # closing the last connection checkpoints the WAL into the main file
        await engine.dispose()

    run_blocking(build)
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[tuple[str, str]]:
    server = _pg_server_url()
    assert server is not None
    name = f"civicbot_tpl_{secrets.token_hex(4)}"
    try:
        run_blocking(lambda: _admin(server, f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CIVICBOT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL at {server} not usable: {exc}")
        pytest.skip(f"PostgreSQL at {server} not usable: {exc}")
    url = make_url(server).set(drivername="postgresql+asyncpg", database=name).render_as_string(False)

    async def build() -> None:
        engine = create_engine(url)
        await upgrade(engine)
        await engine.dispose()

    run_blocking(build)
    yield server, name
    run_blocking(lambda: _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _fresh_sqlite_url(template: Path, tmp_path: Path) -> str:
    target = tmp_path / "civicbot.db"
    shutil.copyfile(template, target)
    assert not template.with_name(template.name + "-wal").exists(), "template WAL was not checkpointed"
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated SQLite database of this test's own."""
    return _fresh_sqlite_url(sqlite_template, tmp_path)


@pytest.fixture
def pg_url(pg_template: tuple[str, str]) -> Iterator[str]:
    """A migrated PostgreSQL database of this test's own, dropped afterwards."""
    server, template = pg_template
    name = f"civicbot_t_{secrets.token_hex(6)}"
    run_blocking(lambda: _admin(server, f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield make_url(server).set(drivername="postgresql+asyncpg", database=name).render_as_string(False)
    finally:
        run_blocking(lambda: _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A migrated database on each backend in turn."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(db_url)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return sessionmaker(engine)
