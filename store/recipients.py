"""Who receives notices: the bound members of organizations and the staff of departments."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Identity


@dataclass(frozen=True)
class Recipient:
    identity_id: int
    department_id: int | None = None


async def organization_members(session: AsyncSession, organization_ids: Iterable[int]) -> dict[int, list[Recipient]]:
    """Reachable members of each organization (organization id → members, oldest binding first)."""
    return await _reachable(session, "org", Identity.organization_id, organization_ids)


async def department_staff(session: AsyncSession, department_ids: Iterable[int]) -> dict[int, list[Recipient]]:
    """Reachable staff of each department (department id → staff, oldest binding first)."""
    return await _reachable(session, "staff", Identity.department_id, department_ids)


async def _reachable(session: AsyncSession, role: str, group: Any, group_ids: Iterable[int]) -> dict[int, list[Recipient]]:
    """Reachable identities of ``role`` grouped by ``group`` (their organization or department)."""
    ids = sorted(set(group_ids))
    found: dict[int, list[Recipient]] = defaultdict(list)
    if not ids:
        return found
    stmt = (
        select(Identity.id, group, Identity.department_id)
        .where(Identity.role == role, group.in_(ids), Identity.unreachable.is_(False))
        .order_by(Identity.id)
    )
    for identity_id, group_id, department_id in (await session.execute(stmt)).all():
        found[group_id].append(Recipient(identity_id, department_id))
    return found


async def staff_and_admins(session: AsyncSession, admins: Iterable[tuple[str, str]]) -> list[Recipient]:
    """Every reachable staff member, and every administrator (``department_id`` None: all departments).

    An administrator who is also bound as staff of one department is listed once, as administrator.
    """
    admin_pairs = list(admins)
    condition = Identity.role == "staff"
    if admin_pairs:
        condition = or_(condition, *[and_(Identity.channel == c, Identity.external_id == e) for c, e in admin_pairs])
    stmt = (
        select(Identity.id, Identity.role, Identity.department_id, Identity.channel, Identity.external_id)
        .where(condition, Identity.unreachable.is_(False))
        .order_by(Identity.id)
    )
    admin_set = set(admin_pairs)
    return [
        Recipient(identity_id, None if (channel, external_id) in admin_set else department_id)
        for identity_id, _role, department_id, channel, external_id in (await session.execute(stmt)).all()
    ]
