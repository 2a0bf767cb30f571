"""Working days in China: the official holiday calendar (``chinese_calendar``), plus an operator's file.

``chinese_calendar`` only knows the years the State Council has announced (1.11: 2004–2026) and raises
``NotImplementedError`` for later ones; those years fall back to Monday–Friday, corrected by the
holidays file (``CIVICBOT_HOLIDAYS_FILE``), and the fallback is logged once per year.

The holidays file has one day (or ``FIRST..LAST`` range) per line, optionally followed by
``holiday`` (the default) or ``workday`` (a weekend made a working day, 调休); ``#`` starts a comment::

    2027-01-01 holiday
    2027-02-05..2027-02-11 holiday
    2027-02-14 workday
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import chinese_calendar

log = logging.getLogger(__name__)

KINDS = {"holiday": False, "workday": True}


class HolidayFileError(ValueError):
    """A line of the holidays file that cannot be read; says which and what is expected."""


def parse_holidays(text: str, source: str = "holidays file") -> dict[date, bool]:
    """Day → is a working day, from the holidays file format above."""
    days: dict[date, bool] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        span, _, kind = line.partition(" ")
        kind = kind.strip().lower() or "holiday"
        if kind not in KINDS:
            raise HolidayFileError(f"{source}:{number}: expected 'holiday' or 'workday' after the date, got {kind!r}")
        first_text, _, last_text = span.partition("..")
        try:
            first = date.fromisoformat(first_text)
            last = date.fromisoformat(last_text) if last_text else first
        except ValueError:
            raise HolidayFileError(f"{source}:{number}: expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD, got {span!r}") from None
        if last < first:
            raise HolidayFileError(f"{source}:{number}: the range ends before it starts")
        day = first
        while day <= last:
            days[day] = KINDS[kind]
            day += timedelta(days=1)
    return days


class WorkCalendar:
    """Whether a day is a working day; the operator's file wins over the official calendar."""

    def __init__(self, overrides: Mapping[date, bool] | None = None) -> None:
        self.overrides = dict(overrides or {})
        self._fallback_years: set[int] = set()

    @classmethod
    def from_file(cls, path: Path | None) -> WorkCalendar:
        if path is None:
            return cls()
        return cls(parse_holidays(Path(path).read_text(encoding="utf-8"), str(path)))

    def is_workday(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year not in self._fallback_years:
                self._fallback_years.add(day.year)
                log.warning(
                    "the Chinese holiday calendar does not cover %s: working days are Monday to Friday "
                    "plus the days of CIVICBOT_HOLIDAYS_FILE (%d entries)", day.year, len(self.overrides),
                )
            return day.weekday() < 5


@cache
def work_calendar(path: Path | None) -> WorkCalendar:
    """One calendar per holidays file for the whole process, so the fallback is logged once."""
    return WorkCalendar.from_file(path)


def next_workday(day: date, calendar: WorkCalendar) -> date:
    """The first working day after ``day``."""
    day += timedelta(days=1)
    while not calendar.is_workday(day):
        day += timedelta(days=1)
    return day


def notice_period(approved_on: date, days: int, calendar: WorkCalendar) -> tuple[date, date]:
    """The public notice (公示) an approval opens: ``days`` working days from the next working day.

    The one rule for the notice: the notice itself, the public answers and the contract-signing
    milestone (due no earlier than the first working day after it) all take their dates from here.
    """
    first = next_workday(approved_on, calendar)
    last = first
    for _ in range(days - 1):
        last = next_workday(last, calendar)
    return first, last
