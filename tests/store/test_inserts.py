"""The one INSERT … ON CONFLICT DO NOTHING: ignores duplicates on both databases and is compiled once."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import event, func, insert, select

from store import models as m
from store.db import transaction
from store.inserts import insert_ignore

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


async def test_duplicates_are_ignored_and_returning_reports_only_new_rows(engine, sessions) -> None:  # type: ignore[no-untyped-def]
    async with transaction(sessions) as s:
        first = await s.execute(insert_ignore(m.HandledIncoming, key="a", handled_at=NOW).returning(m.HandledIncoming.key))
        again = await s.execute(insert_ignore(m.HandledIncoming, key="a", handled_at=NOW).returning(m.HandledIncoming.key))
        assert first.scalars().all() == ["a"]
        assert again.scalars().all() == []
        rows = [{"key": k, "handled_at": NOW} for k in ("a", "b", "c")]
        many = await s.execute(insert_ignore(m.HandledIncoming).returning(m.HandledIncoming.key), rows)
        assert sorted(many.scalars().all()) == ["b", "c"]
        assert await s.scalar(select(func.count()).select_from(m.HandledIncoming)) == 3


async def test_the_statement_is_compiled_once_and_never_shares_a_plain_inserts_sql(engine, sessions) -> None:  # type: ignore[no-untyped-def]
    async with transaction(sessions) as s:
        stmt = insert_ignore(m.HandledIncoming, key="x", handled_at=NOW)
        other = insert_ignore(m.HandledIncoming, key="y", handled_at=NOW)
        plain = insert(m.HandledIncoming).values(key="z", handled_at=NOW)
        key = stmt._generate_cache_key()
        assert key is not None  # the dialects' on_conflict_do_nothing() would give None: compiled every time
        assert key == other._generate_cache_key()
        assert key != plain._generate_cache_key()
    compiled: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _seen(conn, cursor, statement, parameters, context, executemany) -> None:
        if "handled_incoming" in statement:
            compiled.append(context.compiled.string if context.compiled else statement)
            cache_hits.append(context.cache_hit)

    cache_hits: list[object] = []
    for n in range(3):
        async with transaction(sessions) as s:
            await s.execute(insert_ignore(m.HandledIncoming, key=f"k{n}", handled_at=NOW))
    event.remove(engine.sync_engine, "before_cursor_execute", _seen)
    assert all("ON CONFLICT DO NOTHING" in sql for sql in compiled)
    hit = engine.sync_engine.dialect.CACHE_HIT
    assert cache_hits[1:] == [hit, hit]
