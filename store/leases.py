"""Single-evaluator locks and the rules' watermark.

Only one process evaluates the reminder rules at a time. PostgreSQL: a transaction-scoped advisory
lock (``pg_try_advisory_xact_lock``; a session lock would stay with a pooled connection). SQLite has
no advisory locks: a row of ``leases`` held until it expires, so a process killed while holding it
blocks the others only until then.

The watermark — the moment rules were last evaluated as of — is kept in a ``leases`` row too (its
``expires_at`` is that moment), so the next evaluation looks only at the moments since.
"""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from store.inserts import insert_ignore
from store.models import Lease

WATERMARK_HOLDER = "watermark"


def advisory_key(name: str) -> int:
    """The advisory lock number of a lock name: the same in every process (``hash()`` is salted)."""
    return zlib.crc32(f"civicbot:{name}".encode()) - 2**31


def is_sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


async def try_advisory_xact_lock(session: AsyncSession, name: str) -> bool:
    """PostgreSQL: take the named lock until this transaction ends; False when another holds it."""
    return bool(await session.scalar(select(func.pg_try_advisory_xact_lock(advisory_key(name)))))


async def acquire_lease(session: AsyncSession, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take (or renew) the lease ``name`` for ``holder`` until ``now + ttl``; False while another holds it.

    Commit right after, so other processes see it.
    """
    expires = now + ttl
    inserted = await session.execute(
        insert_ignore(Lease, name=name, holder=holder, expires_at=expires).returning(Lease.name)
    )
    if inserted.first() is not None:
        return True
    result = await session.execute(
        update(Lease)
        .where(Lease.name == name, (Lease.expires_at <= now) | (Lease.holder == holder))
        .values(holder=holder, expires_at=expires)
        .execution_options(synchronize_session=False)
    )
    return (result.rowcount or 0) == 1


async def release_lease(session: AsyncSession, name: str, holder: str) -> None:
    await session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))


async def get_watermark(session: AsyncSession, name: str) -> datetime | None:
    return await session.scalar(select(Lease.expires_at).where(Lease.name == name))


async def set_watermark(session: AsyncSession, name: str, moment: datetime) -> None:
    dialect = sqlite if is_sqlite(session) else postgresql
    stmt = dialect.insert(Lease).values(name=name, holder=WATERMARK_HOLDER, expires_at=moment)
    await session.execute(stmt.on_conflict_do_update(index_elements=[Lease.name], set_={"expires_at": moment}))


async def get_cursor(session: AsyncSession, name: str) -> int | None:
    """The last id a rule has seen of a table (kept in the holder column of a lease row)."""
    holder = await session.scalar(select(Lease.holder).where(Lease.name == name))
    return int(holder) if holder is not None and holder.isdigit() else None


async def set_cursor(session: AsyncSession, name: str, last_id: int, now: datetime) -> None:
    dialect = sqlite if is_sqlite(session) else postgresql
    stmt = dialect.insert(Lease).values(name=name, holder=str(last_id), expires_at=now)
    await session.execute(stmt.on_conflict_do_update(index_elements=[Lease.name], set_={"holder": str(last_id)}))
