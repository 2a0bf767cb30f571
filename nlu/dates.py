"""Lenient dates as people type them (2026年3月1日, 3月1日, 下周五, 三天后, next friday) and year mentions.

`today` is always a parameter: nothing here reads the clock.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Literal, NamedTuple

from nlu.normalize import fold, fold_preserving
from nlu.numbers import parse_int

__all__ = ["Prefer", "find_years", "parse_date", "parse_date_range"]

Prefer = Literal["future", "past", "any"]

_N = r"[0-9零〇一二两三四五六七八九十]{1,3}"  # a month, a day or a small count
_CN_YEAR = r"[零〇一二三四五六七八九]{4}"
_DAY_MARK = r"(?:\s*[日号])"
_WEEK_WORD = r"(?:周|星期|礼拜)"

_YMD_SEPARATED = re.compile(
    r"(?P<y>\d{4})\s*(?P<sep>[-/.])\s*(?P<m>\d{1,2})\s*(?P=sep)\s*(?P<d>\d{1,2})", re.ASCII
)
_YMD_COMPACT = re.compile(r"(?P<y>\d{4})(?P<m>\d\d)(?P<d>\d\d)", re.ASCII)
_YMD_CN = re.compile(rf"(?P<y>\d{{4}}|{_CN_YEAR})\s*年\s*(?P<m>{_N})\s*月\s*(?P<d>{_N}){_DAY_MARK}?")
_RELATIVE_YEAR_MD = re.compile(
    rf"(?P<rel>今年|明年|去年|前年|后年)\s*(?P<m>{_N})\s*月\s*(?P<d>{_N}){_DAY_MARK}?"
)
_MD_CN = re.compile(rf"(?P<m>{_N})\s*月\s*(?P<d>{_N}){_DAY_MARK}?")
_MD_SLASH = re.compile(r"(?P<m>\d{1,2})\s*/\s*(?P<d>\d{1,2})", re.ASCII)
_RELATIVE_MONTH_DAY = re.compile(rf"(?P<rel>下下|下|上|本|这|今)\s*个?\s*月\s*(?P<d>{_N}){_DAY_MARK}")
_DAY_ONLY = re.compile(rf"(?P<d>{_N}){_DAY_MARK}")
# 年底 / 明年年底 / 明年底 / 2027年底 / 年初: the last (first) day of that year
_YEAR_EDGE_CN = re.compile(
    rf"(?:(?P<rel>今年|明年|去年|前年|后年)\s*年?|(?P<y>\d{{4}}|{_CN_YEAR})\s*年|年)\s*(?P<edge>底|末|终|初)"
)
_YEAR_EDGE_EN = re.compile(
    r"(?:the\s+)?(?P<edge>end|start|beginning)\s+of\s+(?:(?:the\s+)?year|(?P<rel>this|next|last)\s+year|(?P<y>\d{4}))"
    r"|(?P<rel2>this|next|last)?\s*year[-\s]end",
    re.ASCII,
)
_WEEKDAY_CN = re.compile(
    rf"(?P<rel>下下|下|上上|上|本|这)?\s*个?\s*{_WEEK_WORD}\s*(?P<wd>[一二三四五六日天1-7])"
)
_OFFSET_CN = re.compile(
    rf"(?P<n>{_N})\s*(?P<unit>天|日|周|个?星期|个?礼拜)\s*(?P<dir>以后|之后|后|以前|之前|前)"
)

_MONTHS_EN = (
    r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_ORDINAL = r"(?:st|nd|rd|th)?"
_MD_EN = re.compile(rf"{_MONTHS_EN}\s+(?P<d>\d{{1,2}}){_ORDINAL}(?:\s*,?\s*(?P<y>\d{{4}}))?", re.ASCII)
_DM_EN = re.compile(
    rf"(?P<d>\d{{1,2}}){_ORDINAL}\s+(?:of\s+)?{_MONTHS_EN}(?:\s*,?\s*(?P<y>\d{{4}}))?", re.ASCII
)
_WEEKDAY_EN = re.compile(
    r"(?:(?P<rel>next|this|last|coming)\s+)?"
    r"(?P<wd>mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?|thu(?:rs?(?:day)?)?|fri(?:day)?|sat(?:urday)?|sun(?:day)?)\.?",
    re.ASCII,
)
_COUNT_EN = r"(?P<n>\d{1,4}|an?|one|two|three|four|five|six|seven|eight|nine|ten)"
_OFFSET_EN_AHEAD = re.compile(rf"in\s+{_COUNT_EN}\s+(?P<unit>days?|weeks?)", re.ASCII)
_OFFSET_EN = re.compile(
    rf"{_COUNT_EN}\s+(?P<unit>days?|weeks?)\s+(?P<dir>later|from\s+now|ago|before)", re.ASCII
)

# "3月6日（周五）": the weekday note is checked against the date, then dropped.
_WEEKDAY_NOTE = re.compile(rf"(?P<body>.+?)\s*[(\[]?\s*{_WEEK_WORD}(?P<wd>[一二三四五六日天])\s*[)\]]?")
_RANGE_SEPARATOR = re.compile(r"\s*(?:至|到|~|-)\s*|\s+(?:to|until|till|through)\s+", re.ASCII)
_RANGE_FRAME = re.compile(r"(?:从|自|from\s+)?\s*(?P<body>.+?)\s*(?:为止|止)?", re.ASCII)

_RELATIVE_DAYS = {
    "今天": 0, "今日": 0, "today": 0,
    "明天": 1, "明日": 1, "tomorrow": 1,
    "后天": 2, "day after tomorrow": 2, "the day after tomorrow": 2,
    "大后天": 3,
    "昨天": -1, "昨日": -1, "yesterday": -1,
    "前天": -2, "day before yesterday": -2, "the day before yesterday": -2,
    "大前天": -3,
}  # fmt: skip
_RELATIVE_YEARS = {"今年": 0, "明年": 1, "去年": -1, "前年": -2, "后年": 2}
_WEEK_SHIFT_CN = {"下下": 2, "下": 1, "上上": -2, "上": -1, "本": 0, "这": 0}
_MONTH_SHIFT_CN = {"下下": 2, "下": 1, "上": -1, "本": 0, "这": 0, "今": 0}
_WEEKDAYS_CN = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_WEEKDAYS_CN.update({str(number): number - 1 for number in range(1, 8)})
_WEEKDAYS_EN = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_MONTHS_EN_INDEX = {
    name: index
    for index, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
    )
}
_COUNTS_EN = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
              "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}  # fmt: skip

# Over fold_preserving text: bare years must not be part of a number, an amount or a code like SZ-2026-001.
_YEARS = re.compile(
    r"(?P<digits>(?<![0-9a-z_])(?<![0-9][.,])(?<![a-z]-)[0-9]{4}(?![0-9a-z_])(?![.,][0-9])"
    r"(?!-[0-9]{3}(?![0-9]))(?!\s*[万亿元块圆%人个次名位户项家岁号])(?:\s*年)?)"
    rf"|(?P<chinese>{_CN_YEAR})\s*年"
    r"|(?P<relative>今年|明年|去年|前年|后年)"
    r"|\b(?P<english>this|next|last)\s+year\b",
    re.ASCII,
)
_YEAR_SHIFT_EN = {"this": 0, "next": 1, "last": -1}
_MIN_YEAR, _MAX_YEAR = 1990, 2100


class _Parsed(NamedTuple):
    value: date
    # Month and day when the year was left out (3月1日) or the month too (15号): a range end re-resolves them.
    month: int | None = None
    day: int | None = None


def parse_date(text: str, today: date, *, prefer: Prefer = "future") -> date | None:
    """A date typed by a person, resolved against `today`; None if it is not a valid date.

    Full dates (2026-03-01, 2026/3/1, 2026.3.1, 20260301, 2026年3月1日, 二〇二六年三月一日, March 1, 2026)
    and relative ones (今天, 明天, 后天, 昨天, 前天, 三天后, in 3 days, 下个月1号, 明年3月1日, 年底 / 明年年底 /
    end of next year = 31 December, 年初 = 1 January).
    Without a year (3月1日, 3/1, March 1) the date is the next one on or after `today` when
    `prefer="future"`, the last one on or before it when "past", this year's when "any"; 15号 works
    the same way by month. Weeks start on Monday: 下周五 / next friday is Friday of next week,
    本周五 / 这周五 / this friday this week's, and 周五 alone the next Friday on or after today
    (the last on or before it when "past", this week's when "any"). Traditional characters work.
    """
    parsed = _parse(fold(text), today, prefer)
    return parsed.value if parsed else None


def parse_date_range(text: str, today: date, prefer: Prefer = "future") -> tuple[date, date] | None:
    """Two dates joined by 至/到/~/-/—/to/until (2026年3月1日至2026年12月31日, 3/1 - 3/15).

    An end without a year (or month) follows the start: 3月1日到12月31日 is one year, 12月1日到2月28日
    ends in the next year, 3月1日至15日 in March. None if either side fails or the end is before the start.
    """
    framed = _RANGE_FRAME.fullmatch(fold(text))
    if framed is None:
        return None
    body = framed["body"]
    for separator in _RANGE_SEPARATOR.finditer(body):
        start = _parse(body[: separator.start()], today, prefer)
        if start is None:
            continue
        end = _parse(body[separator.end() :], today, prefer)
        if end is None:
            continue
        end_date: date | None = end.value
        if end.month is not None and end.day is not None:
            end_date = _resolve_month_day(end.month, end.day, start.value, "future")
        elif end.day is not None:
            end_date = _resolve_day(end.day, start.value, "future")
        if end_date is None or end_date < start.value:
            return None
        return start.value, end_date
    return None


def find_years(text: str, today: date) -> list[tuple[int, int, int]]:
    """(start, end, year) of each year mention, offsets into `text`: 2026, 2026年, 二〇二六年, 今年, last year.

    Bare years are 1990-2100 and not part of an amount (2000元), a count or a code (SZ-2026-001).
    """
    found: list[tuple[int, int, int]] = []
    for match in _YEARS.finditer(fold_preserving(text)):
        if match["digits"]:
            year = int(match["digits"][:4])
        elif match["chinese"]:
            year = _number(match["chinese"])
        elif match["relative"]:
            year = today.year + _RELATIVE_YEARS[match["relative"]]
        else:
            year = today.year + _YEAR_SHIFT_EN[match["english"]]
        if (match["digits"] or match["chinese"]) and not _MIN_YEAR <= year <= _MAX_YEAR:
            continue
        found.append((match.start(), match.end(), year))
    return found


def _parse(text: str, today: date, prefer: Prefer) -> _Parsed | None:
    text = text.strip()
    if not text:
        return None
    parsed = _parse_plain(text, today, prefer)
    if parsed is not None:
        return parsed
    noted = _WEEKDAY_NOTE.fullmatch(text)
    if noted is None:
        return None
    parsed = _parse_plain(noted["body"], today, prefer)
    if parsed is None or parsed.value.weekday() != _WEEKDAYS_CN[noted["wd"]]:
        return None
    return parsed


def _parse_plain(text: str, today: date, prefer: Prefer) -> _Parsed | None:
    if text in _RELATIVE_DAYS:
        return _shifted(today, _RELATIVE_DAYS[text])
    if match := _YMD_SEPARATED.fullmatch(text) or _YMD_COMPACT.fullmatch(text):
        return _full(int(match["y"]), int(match["m"]), int(match["d"]))
    if match := _YMD_CN.fullmatch(text):
        return _full(_number(match["y"]), _number(match["m"]), _number(match["d"]))
    if match := _RELATIVE_YEAR_MD.fullmatch(text):
        year = today.year + _RELATIVE_YEARS[match["rel"]]
        return _full(year, _number(match["m"]), _number(match["d"]))
    if match := _MD_CN.fullmatch(text) or _MD_SLASH.fullmatch(text):
        return _month_day(_number(match["m"]), _number(match["d"]), today, prefer)
    if match := _RELATIVE_MONTH_DAY.fullmatch(text):
        year, month = _add_months(today.year, today.month, _MONTH_SHIFT_CN[match["rel"]])
        return _full(year, month, _number(match["d"]))
    if match := _YEAR_EDGE_CN.fullmatch(text):
        month, day = (1, 1) if match["edge"] == "初" else (12, 31)
        if not match["y"] and not match["rel"]:  # 年底 alone: this year's, or the start's as a range end
            return _month_day(month, day, today, "any")
        year = _number(match["y"]) if match["y"] else today.year + _RELATIVE_YEARS[match["rel"]]
        return _full(year, month, day)
    if match := _YEAR_EDGE_EN.fullmatch(text):
        shift = _YEAR_SHIFT_EN.get(match["rel"] or match["rel2"] or "this", 0)
        year = int(match["y"]) if match["y"] else today.year + shift
        return _full(year, 1, 1) if match["edge"] in ("start", "beginning") else _full(year, 12, 31)
    if match := _DAY_ONLY.fullmatch(text):
        day = _number(match["d"])
        value = _resolve_day(day, today, prefer)
        return _Parsed(value, day=day) if value else None
    if match := _WEEKDAY_CN.fullmatch(text):
        rel = match["rel"]
        return _weekday(
            _WEEKDAYS_CN[match["wd"]], None if rel is None else _WEEK_SHIFT_CN[rel], today, prefer
        )
    if match := _OFFSET_CN.fullmatch(text):
        days = _number(match["n"]) * (1 if match["unit"] in ("天", "日") else 7)
        return _shifted(today, days if match["dir"].endswith("后") else -days)
    if match := _MD_EN.fullmatch(text) or _DM_EN.fullmatch(text):
        month, day = _MONTHS_EN_INDEX[match["mon"][:3]], int(match["d"])
        if match["y"]:
            return _full(int(match["y"]), month, day)
        return _month_day(month, day, today, prefer)
    if match := _WEEKDAY_EN.fullmatch(text):
        week_shift = {"next": 1, "this": 0, "last": -1}.get(match["rel"] or "")
        return _weekday(_WEEKDAYS_EN[match["wd"][:3]], week_shift, today, prefer)
    if match := _OFFSET_EN_AHEAD.fullmatch(text) or _OFFSET_EN.fullmatch(text):
        count = match["n"]
        weeks = 7 if match["unit"][0] == "w" else 1
        days = (int(count) if count.isdigit() else _COUNTS_EN[count]) * weeks
        backwards = match.re is _OFFSET_EN and match["dir"] in ("ago", "before")
        return _shifted(today, -days if backwards else days)
    return None


def _number(text: str) -> int:
    # The patterns only let numerals through, so this cannot fail; -1 turns into an invalid date.
    value = parse_int(text)
    return -1 if value is None else value


def _full(year: int, month: int, day: int) -> _Parsed | None:
    value = _safe_date(year, month, day)
    return _Parsed(value) if value else None


def _month_day(month: int, day: int, today: date, prefer: Prefer) -> _Parsed | None:
    value = _resolve_month_day(month, day, today, prefer)
    return _Parsed(value, month=month, day=day) if value else None


def _shifted(today: date, days: int) -> _Parsed | None:
    try:
        return _Parsed(today + timedelta(days=days))
    except OverflowError:
        return None


def _weekday(weekday: int, week_shift: int | None, today: date, prefer: Prefer) -> _Parsed | None:
    monday = today.toordinal() - today.weekday()
    if week_shift is None:
        # No week named: the nearest such day in the preferred direction.
        if prefer == "future":
            ordinal = today.toordinal() + (weekday - today.weekday()) % 7
        elif prefer == "past":
            ordinal = today.toordinal() - (today.weekday() - weekday) % 7
        else:
            ordinal = monday + weekday
    else:
        ordinal = monday + 7 * week_shift + weekday
    if not date.min.toordinal() <= ordinal <= date.max.toordinal():
        return None
    return _Parsed(date.fromordinal(ordinal))


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def _resolve_month_day(month: int, day: int, today: date, prefer: Prefer) -> date | None:
    if prefer == "any":
        return _safe_date(today.year, month, day)
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    step = 1 if prefer == "future" else -1
    # 2月29日 can be eight years away (2097 -> 2104), so look that far before giving up.
    for years in range(9):
        candidate = _safe_date(today.year + step * years, month, day)
        if candidate and (candidate >= today if step == 1 else candidate <= today):
            return candidate
    return None


def _resolve_day(day: int, today: date, prefer: Prefer) -> date | None:
    if prefer == "any":
        return _safe_date(today.year, today.month, day)
    if not 1 <= day <= 31:
        return None
    step = 1 if prefer == "future" else -1
    for months in range(12):
        year, month = _add_months(today.year, today.month, step * months)
        candidate = _safe_date(year, month, day)
        if candidate and (candidate >= today if step == 1 else candidate <= today):
            return candidate
    return None
