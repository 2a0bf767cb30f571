"""Strict parsers for the cell values of a data package (see import-format.md, "Values").

Each parser takes one non-empty cell (a stripped ``str`` from a CSV file, or a native value from an
XLSX cell) and returns the Python value or raises ``Invalid`` with the reason in English.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import cast
from zoneinfo import ZoneInfo

from store.uscc import validate_uscc

Parser = Callable[[object], object]


class Invalid(ValueError):
    """A cell value that does not parse; the message is the reason shown to the user."""


DATE_REASON = "not a valid date (expected YYYY-MM-DD)"
DATETIME_REASON = "not a valid date-time (expected ISO 8601, e.g. 2026-03-01T09:00 or 2026-03-01T09:00+08:00)"
YEAR_REASON = "not a valid year (expected 4 digits, e.g. 2026)"
AMOUNT_REASON = "not a plain amount in yuan (no units or separators, at most 2 decimals)"
BOOL_REASON = "not a boolean (expected 0 or 1)"
INTEGER_REASON = "not a whole number"

# ASCII digits only: full-width and other scripts' digits are for lenient chat input
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?)?", re.ASCII)
_YEAR = re.compile(r"\d{4}", re.ASCII)
_DECIMAL = re.compile(r"-?\d+(?:\.\d*)?|-?\.\d+", re.ASCII)
_INTEGER = re.compile(r"-?\d{1,12}", re.ASCII)
# 10^13 yuan is far beyond any budget and keeps fen inside a signed 64-bit column.
_MAX_YUAN_DIGITS = 13
_END_OF_DAY = time(23, 59, 59)


def _is_number(cell: object) -> bool:
    return isinstance(cell, int | float | Decimal) and not isinstance(cell, bool)


def _whole(cell: object) -> int | None:
    """A native integral number (XLSX stores every number as a float) as an int, else None."""
    if isinstance(cell, bool):
        return None
    if isinstance(cell, int):
        return cell
    if isinstance(cell, float) and cell.is_integer():
        return int(cell)
    return None


def text(max_length: int | None) -> Parser:
    def parse(cell: object) -> str:
        if type(cell) is not str:
            whole = _whole(cell)
            cell = str(whole) if whole is not None else str(cell)
        if max_length is not None and len(cell) > max_length:
            raise Invalid(f"longer than {max_length} characters")
        return cell

    return parse


def choice(values: Iterable[str]) -> Parser:
    canonical = {v: v for v in values}
    reason = f"unknown value (expected one of: {', '.join(canonical)})"

    def parse(cell: object) -> str:
        found = canonical.get(cell) if type(cell) is str else None
        if found is None:
            raise Invalid(reason)
        return found

    return parse


# a package repeats a handful of years and small numbers over and over: parse each once
@lru_cache(maxsize=1024, typed=True)
def year(cell: object) -> int:
    if type(cell) is str:
        if not _YEAR.fullmatch(cell):
            raise Invalid(YEAR_REASON)
        cell = int(cell)  # "0999" is no more a year than the number 999
    whole = _whole(cell)
    if whole is None or not 1000 <= whole <= 9999:
        raise Invalid(YEAR_REASON)
    return whole


def integer(low: int, high: int | None = None) -> Parser:
    reason = f"must be between {low} and {high}" if high is not None else f"must be at least {low}"

    @lru_cache(maxsize=4096, typed=True)
    def parse(cell: object) -> int:
        if type(cell) is str:
            if not _INTEGER.fullmatch(cell):
                raise Invalid(INTEGER_REASON)
            value = int(cell)
        else:
            whole = _whole(cell)
            if whole is None:
                raise Invalid(INTEGER_REASON)
            value = whole
        if value < low or (high is not None and value > high):
            raise Invalid(reason)
        return value

    return parse


def boolean(cell: object) -> bool:
    if cell == "1" or cell is True:
        return True
    if cell == "0" or cell is False:
        return False
    whole = _whole(cell)
    if whole in (0, 1):
        return whole == 1
    raise Invalid(BOOL_REASON)


@lru_cache(maxsize=8192)
def _date_text(cell: str) -> date:
    if len(cell) == 10 and _DATE.fullmatch(cell):
        try:
            return date.fromisoformat(cell)
        except ValueError:
            pass
    raise Invalid(DATE_REASON)


def a_date(cell: object) -> date:
    if type(cell) is str:
        return _date_text(cell)
    if isinstance(cell, datetime):
        # a spreadsheet date cell comes back as midnight of that day
        if cell.time() == time(0) and cell.tzinfo is None:
            return cell.date()
        raise Invalid(DATE_REASON)
    if isinstance(cell, date):
        return cell
    raise Invalid(DATE_REASON)


def a_datetime(zone: ZoneInfo) -> Parser:
    """ISO 8601 date-times; without an offset ``zone`` applies, a bare date is 23:59:59 local."""

    @lru_cache(maxsize=8192)
    def from_text(cell: str) -> datetime:
        if not _DATETIME.fullmatch(cell):
            raise Invalid(DATETIME_REASON)
        try:
            value = datetime.fromisoformat(cell)
        except ValueError:
            raise Invalid(DATETIME_REASON) from None
        if len(cell) == 10:
            value = datetime.combine(value.date(), _END_OF_DAY, zone)
        elif value.tzinfo is None:
            value = value.replace(tzinfo=zone)
        return value.astimezone(UTC)

    def parse(cell: object) -> datetime:
        if type(cell) is str:
            return from_text(cell)
        if isinstance(cell, datetime):
            return (cell if cell.tzinfo else cell.replace(tzinfo=zone)).astimezone(UTC)
        if isinstance(cell, date):
            return datetime.combine(cell, _END_OF_DAY, zone).astimezone(UTC)
        raise Invalid(DATETIME_REASON)

    return parse


def amount_fen(cell: object) -> int:
    """A plain amount in yuan as integer fen, exactly."""
    if type(cell) is str:
        # string methods rather than a regular expression: amounts are the most frequent cells
        whole, dot, cents = cell.partition(".")
        if not (whole.isdecimal() and whole.isascii()) or (
            dot and not (0 < len(cents) <= 2 and cents.isdecimal() and cents.isascii())
        ):
            raise Invalid(_amount_reason(cell))
        if len(whole.lstrip("0")) > _MAX_YUAN_DIGITS:
            raise Invalid("too large")
        if not cents:
            return int(whole) * 100
        return int(whole) * 100 + int(cents) * (10 if len(cents) == 1 else 1)
    if not _is_number(cell):
        raise Invalid(AMOUNT_REASON)
    # repr gives the shortest decimal that reads back as the same float: what the cell shows
    number = Decimal(repr(cell)) if isinstance(cell, float) else Decimal(cast("int | Decimal", cell))
    return amount_fen(_plain(number))


def _plain(number: Decimal) -> str:
    if number.is_nan() or number.is_infinite():
        return "nan"
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _amount_reason(cell: str) -> str:
    if _DECIMAL.fullmatch(cell):
        try:
            number = Decimal(cell)
        except InvalidOperation:
            return AMOUNT_REASON
        if number < 0:
            return "must not be negative"
        if "." in cell and len(cell.split(".")[1]) > 2:
            return "more than 2 decimals (amounts are in yuan, to the fen)"
    return AMOUNT_REASON


@lru_cache(maxsize=65536)
def uscc(cell: object) -> str:
    """A valid unified social credit code; cached because projects repeat their organizations' codes."""
    if type(cell) is not str:
        raise Invalid("must be 18 characters")
    reason = validate_uscc(cell)
    if reason is not None:
        raise Invalid(reason)
    return cell


def list_of(item: Parser) -> Parser:
    """``;``-separated values, each parsed by ``item``; returns a tuple without empty entries."""

    def parse(cell: object) -> tuple[object, ...]:
        if type(cell) is not str:
            return (item(cell),)
        values: list[object] = []
        for part in cell.split(";"):
            part = part.strip()
            if not part:
                continue
            try:
                value = item(part)
            except Invalid as exc:
                raise Invalid(f"'{part}': {exc}") from None
            if value in values:
                raise Invalid(f"'{part}' is listed twice")
            values.append(value)
        if not values:
            raise Invalid("no values")
        return tuple(values)

    return parse
