"""``INSERT … ON CONFLICT DO NOTHING`` that SQLAlchemy can cache.

The dialects' own ``insert().on_conflict_do_nothing()`` opt out of the compiled-statement cache
(their classes set ``inherit_cache = False``), so every execution compiles its SQL afresh — a
noticeable part of a chat turn, and tens of milliseconds for the reminder rules' large INSERT …
SELECT. A target-less DO NOTHING is the same words on SQLite (≥ 3.24) and PostgreSQL, so here it is
a constant clause of a plain, cacheable Insert that does not depend on the dialect: statements can
be built once, at import.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ClauseElement


class _DoNothing(ClauseElement):
    __visit_name__ = "civicbot_on_conflict_do_nothing"
    _traverse_internals: list[Any] = []  # no target, no arguments: a constant of its class
    inherit_cache = True


@compiles(_DoNothing)
def _do_nothing(element: _DoNothing, compiler: Any, **kw: Any) -> str:
    return "ON CONFLICT DO NOTHING"


class InsertIgnore(Insert):
    """``INSERT INTO table … ON CONFLICT DO NOTHING`` (values, ``from_select`` and ``returning`` as usual)."""

    inherit_cache = True

    def __init__(self, table: Any) -> None:
        super().__init__(table)
        self._post_values_clause = _DoNothing()  # rendered where the dialects put their ON CONFLICT


def insert_ignore(model: Any, **values: Any) -> InsertIgnore:
    """``INSERT … ON CONFLICT DO NOTHING`` into ``model`` (a mapped class or a table), with ``values`` if given."""
    stmt = InsertIgnore(getattr(model, "__table__", model))
    return stmt.values(**values) if values else stmt
