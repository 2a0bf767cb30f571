"""``INSERT … ON CONFLICT DO NOTHING`` that SQLAlchemy can cache.

The dialects' own ``insert().on_conflict_do_nothing()`` opt out of the compiled-statement cache
(their classes set ``inherit_cache = False``), so every execution compiles its SQL afresh — a
noticeable part of a chat turn, and tens of milliseconds for the reminder rules' large INSERT …
SELECT. A target-less DO NOTHING is the same clause every time, so here it is a constant part of a
plain (cacheable) Insert; both SQLite (≥ 3.24) and PostgreSQL compile it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql.dml import OnConflictDoNothing as _PgDoNothing
from sqlalchemy.dialects.sqlite.dml import OnConflictDoNothing as _SqliteDoNothing
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert


class _SqliteNothing(_SqliteDoNothing):
    _traverse_internals: list[Any] = []  # no target, no arguments: a constant of its class


class _PgNothing(_PgDoNothing):
    _traverse_internals: list[Any] = []


class InsertIgnore(Insert):
    """``INSERT INTO table … ON CONFLICT DO NOTHING`` (values, ``from_select`` and ``returning`` as usual)."""

    inherit_cache = True

    def __init__(self, table: Any, dialect: str) -> None:
        super().__init__(table)
        self._post_values_clause = _SqliteNothing() if dialect == "sqlite" else _PgNothing()


def insert_ignore(session: AsyncSession, model: Any, **values: Any) -> InsertIgnore:
    """``INSERT … ON CONFLICT DO NOTHING`` into ``model`` for the session's dialect, with ``values`` if given."""
    stmt = InsertIgnore(getattr(model, "__table__", model), session.get_bind().dialect.name)
    return stmt.values(**values) if values else stmt
