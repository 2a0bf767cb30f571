"""Web chat sessions: an opaque random cookie key (only its SHA-256 is stored) standing for a ``web``
identity, with a rolling expiry; and the outbox messages waiting for web identities whose page is open.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import affected
from store.inserts import insert_ignore
from store.models import Conversation, Identity, OutboxMessage, WebSession
from store.outbox import WAITING, Claimed

CHANNEL = "web"
KEY_BYTES = 32  # 256 bits, well over the 128 the cookie needs
SESSION_DAYS = 180
REFRESH_AFTER = timedelta(days=1)  # the rolling expiry is pushed on at most once a day


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Visitor:
    """Who a browser is: its identity, and a new cookie key when one had to be made (else None)."""

    identity_id: int
    external_id: str
    new_key: str | None
    expires_at: datetime


async def visitor(session: AsyncSession, key: str | None, now: datetime) -> Visitor:
    """The identity behind cookie ``key``; an unknown or expired key (another server's, a forgotten
    device's) gets a fresh resident identity and a new key, never someone else's."""
    if key:
        row = (
            await session.execute(
                select(WebSession, Identity.external_id)
                .join(Identity, Identity.id == WebSession.identity_id)
                .where(WebSession.key_hash == key_hash(key))
            )
        ).first()
        if row is not None and row[0].expires_at > now:
            web_session: WebSession = row[0]
            expires = web_session.expires_at
            if expires - now < timedelta(days=SESSION_DAYS) - REFRESH_AFTER:
                expires = now + timedelta(days=SESSION_DAYS)
                web_session.expires_at = expires
            return Visitor(web_session.identity_id, row[1], None, expires)
    new_key = secrets.token_urlsafe(KEY_BYTES)
    external_id = secrets.token_hex(16)  # not the key: the identity's id appears in logs and the outbox
    await session.execute(
        insert_ignore(Identity, channel=CHANNEL, external_id=external_id, role="resident", created_at=now,
                      unreachable=False)
    )
    identity_id = await session.scalar(
        select(Identity.id).where(Identity.channel == CHANNEL, Identity.external_id == external_id)
    )
    assert identity_id is not None
    expires = now + timedelta(days=SESSION_DAYS)
    session.add(WebSession(key_hash=key_hash(new_key), identity_id=identity_id, created_at=now, expires_at=expires))
    return Visitor(identity_id, external_id, new_key, expires)


async def forget(session: AsyncSession, identity_id: int) -> int:
    """End every session of the identity ("forget this device"): its cookies open nothing any more."""
    result = await session.execute(delete(WebSession).where(WebSession.identity_id == identity_id))
    return affected(result)


async def prune(session: AsyncSession, now: datetime) -> int:
    result = await session.execute(delete(WebSession).where(WebSession.expires_at <= now))
    return affected(result)


async def waiting_recipients(session: AsyncSession) -> set[int]:
    """Web identities with messages waiting: a cheap look (the waiting rows are few, by their state's
    index) before claiming anything for the pages that are open."""
    rows = await session.execute(
        select(OutboxMessage.identity_id).distinct()
        .join(Identity, Identity.id == OutboxMessage.identity_id)
        .where(OutboxMessage.state.in_(WAITING), Identity.channel == CHANNEL)
    )
    return set(rows.scalars())


async def claim_waiting(
    session: AsyncSession, identity_ids: Iterable[int], now: datetime, lease_until: datetime, by: str, limit: int = 50
) -> list[Claimed]:
    """Claim (for ``by``, until ``lease_until``) every waiting message to these (web) identities, due or not:
    a message shown on a page the person has open, or opens, wakes nobody, so neither quiet hours nor
    back-off apply."""
    wanted = sorted(set(identity_ids))
    if not wanted:
        return []
    due = (
        select(OutboxMessage.id)
        .where(OutboxMessage.identity_id.in_(wanted), OutboxMessage.state.in_(WAITING))
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = (
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(due.scalar_subquery()), OutboxMessage.state.in_(WAITING))
            .values(state="sending", claimed_by=by, claimed_at=now, lease_until=lease_until)
            .returning(OutboxMessage.id, OutboxMessage.identity_id, OutboxMessage.kind, OutboxMessage.payload,
                       OutboxMessage.milestone_id, OutboxMessage.attempts)
            .execution_options(synchronize_session=False)
        )
    ).all()
    if not rows:
        return []
    who = {
        r.id: r
        for r in await session.execute(
            select(Identity.id, Identity.external_id, Identity.locale).where(
                Identity.id.in_({r.identity_id for r in rows})
            )
        )
    }
    claimed = [
        Claimed(r.id, r.identity_id, r.kind, r.payload or {}, r.milestone_id, r.attempts, CHANNEL,
                who[r.identity_id].external_id, who[r.identity_id].locale, False)
        for r in rows
    ]
    return sorted(claimed, key=lambda c: c.id)


async def identity_locale(session: AsyncSession, identity_id: int) -> str | None:
    return await session.scalar(select(Identity.locale).where(Identity.id == identity_id))


async def has_conversation(session: AsyncSession, identity_id: int) -> bool:
    return await session.scalar(select(Conversation.id).where(Conversation.identity_id == identity_id)) is not None
