"""A channel's durable inbox (``channel_updates``): each update is written here before the channel confirms
it to the platform, and deleted once it is handled. What is left at a start is what a crash interrupted.

Retention: a row lives from receipt until its update is handled (or given up), so the table holds only
updates in hand. It is not the de-duplication of re-deliveries: that is ``handled_incoming``
(``store.conversations.already_handled`` and the turn's claim).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import affected
from store.inserts import insert_ignore
from store.models import ChannelUpdate

# ``INSERT … ON CONFLICT DO NOTHING RETURNING update_id``, run with a list of rows (one cached statement,
# where a multi-row VALUES would be compiled afresh for every batch size)
_RECORD = insert_ignore(ChannelUpdate).returning(ChannelUpdate.update_id)


@dataclass(frozen=True)
class Pending:
    """An update recorded and not yet handled."""

    update_id: int
    user_key: str | None
    payload: dict[str, Any]


async def record(
    session: AsyncSession, channel: str, updates: Sequence[tuple[int, str | None, dict[str, Any]]], now: datetime
) -> set[int]:
    """Write ``(update_id, user_key, payload)`` rows; the ids that were not in hand already."""
    if not updates:
        return set()
    rows = [
        {"channel": channel, "update_id": update_id, "user_key": user_key, "payload": payload,
         "received_at": now, "handled_at": None}
        for update_id, user_key, payload in updates
    ]
    return set((await session.execute(_RECORD, rows)).scalars())


async def pending(session: AsyncSession, channel: str) -> list[Pending]:
    """The updates in hand, oldest first."""
    rows = await session.execute(
        select(ChannelUpdate.update_id, ChannelUpdate.user_key, ChannelUpdate.payload)
        .where(ChannelUpdate.channel == channel, ChannelUpdate.handled_at.is_(None))
        .order_by(ChannelUpdate.update_id)
    )
    return [Pending(row.update_id, row.user_key, row.payload) for row in rows]


async def forget(session: AsyncSession, channel: str, update_ids: Collection[int]) -> None:
    """These updates are handled: they and what the person typed in them go."""
    if update_ids:
        await session.execute(
            delete(ChannelUpdate).where(ChannelUpdate.channel == channel, ChannelUpdate.update_id.in_(update_ids))
        )


async def forget_handled(session: AsyncSession, channel: str) -> int:
    """Rows that earlier versions kept once handled (as a second de-duplication); how many went."""
    return affected(await session.execute(
        delete(ChannelUpdate).where(ChannelUpdate.channel == channel, ChannelUpdate.handled_at.is_not(None))
    ))
