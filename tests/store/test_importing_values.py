"""The cell parsers of the import (import-format.md, "Values"): good, edge and bad values, with the exact reason."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from store.importing import values as v
from store.importing.values import (
    AMOUNT_REASON,
    BOOL_REASON,
    DATE_REASON,
    DATETIME_REASON,
    INTEGER_REASON,
    YEAR_REASON,
    Invalid,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
VALID_USCC = ("53100000500019795A", "51310110501144395U")  # the examples of import-format.md


def reason(parse: v.Parser, cell: object) -> str:
    with pytest.raises(Invalid) as caught:
        parse(cell)
    return str(caught.value)


# --- text and choice --------------------------------------------------------------------------


def test_text_keeps_the_cell_up_to_its_length() -> None:
    parse = v.text(5)
    assert parse("abcde") == "abcde"
    assert parse("五个汉字啊") == "五个汉字啊"  # characters, not bytes
    assert reason(parse, "abcdef") == "longer than 5 characters"
    assert v.text(None)("x" * 100_000) == "x" * 100_000


def test_text_of_a_spreadsheet_number_is_how_the_cell_shows_it() -> None:
    parse = v.text(10)
    assert parse(42) == "42"
    assert parse(42.0) == "42"  # XLSX stores every number as a float
    assert parse(3.5) == "3.5"
    assert reason(v.text(2), 123.0) == "longer than 2 characters"


def test_choice_takes_exactly_the_listed_codes() -> None:
    parse = v.choice(("pass", "rectify", "fail"))
    assert parse("rectify") == "rectify"
    expected = "unknown value (expected one of: pass, rectify, fail)"
    for bad in ("Pass", "PASS", "整改", "pass ", 1, None):
        assert reason(parse, bad) == expected


# --- numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("cell", "expected"), [
    ("2026", 2026), ("1000", 1000), ("9999", 9999), (2026, 2026), (2026.0, 2026),
])
def test_year_good(cell: object, expected: int) -> None:
    assert v.year(cell) == expected
    assert type(v.year(cell)) is int


@pytest.mark.parametrize("cell", [
    "26", "20261", "2026.0", "２０２６", "二〇二六", "-2026", " 2026", "0999", "0000", 999, 10000, 2026.5, True, date(2026, 1, 1),
])
def test_year_bad(cell: object) -> None:
    assert reason(v.year, cell) == YEAR_REASON


def test_integer_within_bounds() -> None:
    score = v.integer(0, 100)
    assert [score("0"), score("100"), score("-0"), score(55), score(55.0), score("007")] == [0, 100, 0, 55, 55, 7]
    assert reason(score, "101") == "must be between 0 and 100"
    assert reason(score, "-1") == "must be between 0 and 100"
    assert reason(score, 100.0 + 1) == "must be between 0 and 100"
    count = v.integer(1)
    assert count("999999999999") == 999_999_999_999
    assert reason(count, "0") == "must be at least 1"


@pytest.mark.parametrize("cell", ["1.0", "1.5", "+5", "1e3", "１２", "1,000", "一", "5 人", "9" * 13, 2.5, True, "x"])
def test_integer_bad(cell: object) -> None:
    assert reason(v.integer(0), cell) == INTEGER_REASON


@pytest.mark.parametrize(("cell", "expected"), [
    ("1", True), ("0", False), (True, True), (False, False), (1, True), (0, False), (1.0, True), (0.0, False),
])
def test_boolean_good(cell: object, expected: bool) -> None:
    assert v.boolean(cell) is expected


@pytest.mark.parametrize("cell", ["2", "yes", "true", "TRUE", "是", "01", "1.0", 2, 0.5, -1])
def test_boolean_bad(cell: object) -> None:
    assert reason(v.boolean, cell) == BOOL_REASON


# --- amounts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("cell", "fen"), [
    ("0", 0), ("12", 1200), ("12.5", 1250), ("12.05", 1205), ("12.50", 1250), ("0.01", 1), ("00012", 1200),
    ("9999999999999", 999_999_999_999_900), ("00000000000000001", 100), ("350000", 35_000_000),
    (12, 1200), (12.5, 1250), (0.1, 10), (1e3, 100_000), (Decimal("1.50"), 150), (Decimal("1E+3"), 100_000),
    (58.23, 5823),  # the float the cell shows, not its binary expansion
])
def test_amount_good(cell: object, fen: int) -> None:
    assert v.amount_fen(cell) == fen
    assert type(v.amount_fen(cell)) is int


@pytest.mark.parametrize(("cell", "why"), [
    ("58万", AMOUNT_REASON), ("1,000", AMOUNT_REASON), ("¥100", AMOUNT_REASON), ("100元", AMOUNT_REASON),
    ("１００", AMOUNT_REASON), ("1e3", AMOUNT_REASON), ("1.", AMOUNT_REASON), (".5", AMOUNT_REASON),
    ("+5", AMOUNT_REASON), ("1 000", AMOUNT_REASON), ("abc", AMOUNT_REASON), ("1.2.3", AMOUNT_REASON),
    ("-5", "must not be negative"), ("-0.5", "must not be negative"), (-5, "must not be negative"),
    ("1.234", "more than 2 decimals (amounts are in yuan, to the fen)"),
    (0.005, "more than 2 decimals (amounts are in yuan, to the fen)"),
    (0.1 + 0.2, "more than 2 decimals (amounts are in yuan, to the fen)"),
    ("10000000000000", "too large"), (1e20, "too large"),
    (float("nan"), AMOUNT_REASON), (float("inf"), AMOUNT_REASON), (True, AMOUNT_REASON), (date(2026, 1, 1), AMOUNT_REASON),
])
def test_amount_bad(cell: object, why: str) -> None:
    assert reason(v.amount_fen, cell) == why


# --- dates and times --------------------------------------------------------------------------


def test_a_date_good() -> None:
    assert v.a_date("2026-03-01") == date(2026, 3, 1)
    assert v.a_date("2024-02-29") == date(2024, 2, 29)
    assert v.a_date(date(2026, 3, 1)) == date(2026, 3, 1)
    # a spreadsheet date cell comes back as midnight of that day
    assert v.a_date(datetime(2026, 3, 1)) == date(2026, 3, 1)


@pytest.mark.parametrize("cell", [
    "2026-3-1", "2026/03/01", "20260301", "2026-02-30", "2025-02-29", "2026-13-01", "2026-03-01T00:00", "03-01-2026",
    "２０２６-03-01", "2026年3月1日", "26-03-01", datetime(2026, 3, 1, 9, 30), datetime(2026, 3, 1, tzinfo=UTC), 46082, 46082.0,
])
def test_a_date_bad(cell: object) -> None:
    assert reason(v.a_date, cell) == DATE_REASON


@pytest.mark.parametrize(("cell", "utc"), [
    ("2026-03-01T09:00", datetime(2026, 3, 1, 1, 0, tzinfo=UTC)),  # the configured zone without an offset
    ("2026-03-01 09:00", datetime(2026, 3, 1, 1, 0, tzinfo=UTC)),
    ("2026-03-01T09:00:30", datetime(2026, 3, 1, 1, 0, 30, tzinfo=UTC)),
    ("2026-03-01T09:00:30.5", datetime(2026, 3, 1, 1, 0, 30, 500_000, tzinfo=UTC)),
    ("2026-03-01T09:00+08:00", datetime(2026, 3, 1, 1, 0, tzinfo=UTC)),
    ("2026-03-01T09:00+0800", datetime(2026, 3, 1, 1, 0, tzinfo=UTC)),
    ("2026-03-01T09:00Z", datetime(2026, 3, 1, 9, 0, tzinfo=UTC)),
    ("2026-03-01T09:00-05:00", datetime(2026, 3, 1, 14, 0, tzinfo=UTC)),
    ("2026-03-01", datetime(2026, 3, 1, 15, 59, 59, tzinfo=UTC)),  # a bare date: 23:59:59 local
    ("2026-03-01T00:00", datetime(2026, 2, 28, 16, 0, tzinfo=UTC)),  # midnight written out is midnight
    (datetime(2026, 3, 1, 9, 0), datetime(2026, 3, 1, 1, 0, tzinfo=UTC)),
    (datetime(2026, 3, 1, 9, 0, tzinfo=timezone(timedelta(hours=2))), datetime(2026, 3, 1, 7, 0, tzinfo=UTC)),
    (date(2026, 3, 1), datetime(2026, 3, 1, 15, 59, 59, tzinfo=UTC)),
])
def test_a_datetime_good(cell: object, utc: datetime) -> None:
    parsed = v.a_datetime(SHANGHAI)(cell)
    assert parsed == utc
    assert parsed.tzinfo is UTC


def test_a_datetime_uses_the_zone_it_was_made_for() -> None:
    assert v.a_datetime(ZoneInfo("UTC"))("2026-03-01T09:00") == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    assert v.a_datetime(ZoneInfo("Europe/Berlin"))("2026-07-01") == datetime(2026, 7, 1, 21, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize("cell", [
    "2026-03-01T9:00", "2026-03-01T09", "2026-03-01T24:00", "2026-03-01T09:60", "2026-02-30T09:00", "2026-3-1T09:00",
    "2026-03-01T09:00:00.1234567", "2026-03-01T09:00+8", "2026-03-01T09:00 +08:00", "2026/03/01 09:00",
    "2026-03-01T０９:00", "next friday", 46082.5, True,
])
def test_a_datetime_bad(cell: object) -> None:
    assert reason(v.a_datetime(SHANGHAI), cell) == DATETIME_REASON


# --- codes and lists --------------------------------------------------------------------------


def test_uscc() -> None:
    for code in VALID_USCC:
        assert v.uscc(code) == code
    assert reason(v.uscc, "53100000500019795B") == "check character should be 'A'"
    assert reason(v.uscc, "5310000050001979XA") == "check character should be 'L'"
    assert reason(v.uscc, "53100000500019795a") == "character 18 'a' is not allowed"
    assert reason(v.uscc, "53100000500019795") == "must be 18 characters"
    assert reason(v.uscc, 531000005000197950) == "must be 18 characters"  # a number cell is never a code


def test_list_of_splits_on_semicolons() -> None:
    years = v.list_of(v.year)
    assert years("2025;2026") == (2025, 2026)
    assert years(" 2026 ; ;2025; ") == (2026, 2025)  # the order given, empty entries dropped
    assert years("2026") == (2026,)
    assert years(2026) == (2026,)  # a native cell is one value
    assert reason(years, "2025;2025") == "'2025' is listed twice"
    assert reason(years, "2025;26") == f"'26': {YEAR_REASON}"
    assert reason(years, "2025,2026") == f"'2025,2026': {YEAR_REASON}"
    assert reason(years, ";") == "no values"
    assert reason(years, 26) == YEAR_REASON
    codes = v.list_of(v.text(3))
    assert codes("A01;A02") == ("A01", "A02")
    assert reason(codes, "A01;A0001") == "'A0001': longer than 3 characters"
