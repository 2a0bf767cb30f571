"""Button data too long for a channel's limit, kept under a short token (``ButtonToken``): saved, looked up,
pruned."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import affected
from store.models import ButtonToken


async def keep_button_tokens(session: AsyncSession, data_by_token: Mapping[str, str], now: datetime) -> None:
    """Save each token's data; a token kept already gets ``now`` as its date, so one still on screen is not
    pruned."""
    dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    for token, data in data_by_token.items():
        stmt = dialect.insert(ButtonToken).values(token=token, data=data, created_at=now)
        await session.execute(stmt.on_conflict_do_update(index_elements=[ButtonToken.token], set_={"created_at": now}))


async def button_token_data(session: AsyncSession, token: str) -> str | None:
    """The data kept under ``token``; None for a token that is unknown (or pruned)."""
    data: str | None = await session.scalar(select(ButtonToken.data).where(ButtonToken.token == token))
    return data


async def forget_button_tokens_before(session: AsyncSession, cutoff: datetime) -> int:
    """Drop the tokens last saved before ``cutoff``; how many went."""
    return affected(await session.execute(delete(ButtonToken).where(ButtonToken.created_at < cutoff)))
