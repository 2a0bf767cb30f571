"""How the public read models run their SQL: each statement built once per shape with bound parameters
and reused, run on the session's connection past the ORM.

Building a SQLAlchemy statement costs more than running these indexed queries, and answers must stay
close to their SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import Integer, Result, bindparam
from sqlalchemy.ext.asyncio import AsyncSession

_statements: dict[Hashable, Any] = {}

LIMIT = bindparam("limit", type_=Integer)
OFFSET = bindparam("offset", type_=Integer)


def cached(key: Hashable, build: Callable[[], Any]) -> Any:
    """The statement of this shape, built on first use (keys are unique across the package)."""
    statement = _statements.get(key)
    if statement is None:
        statement = _statements[key] = build()
    return statement


def param(name: str, **kw: Any) -> Any:
    return bindparam(name, **kw)


async def run(session: AsyncSession, statement: Any, params: dict[str, Any] | None = None) -> Result[Any]:
    """Run a column statement on the session's connection (its transaction), past the ORM: these
    queries load no entities, and the ORM's execution path costs several times the query itself."""
    connection = await session.connection()
    return await connection.execute(statement, params or {})
