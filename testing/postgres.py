"""A scratch PostgreSQL database for a benchmark: created empty on a server, dropped with its data afterwards."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator

import asyncpg
from sqlalchemy.engine import make_url


@contextlib.asynccontextmanager
async def scratch_database(server: str) -> AsyncIterator[str]:
    """A new, empty database on the PostgreSQL ``server`` (a SQLAlchemy URL); yields its URL for asyncpg."""
    base = make_url(server)
    name = f"civicbot_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(base.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield base.set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
