"""Single-use binding codes: issue, look up, bind, list and revoke. Only hashes are stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Department, Expert, Identity, Invite, Organization

BINDING_PREFIX = "b"
PREFIX_SHOWN = 8


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def new_code(prefix: str) -> str:
    """``prefix`` + 128 random bits in URL-safe base64: a valid Telegram /start payload."""
    return prefix + secrets.token_urlsafe(16)


async def resolve_ref(session: AsyncSession, role: str, ref: str) -> int | None:
    """The id that ``ref`` names for ``role`` (department code, USCC or expert code)."""
    if role == "staff":
        stmt = select(Department.id).where(Department.code == ref)
    elif role == "org":
        stmt = select(Organization.id).where(Organization.uscc == ref)
    elif role == "expert":
        stmt = select(Expert.id).where(Expert.code == ref)
    else:
        raise ValueError(f"unknown role {role!r}")
    return (await session.execute(stmt)).scalar_one_or_none()


async def create_invite(session: AsyncSession, role: str, ref: str, now: datetime, ttl_days: int) -> tuple[str, Invite]:
    if await resolve_ref(session, role, ref) is None:
        what = {"staff": "department", "org": "organization", "expert": "expert"}[role]
        raise LookupError(f"no {what} {ref!r}")
    code = new_code(BINDING_PREFIX)
    invite = Invite(
        code_hash=code_hash(code), code_prefix=code[:PREFIX_SHOWN], role=role, ref=ref,
        created_at=now, expires_at=now + timedelta(days=ttl_days),
    )
    session.add(invite)
    await session.flush()
    return code, invite


@dataclass(frozen=True)
class Lookup:
    invite: Invite | None
    problem: str | None  # "unknown" | "expired" | "used" | "revoked"


async def find_invite(session: AsyncSession, code: str, now: datetime) -> Lookup:
    invite = (await session.execute(select(Invite).where(Invite.code_hash == code_hash(code)))).scalar_one_or_none()
    if invite is None:
        return Lookup(None, "unknown")
    return Lookup(invite, invite_problem(invite, now))


def invite_problem(invite: Invite, now: datetime) -> str | None:
    """Why ``invite`` no longer binds ("revoked", "used", "expired"); None while it does."""
    if invite.revoked_at is not None:
        return "revoked"
    if invite.used_at is not None:
        return "used"
    return "expired" if invite.expires_at <= now else None


async def set_binding(session: AsyncSession, identity: Identity, role: str, ref: str | None) -> None:
    """Make ``identity`` a resident (role ``resident``) or bind it to ``ref`` (replacing any other)."""
    target = None if role == "resident" else await resolve_ref(session, role, ref or "")
    if role != "resident" and target is None:
        raise LookupError(f"{role} {ref!r} does not exist")
    identity.role = role
    identity.department_id = target if role == "staff" else None
    identity.organization_id = target if role == "org" else None
    identity.expert_id = target if role == "expert" else None
    await session.flush()


async def bind(session: AsyncSession, identity: Identity, invite: Invite, now: datetime) -> None:
    """Give ``identity`` the invite's binding (replacing any other) and use the invite up."""
    await set_binding(session, identity, invite.role, invite.ref)
    invite.used_at = now
    await session.flush()


async def active_invites(session: AsyncSession, now: datetime) -> list[Invite]:
    stmt = (
        select(Invite)
        .where(Invite.used_at.is_(None), Invite.revoked_at.is_(None), Invite.expires_at > now)
        .order_by(Invite.created_at)
    )
    return list((await session.execute(stmt)).scalars())


async def revoke(session: AsyncSession, code_or_prefix: str, now: datetime) -> list[Invite]:
    """Revoke the active invite named by its full code or its shown prefix (must be unambiguous)."""
    stmt = select(Invite).where(
        Invite.used_at.is_(None), Invite.revoked_at.is_(None),
        or_(Invite.code_hash == code_hash(code_or_prefix), Invite.code_prefix == code_or_prefix[:PREFIX_SHOWN]),
    )
    found = list((await session.execute(stmt)).scalars())
    exact = [i for i in found if i.code_hash == code_hash(code_or_prefix)]
    if exact:
        found = exact
    elif len(code_or_prefix) < PREFIX_SHOWN:
        found = []
    if len(found) == 1:
        found[0].revoked_at = now
        await session.flush()
    return found
