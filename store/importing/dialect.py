"""Driver-level access for the import: bulk statements on aiosqlite or asyncpg, in their own value forms.

The import bypasses the ORM and SQLAlchemy's per-value bind processing for speed, so it converts
values itself into exactly what SQLAlchemy would store ("native" values): on SQLite dates are
``YYYY-MM-DD`` text, datetimes naive-UTC ``YYYY-MM-DD HH:MM:SS.ffffff`` text and booleans 0/1; on
PostgreSQL the Python objects themselves. Values read back come in the same form, so rows compare
without conversion.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

Row = tuple[Any, ...]
Converter = Callable[[Any], Any]

_PLACEHOLDER = re.compile(r"\?")


def _identity(value: Any) -> Any:
    return value


def _sqlite_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _sqlite_datetime(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


class Dialect:
    """Statements with ``?`` placeholders; ``native`` maps a column kind to its value converter."""

    name: str
    native: dict[str, Converter]

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError

    async def execute_many(self, sql: str, rows: Sequence[Row]) -> None:
        raise NotImplementedError

    async def insert(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        raise NotImplementedError

    def in_list(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        raise NotImplementedError

    def same_native(self, kind: str) -> bool:
        """Whether values of ``kind`` are stored as the Python objects themselves."""
        return self.native[kind] is _identity

    def to_json(self, kind: str, value: Any) -> Any:
        """A native value as the audit log shows it."""
        raise NotImplementedError


class SqliteDialect(Dialect):
    name = "sqlite"
    native = {
        "text": _identity, "int": _identity, "date": _sqlite_date, "datetime": _sqlite_datetime,
        "bool": _sqlite_bool,
    }

    def __init__(self, connection: Any) -> None:
        self._conn = connection  # store.sqlite_inline.Connection (aiosqlite-shaped)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(await self._conn.execute_fetchall(sql, params))

    async def execute_many(self, sql: str, rows: Sequence[Row]) -> None:
        await self._conn.executemany(sql, rows)

    async def insert(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        marks = ", ".join("?" * len(columns))
        await self._conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def in_list(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} IN ({', '.join('?' * len(values))})", list(values)

    def to_json(self, kind: str, value: Any) -> Any:
        if value is None:
            return None
        if kind == "datetime":
            return datetime.fromisoformat(value).replace(tzinfo=UTC).isoformat()
        if kind == "bool":
            return bool(value)
        return value


class PostgresDialect(Dialect):
    name = "postgresql"
    native = dict.fromkeys(("text", "int", "date", "datetime", "bool"), _identity)

    def __init__(self, connection: Any) -> None:
        self._conn = connection  # asyncpg.Connection

    @staticmethod
    def _numbered(sql: str) -> str:
        counter = itertools.count(1)
        return _PLACEHOLDER.sub(lambda _m: f"${next(counter)}", sql)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return [tuple(r) for r in await self._conn.fetch(self._numbered(sql), *params)]

    async def execute_many(self, sql: str, rows: Sequence[Row]) -> None:
        await self._conn.executemany(self._numbered(sql), rows)

    async def insert(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        # COPY is several times faster than INSERT for bulk rows and runs in the same transaction
        await self._conn.copy_records_to_table(table, records=rows, columns=list(columns))

    def in_list(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} = ANY(?)", [list(values)]

    def to_json(self, kind: str, value: Any) -> Any:
        if isinstance(value, date):
            return value.isoformat()
        return value


async def open_dialect(conn: AsyncConnection) -> Dialect:
    """The driver connection under ``conn``, inside the transaction ``conn`` has begun."""
    # a statement through SQLAlchemy makes the asyncpg adapter open its transaction now, so the
    # driver-level statements that follow belong to it
    await conn.exec_driver_sql("SELECT 1")
    raw = (await conn.get_raw_connection()).driver_connection
    if raw is None:
        raise RuntimeError("the connection is closed")
    if conn.dialect.name == "sqlite":
        if not raw.in_transaction:
            raise RuntimeError("the import must run inside a transaction")
        return SqliteDialect(raw)
    if conn.dialect.name == "postgresql":
        if not raw.is_in_transaction():
            raise RuntimeError("the import must run inside a transaction")
        return PostgresDialect(raw)
    raise NotImplementedError(f"the import does not support {conn.dialect.name}")
