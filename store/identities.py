"""What a channel learns of its people outside a turn: one blocked the bot, some wrote again, and the role
and chosen language of some (for per-person command menus). A turn's own identity work (get or create,
lock) is ``store.conversations``'; the outbox marks an identity it could not reach itself
(``store.outbox.mark_identity_unreachable``)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Identity


async def mark_unreachable(session: AsyncSession, channel: str, external_id: str) -> None:
    """``external_id`` blocked the bot (a 403): nothing is sent there until they write again."""
    await session.execute(
        update(Identity).where(Identity.channel == channel, Identity.external_id == external_id)
        .values(unreachable=True).execution_options(synchronize_session=False)
    )


async def mark_reachable(session: AsyncSession, channel: str, external_ids: Collection[str]) -> None:
    """These wrote to the bot, so they no longer block it."""
    if external_ids:
        await session.execute(
            update(Identity)
            .where(Identity.channel == channel, Identity.external_id.in_(external_ids), Identity.unreachable)
            .values(unreachable=False).execution_options(synchronize_session=False)
        )


async def roles_and_locales(
    session: AsyncSession, channel: str, external_ids: Collection[str]
) -> dict[str, tuple[str, str | None]]:
    """``{external_id: (role, chosen locale or None)}`` of those of ``external_ids`` that have an identity."""
    if not external_ids:
        return {}
    rows = await session.execute(
        select(Identity.external_id, Identity.role, Identity.locale)
        .where(Identity.channel == channel, Identity.external_id.in_(external_ids))
    )
    return {row.external_id: (row.role, row.locale) for row in rows}
