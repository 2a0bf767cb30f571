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
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Integer, Select, String, bindparam, cast, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import affected
from store.inserts import InsertIgnore
from store.models import Lease
from store.types import UTCDateTime

WATERMARK_HOLDER = "watermark"


def advisory_key(name: str) -> int:
    """The advisory lock number of a lock name: the same in every process (``hash()`` is salted)."""
    return zlib.crc32(f"civicbot:{name}".encode()) - 2**31


def is_sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


async def try_advisory_xact_lock(session: AsyncSession, name: str) -> bool:
    """PostgreSQL: take the named lock until this transaction ends; False when another holds it."""
    return bool(await session.scalar(select(func.pg_try_advisory_xact_lock(advisory_key(name)))))


# set_config(…, true): for the rest of the transaction only
_EVALUATION_SETTINGS = select(func.set_config("max_parallel_workers_per_gather", "0", True))


async def evaluation_settings(session: AsyncSession) -> None:
    """PostgreSQL, for the rest of this transaction — the rules' evaluation: its queries start no parallel
    workers. They are index range scans of a few days each; the planner still chose a parallel plan for
    the unalerted overdue milestones (estimated in thousands, found none), whose workers' start made that
    query 21 ms (median 33) instead of 5.5 ms (median 10) at the busiest tick of bench/reminders.py, on a
    busy 2-core machine."""
    await session.execute(_EVALUATION_SETTINGS)


_NAME = bindparam("lease", type_=String())
_TAKE = InsertIgnore(Lease.__table__).returning(Lease.name)
_RENEW = (
    update(Lease)
    .where(Lease.name == _NAME, (Lease.expires_at <= bindparam("now", type_=UTCDateTime()))
           | (Lease.holder == bindparam("who", type_=String())))
    .values(holder=bindparam("who"), expires_at=bindparam("until"))
    .execution_options(synchronize_session=False)
)
_RELEASE = delete(Lease).where(Lease.name == _NAME, Lease.holder == bindparam("who", type_=String()))
_EXPIRES = select(Lease.expires_at).where(Lease.name == _NAME)
_HOLDER = select(Lease.holder).where(Lease.name == _NAME)
_MOVE = (update(Lease).where(Lease.name == _NAME).values(expires_at=bindparam("moment"))
         .execution_options(synchronize_session=False))
_COUNT = (update(Lease).where(Lease.name == _NAME).values(holder=bindparam("last"))
          .execution_options(synchronize_session=False))


async def acquire_lease(session: AsyncSession, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take (or renew) the lease ``name`` for ``holder`` until ``now + ttl``; False while another holds it.

    Commit right after, so other processes see it.
    """
    expires = now + ttl
    inserted = await session.execute(_TAKE, {"name": name, "holder": holder, "expires_at": expires})
    if inserted.first() is not None:
        return True
    result = await session.execute(_RENEW, {"lease": name, "who": holder, "now": now, "until": expires})
    return affected(result) == 1


async def release_lease(session: AsyncSession, name: str, holder: str) -> None:
    await session.execute(_RELEASE, {"lease": name, "who": holder})


async def get_watermark(session: AsyncSession, name: str) -> datetime | None:
    moment: datetime | None = await session.scalar(_EXPIRES, {"lease": name})
    return moment


async def set_watermark(session: AsyncSession, name: str, moment: datetime) -> None:
    """Keep ``moment`` under ``name``. Callers hold the evaluator's lock, so the row cannot appear between
    the update and the insert of a first time."""
    if affected(await session.execute(_MOVE, {"lease": name, "moment": moment})) == 0:
        await session.execute(_TAKE, {"name": name, "holder": WATERMARK_HOLDER, "expires_at": moment})


async def get_cursor(session: AsyncSession, name: str) -> int | None:
    """The last id a rule has seen of a table (kept in the holder column of a lease row)."""
    holder = await session.scalar(_HOLDER, {"lease": name})
    return int(holder) if holder is not None and holder.isdigit() else None


async def set_cursor(session: AsyncSession, name: str, last_id: int, now: datetime) -> None:
    if affected(await session.execute(_COUNT, {"lease": name, "last": str(last_id)})) == 0:
        await session.execute(_TAKE, {"name": name, "holder": str(last_id), "expires_at": now})


async def past_cursors(session: AsyncSession, cursors: Mapping[str, Any]) -> bool:
    """Whether any table has rows past its cursor, or has no cursor yet (``cursors``: cursor name → the
    table's id column): one statement, so a minute in which nothing was recorded costs one read."""
    return bool(await session.scalar(_past_cursors(tuple(cursors.items()))))


@cache
def _past_cursors(cursors: tuple[tuple[str, Any], ...]) -> Select[Any]:
    checks = [
        func.coalesce(select(func.max(column)).scalar_subquery(), 0)
        > func.coalesce(select(cast(Lease.holder, Integer)).where(Lease.name == name).scalar_subquery(), -1)
        for name, column in cursors
    ]
    return select(or_(*checks))
