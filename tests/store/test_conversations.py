"""store/conversations.py: a turn reads its conversation (``open``) and ends (``end``) only on the state it
read — saved, its incoming's key claimed, its replies kept — or writes nothing (``Overtaken``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from store.conversations import Ending, Overtaken, handled_key, turn_connection
from store.db import create_engine, sessionmaker
from store.models import Conversation, HandledIncoming, TurnReply
from testing.factories import NOW

pytestmark = pytest.mark.asyncio


async def state(sessions: async_sessionmaker[AsyncSession]) -> tuple[str | None, str | None, dict[str, object], int]:
    async with sessions() as s:
        row = (await s.execute(select(Conversation.flow, Conversation.step, Conversation.slots, Conversation.version)
                               .where(Conversation.identity_id.is_not(None)))).one()
        return row.flow, row.step, row.slots, row.version


async def count(sessions: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_first_contact_opens_a_resident_and_an_empty_conversation_a_turn_ends_saved_and_kept(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with turn_connection(engine) as turn:
        identity, conversation, handled = await turn.open("test", "7", handled_key("test", "m1"), NOW, "Li")
        assert (identity.role, identity.display_name, conversation.flow, conversation.slots, handled) == (
            "resident", "Li", None, {}, False)
        kept = await turn.end(conversation, Ending(("apply", "title", {"n": 1}), [{"text": "hi"}]), "test", "7",
                              handled_key("test", "m1"), NOW)
    assert isinstance(kept, int)
    assert await state(sessions) == ("apply", "title", {"n": 1}, conversation.version + 1)
    async with turn_connection(engine) as turn:  # the same message again reads as handled
        _, again, handled = await turn.open("test", "7", handled_key("test", "m1"), NOW)
        assert handled and (again.flow, again.step) == ("apply", "title")
        assert await turn.unsent_of("test", "7", handled_key("test", "m1")) == (kept, [{"text": "hi"}], NOW)


async def test_a_turn_of_a_message_claimed_meanwhile_is_overtaken_and_writes_nothing(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    key = handled_key("test", "m1")
    async with turn_connection(engine) as turn:
        _, conversation, _ = await turn.open("test", "7", key, NOW)
    async with sessions() as s, s.begin():  # the same message, handled elsewhere, without changing the state
        s.add(HandledIncoming(key=key, handled_at=NOW))
    with pytest.raises(Overtaken):
        async with turn_connection(engine) as turn:
            await turn.end(conversation, Ending(("apply", "title", {"n": 1}), [{"text": "hi"}]), "test", "7", key,
                           NOW + timedelta(seconds=1))
    assert await state(sessions) == (None, None, {}, conversation.version)  # the save undone with the claim
    assert await count(sessions, TurnReply) == 0


@pytest.mark.postgres
async def test_on_postgresql_turns_of_one_person_run_side_by_side_and_the_second_to_end_is_overtaken(
    pg_url: str,
) -> None:
    """(On SQLite a turn holds the write lock from its first statement: two never run side by side.)"""
    engine = create_engine(pg_url)
    sessions = sessionmaker(engine)
    try:
        await _side_by_side(engine, sessions)
    finally:
        await engine.dispose()


async def _side_by_side(engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> None:
    async with turn_connection(engine) as turn:  # the conversation exists
        await turn.open("test", "7", handled_key("test", "m0"), NOW)
    async with turn_connection(engine) as one, turn_connection(engine) as two:
        _, first, _ = await one.open("test", "7", handled_key("test", "m1"), NOW)
        _, second, _ = await two.open("test", "7", handled_key("test", "m2"), NOW)  # not held back: nothing locked
        await one.end(first, Ending(("apply", "title", {"n": 1}), None), "test", "7", handled_key("test", "m1"), NOW)
        with pytest.raises(Overtaken):  # read the state the first one has changed since
            await two.end(second, Ending(None, [{"text": "menu"}]), "test", "7", handled_key("test", "m2"), NOW)
    assert await state(sessions) == ("apply", "title", {"n": 1}, first.version + 1)
    assert await count(sessions, TurnReply) == 0
    async with sessions() as s:
        assert set((await s.execute(select(HandledIncoming.key))).scalars()) == {handled_key("test", "m1")}
