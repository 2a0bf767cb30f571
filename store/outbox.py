"""The outbox: every message that is not a direct answer is queued here, once per de-duplication key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from store.conversations import insert_ignore
from store.models import OutboxMessage


async def enqueue(
    session: AsyncSession,
    identity_id: int,
    kind: str,
    payload: dict[str, Any],
    dedup_key: str,
    now: datetime,
    *,
    not_before: datetime | None = None,
) -> bool:
    """Queue a message; False when one with the same ``dedup_key`` was queued before."""
    result = await session.execute(
        insert_ignore(
            session, OutboxMessage, dedup_key=dedup_key, identity_id=identity_id, kind=kind, payload=payload,
            state="pending", attempts=0, next_attempt_at=not_before or now, created_at=now,
        ).returning(OutboxMessage.id)
    )
    return result.first() is not None
