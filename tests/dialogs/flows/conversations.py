"""What a flow test reads back from the database: a person's saved conversation (flow, step, slots)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store import models as m


async def saved_state(sessions: async_sessionmaker[AsyncSession], external_id: str) -> tuple[str | None, str | None, dict[str, Any]]:
    """The conversation the engine saved for ``external_id`` after its last turn."""
    async with sessions() as s:
        row = (await s.execute(
            select(m.Conversation).join(m.Identity, m.Identity.id == m.Conversation.identity_id)
            .where(m.Identity.external_id == external_id)
        )).scalar_one()
        return row.flow, row.step, dict(row.slots)


async def identity_id(sessions: async_sessionmaker[AsyncSession], external_id: str) -> int:
    async with sessions() as s:
        found = await s.scalar(select(m.Identity.id).where(m.Identity.external_id == external_id))
        assert found is not None, external_id
        return found
