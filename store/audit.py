"""The audit log: who changed what, when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from store.models import AuditEntry


async def record(
    session: AsyncSession, at: datetime, actor: str, action: str, entity: str, key: str, **detail: Any
) -> None:
    # written with the turn's other changes at the next flush, not in a round trip of its own
    session.add(AuditEntry(at=at, actor=actor, action=action, entity=entity, entity_key=key, detail=detail))
