"""Looking at the queue: counts per state, and the messages listed for ``civicbot outbox``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from store.models import Application, CatalogItem, Identity, OutboxMessage, Project
from store.outbox.lifecycle import WAITING


async def counts(session: AsyncSession, *, department_id: int | None = None) -> dict[str, int]:
    """Rows per state (states without rows are absent); only messages to one department's people if given."""
    stmt = select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
    if department_id is not None:
        stmt = stmt.join(Identity, Identity.id == OutboxMessage.identity_id).where(department_people(department_id))
    return {state: n for state, n in (await session.execute(stmt)).all()}


async def waiting_count(session: AsyncSession) -> int:
    """Messages still to be sent: pending, failed (to retry) and in flight."""
    stmt = select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.state.in_((*WAITING, "sending"))
    )
    return await session.scalar(stmt) or 0


@dataclass(frozen=True)
class Listed:
    id: int
    state: str
    kind: str
    key: str | None
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None
    identity_id: int
    role: str
    channel: str
    claimed_by: str | None
    claimed_at: datetime | None
    lease_until: datetime | None


def department_people(department_id: int) -> ColumnElement[bool]:
    """Identities a department's staff may see messages to: its staff, and members of organizations
    with a project or an application in the department."""
    org_has_project = exists().where(
        Project.organization_id == Identity.organization_id, Project.department_id == department_id
    )
    org_has_application = exists().where(
        Application.organization_id == Identity.organization_id,
        Application.catalog_item_id == CatalogItem.id,
        CatalogItem.department_id == department_id,
    )
    return or_(
        (Identity.role == "staff") & (Identity.department_id == department_id),
        (Identity.role == "org") & (org_has_project | org_has_application),
    )


async def list_messages(
    session: AsyncSession,
    states: Sequence[str],
    *,
    department_id: int | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Listed], int]:
    """Messages in ``states`` (to one department's people, or to anyone with None), most urgent first;
    and how many there are in all."""
    condition = OutboxMessage.state.in_(list(states))
    base = select(OutboxMessage.id).join(Identity, Identity.id == OutboxMessage.identity_id).where(condition)
    if department_id is not None:
        base = base.where(department_people(department_id))
    total = await session.scalar(select(func.count()).select_from(base.subquery())) or 0
    stmt = (
        select(OutboxMessage, Identity.role, Identity.channel)
        .join(Identity, Identity.id == OutboxMessage.identity_id)
        .where(OutboxMessage.id.in_(base.scalar_subquery()))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .offset(offset)
        .limit(limit)
    )
    listed = []
    for message, role, channel in (await session.execute(stmt)).all():
        payload = message.payload or {}
        listed.append(Listed(
            message.id, message.state, message.kind, payload.get("key"), message.attempts, message.next_attempt_at,
            message.created_at, message.sent_at, message.last_error, message.identity_id, role, channel,
            message.claimed_by, message.claimed_at, message.lease_until,
        ))
    return listed, total
