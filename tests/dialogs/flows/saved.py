"""What the engine saved of one person's conversation, read back from the database (flow, step, slots)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store import models as m


async def saved(sessions: async_sessionmaker[AsyncSession], user_id: str) -> tuple[str | None, str | None, dict[str, Any]]:
    async with sessions() as s:
        row = (await s.execute(
            select(m.Conversation.flow, m.Conversation.step, m.Conversation.slots)
            .join(m.Identity, m.Identity.id == m.Conversation.identity_id).where(m.Identity.external_id == user_id)
        )).one()
    return row.flow, row.step, dict(row.slots)
