"""The audit log: who changed what, when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import AuditEntry


async def record(
    session: AsyncSession, at: datetime, actor: str, action: str, entity: str, key: str, **detail: Any
) -> None:
    # written with the turn's other changes at the next flush, not in a round trip of its own
    session.add(AuditEntry(at=at, actor=actor, action=action, entity=entity, entity_key=key, detail=detail))


async def imported_changes_since(
    session: AsyncSession, entity: str, field: str, after_id: int, limit: int = 5000
) -> list[tuple[int, str, Any]]:
    """(audit id, record key, new value) of ``field`` changed by imports after audit entry ``after_id``."""
    stmt = (
        select(AuditEntry.id, AuditEntry.entity_key, AuditEntry.detail)
        .where(AuditEntry.id > after_id, AuditEntry.action == "import.update", AuditEntry.entity == entity)
        .order_by(AuditEntry.id).limit(limit)
    )
    found = []
    for audit_id, key, detail in (await session.execute(stmt)).all():
        change = (detail or {}).get("changes", {}).get(field)
        found.append((audit_id, key, change[1] if isinstance(change, list) and len(change) == 2 else None))
    return found


async def last_audit_id(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(AuditEntry.id), 0))) or 0)
