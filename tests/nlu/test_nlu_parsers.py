"""Tests of the lenient input parsers in nlu/: normalization, numbers and money, dates and years."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlu.dates import find_years, parse_date, parse_date_range
from nlu.normalize import TextTooLong, clean_text, fold, fold_preserving, normalize, to_simplified
from nlu.numbers import find_amounts, parse_int, parse_int_range, parse_money_fen, parse_number

WEDNESDAY = date(2026, 5, 13)

# --- normalize ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  ＡＢＣ　１２３  ", "ABC 123"),  # full-width letters, digits, ideographic space
        ("a \t\n b", "a b"),
        ("Keep Case", "Keep Case"),
        ("３５万，好！", "35万,好!"),
        ("", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("南山區長者服務", "南山区长者服务"),
        ("下週五", "下周五"),
        ("頭髮", "头发"),  # phrase-aware: 髮 -> 发, not 髪
        ("already simplified 已经", "already simplified 已经"),
        ("", ""),
    ],
)
def test_to_simplified(text: str, expected: str) -> None:
    assert to_simplified(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("【南山區】“長者”服務。", '[南山区]"长者"服务.'),
        ("  ＲＭＢ　Straße  ", "rmb strasse"),
        ("甲、乙；丙：丁？戊！", "甲,乙;丙:丁?戊!"),
        ("《條例》（試行）", "<条例>(试行)"),
        ("「引號」『雙』‘單’", '"引号""双"\'单\''),
        ("A—B–C〜D", "a-b-c~d"),
    ],
)
def test_fold(text: str, expected: str) -> None:
    assert fold(text) == expected


def test_fold_makes_variants_compare_equal() -> None:
    assert fold("長者服務 ＡＢＣ") == fold("长者服务 abc")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("南山區　長者", "南山区 长者"),  # the ideographic space stays one character
        ("ＡＢ１２", "ab12"),
        ("ß", "ß"),  # casefold would make two characters
        ("…", "."),  # NFKC would make three
        ("a\tb\nc", "a b c"),
    ],
)
def test_fold_preserving(text: str, expected: str) -> None:
    assert fold_preserving(text) == expected


@given(st.text())
def test_fold_preserving_keeps_length(text: str) -> None:
    assert len(fold_preserving(text)) == len(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  hello  ", "hello"),
        ("a\u200bb\u202ec\x00d\ufeff", "abcd"),  # invisible and control characters
        ("第一行\r\n第二行", "第一行\n第二行"),
        ("a  \t b", "a    b"),  # a tab is a space; spaces stay as typed
        ("p1\n\n\n\n\np2", "p1\n\np2"),  # at most one blank line
        ("line  \n  next", "line\n  next"),
        ("ＡＢＣ　１", "ＡＢＣ　１"),  # full-width stays full-width: stored as typed
        ("希望週末也開放，菜品少放鹽。", "希望週末也開放，菜品少放鹽。"),
        ("“长者饭堂”（幸福食堂）！", "“长者饭堂”（幸福食堂）！"),
        ("👨\u200d👩\u200d👧", "👨\u200d👩\u200d👧"),  # ZWJ keeps emoji sequences whole
    ],
)
def test_clean_text(text: str, expected: str) -> None:
    assert clean_text(text, 100) == expected


def test_clean_text_single_line_joins_lines() -> None:
    assert clean_text("a\n\nb\r\nc", 100, multiline=False) == "a b c"
    assert clean_text("第一，\n第二。", 100, multiline=False) == "第一， 第二。"


def test_clean_text_counts_length_after_cleaning() -> None:
    assert clean_text("  " + "字" * 10 + "\u200b  ", 10) == "字" * 10
    with pytest.raises(TextTooLong) as caught:
        clean_text("字" * 11, 10)
    assert isinstance(caught.value, ValueError)
    assert (caught.value.length, caught.value.max_len) == (11, 10)


# --- numbers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("350000", 350000),
        ("350,000", 350000),
        ("350，000", 350000),  # full-width comma
        ("１２，３４５．６", Decimal("12345.6")),
        ("3.5", Decimal("3.5")),
        ("35万", 350000),
        ("３５万", 350000),
        ("3.5万", 35000),
        ("35 万", 350000),
        ("1亿2000万", 120_000_000),
        ("1亿2000万5000", 120_005_000),
        ("1,000万", 10_000_000),
        ("3千", 3000),
        ("十", 10),
        ("十二", 12),
        ("一十二", 12),
        ("二十", 20),
        ("一百零五", 105),
        ("一百一十五", 115),
        ("一千零五", 1005),
        ("三十五万", 350000),
        ("两千三百万", 23_000_000),
        ("一万零五百", 10500),
        ("十万零五", 100005),
        ("一亿零五百万", 105_000_000),
        ("一万亿", 10**12),
        ("一千二百三十四万五千六百七十八", 12345678),
        ("叁拾伍万", 350000),
        ("壹佰零伍", 105),
        ("贰仟叁佰", 2300),
        ("兩千萬", 20_000_000),  # Traditional
        ("參億", 300_000_000),
        ("一万五", 15000),  # colloquial: the digit fills the next lower place
        ("三千五", 3500),
        ("二百五", 250),
        ("1万5", 15000),
        ("十万五", 105000),
        ("三点五万", 35000),
        ("零点五", Decimal("0.5")),
        ("十二点二五", Decimal("12.25")),
        ("二〇二六", 2026),
        ("一二〇", 120),
        ("零", 0),
        ("-5", -5),
        ("负三", -3),
        ("+7", 7),
    ],
)
def test_parse_number(text: str, expected: Decimal | int) -> None:
    assert parse_number(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "abc",
        "1,00",  # bad grouping
        "1,0000",
        "12,34,567",
        "3 5",
        "1e5",
        "NaN",
        "Infinity",
        "万",
        "亿万",
        "百十",  # units must decrease
        "十百",
        "一百十",
        "五零万",
        "一百零",
        "1万20000",  # the tail must be smaller than its unit
        "3千5000",
        "1万1亿",
        "十点一十",
        "35万元",  # money words belong to parse_money_fen
        "3.5.1",
        "1" * 65,  # nobody types that
        "-",
        "负",
    ],
)
def test_parse_number_rejects(text: str) -> None:
    assert parse_number(text) is None


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("35万", 35_000_000),
        ("三十五万元", 35_000_000),
        ("350,000", 35_000_000),
        ("350，000元", 35_000_000),
        ("３５万", 35_000_000),
        ("35.5万", 35_500_000),
        ("35万元", 35_000_000),
        ("1.5亿元", 15_000_000_000),
        ("12.34", 1234),
        ("12.3", 1230),
        ("0", 0),
        ("¥1,200.50", 120050),
        ("￥ 1200", 120000),
        ("RMB 300", 30000),
        ("rmb300", 30000),
        ("300 CNY", 30000),
        ("300 yuan", 30000),
        ("人民币35万元整", 35_000_000),
        ("叁拾伍萬圓整", 35_000_000),
        ("35万块", 35_000_000),
        ("100块钱", 10000),
        ("  5000元  ", 500000),
        ("三点五万", 3_500_000),
        ("0.035万", 35000),
    ],
)
def test_parse_money_fen(text: str, fen: int) -> None:
    assert parse_money_fen(text) == fen


@pytest.mark.parametrize(
    "text",
    ["12.345", "0.0000001万", "-5", "负5元", "元", "¥", "", "abc", "35万元元x", "五毛", "1e3元"],
)
def test_parse_money_fen_rejects(text: str) -> None:
    assert parse_money_fen(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", 12),
        ("十二", 12),
        ("120人", 120),
        ("120 人", 120),
        ("三个", 3),
        ("5次", 5),
        ("3名", 3),
        ("两位", 2),
        ("4场", 4),
        ("20户", 20),
        ("20戶", 20),
        ("一百人次", 100),
        ("12.0", 12),
        ("１２", 12),
        ("1,200", 1200),
    ],
)
def test_parse_int(text: str, expected: int) -> None:
    assert parse_int(text) == expected


@pytest.mark.parametrize("text", ["1.5", "人", "", "12岁半", "三点五", "abc", "12 12"])
def test_parse_int_rejects(text: str) -> None:
    assert parse_int(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("拨了35万吗", [("35万", 35_000_000)]),
        ("拨了３５万吗", [("３５万", 35_000_000)]),
        ("2026年的预算是1200万元，去年拨了3500", [("1200万元", 1_200_000_000), ("3500", 350_000)]),
        ("一共十二万三千元", [("十二万三千元", 12_300_000)]),
        ("撥款三十萬", [("三十萬", 30_000_000)]),
        ("拨付¥5000", [("¥5000", 500_000)]),
        ("paid RMB 300 so far", [("RMB 300", 30000)]),
        ("只有500块", [("500块", 50000)]),
        ("好的,35万", [("35万", 35_000_000)]),
        ("共350,000元。", [("350,000元", 35_000_000)]),
        ("百万元项目", [("百万元", 100_000_000)]),
        ("从20万到50万", [("20万", 20_000_000), ("50万", 50_000_000)]),
    ],
)
def test_find_amounts(text: str, expected: list[tuple[str, int]]) -> None:
    assert [(text[start:end], fen) for start, end, fen in find_amounts(text)] == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026年的项目",
        "2026",
        "服务1000人",
        "第一千次",
        "千万不要",
        "项目SZ-5000编号",
        "A1000",
        "电话13800138000",
        "编号0012345",
        "只有300",  # small bare numbers are not money
        "3点开会",
        "万一出错",
        "2026-03-01",
    ],
)
def test_find_amounts_ignores(text: str) -> None:
    assert find_amounts(text) == []


def test_find_amounts_offsets_point_into_original_text() -> None:
    text = "【南山區】撥款　３５萬元，已到"
    [(start, end, fen)] = find_amounts(text)
    assert text[start:end] == "３５萬元"
    assert fen == 35_000_000


# --- dates ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01", date(2026, 3, 1)),
        ("2026/3/1", date(2026, 3, 1)),
        ("2026.3.1", date(2026, 3, 1)),
        ("2026 - 03 - 01", date(2026, 3, 1)),
        ("20260301", date(2026, 3, 1)),
        ("２０２６－０３－０１", date(2026, 3, 1)),
        ("2026年3月1日", date(2026, 3, 1)),
        ("2026年3月1号", date(2026, 3, 1)),
        ("2026年3月1", date(2026, 3, 1)),
        ("2026 年 3 月 1 日", date(2026, 3, 1)),
        ("二〇二六年三月一日", date(2026, 3, 1)),
        ("二零二六年十二月三十一号", date(2026, 12, 31)),
        ("2026年3月6日（周五）", date(2026, 3, 6)),
        ("2026年3月6日 星期五", date(2026, 3, 6)),
        ("March 1, 2026", date(2026, 3, 1)),
        ("1 Mar 2026", date(2026, 3, 1)),
        ("今天", WEDNESDAY),
        ("today", WEDNESDAY),
        ("Today", WEDNESDAY),
        ("明天", date(2026, 5, 14)),
        ("tomorrow", date(2026, 5, 14)),
        ("后天", date(2026, 5, 15)),
        ("後天", date(2026, 5, 15)),
        ("大后天", date(2026, 5, 16)),
        ("昨天", date(2026, 5, 12)),
        ("yesterday", date(2026, 5, 12)),
        ("前天", date(2026, 5, 11)),
        ("下周五", date(2026, 5, 22)),
        ("下个星期五", date(2026, 5, 22)),
        ("下礼拜五", date(2026, 5, 22)),
        ("下週五", date(2026, 5, 22)),
        ("下個禮拜五", date(2026, 5, 22)),
        ("下周一", date(2026, 5, 18)),
        ("下周日", date(2026, 5, 24)),
        ("下下周一", date(2026, 5, 25)),
        ("上周五", date(2026, 5, 8)),
        ("本周五", date(2026, 5, 15)),
        ("这周五", date(2026, 5, 15)),
        ("這週一", date(2026, 5, 11)),  # this week's Monday, already past
        ("周五", date(2026, 5, 15)),
        ("星期五", date(2026, 5, 15)),
        ("周三", WEDNESDAY),  # on or after today
        ("周二", date(2026, 5, 19)),
        ("星期天", date(2026, 5, 17)),
        ("next friday", date(2026, 5, 22)),
        ("Next Fri", date(2026, 5, 22)),
        ("this friday", date(2026, 5, 15)),
        ("last monday", date(2026, 5, 4)),
        ("friday", date(2026, 5, 15)),
        ("3天后", date(2026, 5, 16)),
        ("三天后", date(2026, 5, 16)),
        ("三天後", date(2026, 5, 16)),
        ("十天以后", date(2026, 5, 23)),
        ("3天前", date(2026, 5, 10)),
        ("两周后", date(2026, 5, 27)),
        ("in 3 days", date(2026, 5, 16)),
        ("in a week", date(2026, 5, 20)),
        ("3 days later", date(2026, 5, 16)),
        ("2 days ago", date(2026, 5, 11)),
        ("下个月1号", date(2026, 6, 1)),
        ("下月15日", date(2026, 6, 15)),
        ("本月20号", date(2026, 5, 20)),
        ("明年3月1日", date(2027, 3, 1)),
        ("去年12月31日", date(2025, 12, 31)),
        ("5月13日", WEDNESDAY),  # today itself is "on or after today"
        ("5月14日", date(2026, 5, 14)),
        ("五月十三号", WEDNESDAY),
        ("3月1日", date(2027, 3, 1)),
        ("三月一号", date(2027, 3, 1)),
        ("3/1", date(2027, 3, 1)),
        ("12/31", date(2026, 12, 31)),
        ("march 1", date(2027, 3, 1)),
        ("15号", date(2026, 5, 15)),
        ("1号", date(2026, 6, 1)),
    ],
)
def test_parse_date_future(text: str, expected: date) -> None:
    assert parse_date(text, WEDNESDAY) == expected


@pytest.mark.parametrize(
    ("text", "past", "any_"),
    [
        ("3月1日", date(2026, 3, 1), date(2026, 3, 1)),
        ("12月31日", date(2025, 12, 31), date(2026, 12, 31)),
        ("5月13日", WEDNESDAY, WEDNESDAY),
        ("周五", date(2026, 5, 8), date(2026, 5, 15)),
        ("周一", date(2026, 5, 11), date(2026, 5, 11)),
        ("周三", WEDNESDAY, WEDNESDAY),
        ("friday", date(2026, 5, 8), date(2026, 5, 15)),
        ("15号", date(2026, 4, 15), date(2026, 5, 15)),
        ("下周五", date(2026, 5, 22), date(2026, 5, 22)),  # explicit weeks ignore prefer
        ("2026-03-01", date(2026, 3, 1), date(2026, 3, 1)),
    ],
)
def test_parse_date_prefer(text: str, past: date, any_: date) -> None:
    assert parse_date(text, WEDNESDAY, prefer="past") == past
    assert parse_date(text, WEDNESDAY, prefer="any") == any_


def test_parse_date_leap_day_without_year() -> None:
    assert parse_date("2月29日", date(2026, 5, 13)) == date(2028, 2, 29)
    assert parse_date("2月29日", date(2026, 5, 13), prefer="past") == date(2024, 2, 29)
    assert parse_date("2月29日", date(2026, 5, 13), prefer="any") is None


def test_parse_date_day_only_skips_short_months() -> None:
    assert parse_date("31号", date(2026, 4, 2)) == date(2026, 5, 31)
    assert parse_date("31号", date(2026, 5, 2), prefer="past") == date(2026, 3, 31)


def test_parse_date_weekday_of_sunday_belongs_to_the_week_that_ends() -> None:
    sunday = date(2026, 5, 17)
    assert parse_date("本周一", sunday) == date(2026, 5, 11)
    assert parse_date("下周一", sunday) == date(2026, 5, 18)
    assert parse_date("周日", sunday) == sunday


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-30",
        "2026-13-01",
        "2026-00-10",
        "2026年2月29日",
        "2026年3月7日（周五）",  # the weekday note contradicts the date
        "13月1日",
        "3月32日",
        "32号",
        "下个月31号",  # June has 30 days
        "2026-03/01",
        "3-1",
        "hello",
        "",
        "周八",
        "明天后天",
        "2026",
        "35万",
    ],
)
def test_parse_date_rejects(text: str) -> None:
    assert parse_date(text, WEDNESDAY) is None


def test_parse_date_uses_only_the_given_today() -> None:
    assert parse_date("明天", date(2030, 12, 31)) == date(2031, 1, 1)
    assert parse_date("下周五", date(2030, 12, 31)) == date(2031, 1, 10)
    assert parse_date("3月1日", date(2030, 3, 2)) == date(2031, 3, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026年3月1日至2026年12月31日", (date(2026, 3, 1), date(2026, 12, 31))),
        ("2026-03-01 ~ 2026-12-31", (date(2026, 3, 1), date(2026, 12, 31))),
        ("2026-03-01～2026-12-31", (date(2026, 3, 1), date(2026, 12, 31))),
        ("2026-03-01-2026-12-31", (date(2026, 3, 1), date(2026, 12, 31))),
        ("2026-03-01 — 2026-12-31", (date(2026, 3, 1), date(2026, 12, 31))),
        ("2026/3/1 to 2026/12/31", (date(2026, 3, 1), date(2026, 12, 31))),
        ("2026/3/1 until 2026/12/31", (date(2026, 3, 1), date(2026, 12, 31))),
        ("2026年3月1日至12月31日", (date(2026, 3, 1), date(2026, 12, 31))),
        ("2026年12月1日至2月28日", (date(2026, 12, 1), date(2027, 2, 28))),
        ("2026年3月1日至15日", (date(2026, 3, 1), date(2026, 3, 15))),
        ("3月1日到12月31日", (date(2027, 3, 1), date(2027, 12, 31))),
        ("6月1日到12月31日", (date(2026, 6, 1), date(2026, 12, 31))),
        ("12月1日到2月28日", (date(2026, 12, 1), date(2027, 2, 28))),
        ("从6月1日到6月15日止", (date(2026, 6, 1), date(2026, 6, 15))),
        ("6/1 - 6/15", (date(2026, 6, 1), date(2026, 6, 15))),
        ("今天到下周五", (WEDNESDAY, date(2026, 5, 22))),
        ("today to tomorrow", (WEDNESDAY, date(2026, 5, 14))),
        ("2026年3月1日至2026年3月1日", (date(2026, 3, 1), date(2026, 3, 1))),
        ("2026年3月1日至2027年", None),
        ("2026-12-31至2026-01-01", None),  # end before start
        ("2026-03-01", None),
        ("2026-02-30至2026-03-01", None),
        ("明天到今天", None),
        ("", None),
    ],
)
def test_parse_date_range(text: str, expected: tuple[date, date] | None) -> None:
    assert parse_date_range(text, WEDNESDAY) == expected


def test_parse_date_range_prefer_applies_to_the_start() -> None:
    assert parse_date_range("3月1日到3月15日", WEDNESDAY, prefer="past") == (
        date(2026, 3, 1),
        date(2026, 3, 15),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026年的项目", [("2026年", 2026)]),
        ("2026的项目", [("2026", 2026)]),
        ("二〇二六年", [("二〇二六年", 2026)]),
        ("二零二五年度", [("二零二五年", 2025)]),
        ("今年和去年", [("今年", 2026), ("去年", 2025)]),
        ("明年、前年、后年", [("明年", 2027), ("前年", 2024), ("后年", 2028)]),
        ("projects this year and last year", [("this year", 2026), ("last year", 2025)]),
        ("Next Year", [("Next Year", 2027)]),
        ("2025-2026年", [("2025", 2025), ("2026年", 2026)]),
        ("2026年3月1日", [("2026年", 2026)]),
        ("１９９０年", [("１９９０年", 1990)]),
        ("2100", [("2100", 2100)]),
    ],
)
def test_find_years(text: str, expected: list[tuple[str, int]]) -> None:
    assert [(text[start:end], year) for start, end, year in find_years(text, WEDNESDAY)] == expected


@pytest.mark.parametrize(
    "text",
    ["1989年", "2101", "20260", "2000元", "2026万", "1998人", "SZ-2026-001", "2026.5", "3,2026", "x2026"],
)
def test_find_years_ignores(text: str) -> None:
    assert find_years(text, WEDNESDAY) == []


# --- properties -----------------------------------------------------------------------------------

_CN_DIGITS = "零一二三四五六七八九"
_CN_PLACES = ("", "十", "百", "千")


def _chinese_section(value: int) -> str:
    """0 < value < 10000 in formal Chinese numerals, with 零 for skipped places."""
    out = ""
    zero_pending = False
    for place in (3, 2, 1, 0):
        digit = value // 10**place % 10
        if digit == 0:
            zero_pending = bool(out)
            continue
        if zero_pending:
            out += "零"
            zero_pending = False
        out += _CN_DIGITS[digit] + _CN_PLACES[place]
    return out


def _to_chinese(value: int) -> str:
    if value == 0:
        return "零"
    high, low = divmod(value, 10_000)
    if not high:
        return _chinese_section(low)
    text = _chinese_section(high) + "万"
    if low:
        text += ("零" if low < 1000 else "") + _chinese_section(low)
    return text


def test_chinese_writer_matches_known_spellings() -> None:
    assert _to_chinese(105) == "一百零五"
    assert _to_chinese(100_500) == "一十万零五百"
    assert _to_chinese(12_345_678) == "一千二百三十四万五千六百七十八"


@given(st.integers(min_value=0, max_value=10**12))
def test_parse_number_reads_python_formatting(value: int) -> None:
    assert parse_number(str(value)) == value
    assert parse_number(f"{value:,}") == value


@given(st.integers(min_value=0, max_value=99_999_999))
def test_parse_number_reads_chinese_numerals(value: int) -> None:
    assert parse_number(_to_chinese(value)) == value


@given(st.integers(min_value=0, max_value=10**10), st.integers(min_value=0, max_value=99))
def test_parse_money_fen_is_exact(yuan: int, fen: int) -> None:
    assert parse_money_fen(f"{yuan:,}.{fen:02d}元") == yuan * 100 + fen


@given(st.dates(), st.dates())
def test_parse_date_reads_iso_dates(value: date, today: date) -> None:
    assert parse_date(value.isoformat(), today) == value


@settings(max_examples=300)
@given(st.text())
def test_parsers_never_raise(text: str) -> None:
    parse_money_fen(text)
    parse_number(text)
    parse_int(text)
    find_amounts(text)
    find_years(text, WEDNESDAY)
    parse_date(text, WEDNESDAY)
    parse_date_range(text, WEDNESDAY)


@given(st.text(alphabet="0123456789零一二两三四五六七八九十百千万亿点.,-元块¥年月日号周后天 ", max_size=20))
def test_numeral_soup_never_raises(text: str) -> None:
    parse_money_fen(text)
    parse_date(text, WEDNESDAY)
    find_amounts(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("大约三百人", 300), ("大約三百人", 300), ("三百人左右", 300), ("about 300", 300), ("约120人", 120),
     ("七十二岁", 72), ("七十二歲", 72), ("5分", 5), ("170k", 170_000), ("1.2M", 1_200_000)],
)
def test_parse_int_is_lenient_where_people_are(text: str, expected: int) -> None:
    assert parse_int(text) == expected


def test_thousands_abbreviated_in_numbers_and_money() -> None:
    assert parse_number("170k") == 170_000 and parse_number("1.5k") == 1500
    assert parse_money_fen("170k") == 17_000_000 and parse_money_fen("¥170k") == 17_000_000
    assert parse_money_fen("大约35万元") == 35_000_000
    assert parse_number("k") is None and parse_number("170kk") is None


@pytest.mark.parametrize(
    ("label", "span"),
    [("18–59岁", (18, 59)), ("60–79歲", (60, 79)), ("80岁及以上", (80, None)), ("18岁以下", (None, 17)),
     ("Under 18", (None, 17)), ("18–59", (18, 59)), ("80 and over", (80, None)), ("非常满意", None)],
)
def test_parse_int_range(label: str, span: tuple[int | None, int | None] | None) -> None:
    assert parse_int_range(label) == span


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("明年3月1日到明年年底", (date(2027, 3, 1), date(2027, 12, 31))),
        ("明年3月1日至明年底", (date(2027, 3, 1), date(2027, 12, 31))),
        ("3月1日到年底", (date(2027, 3, 1), date(2027, 12, 31))),  # the end follows the start's year
        ("2027年3月1日至2027年末", (date(2027, 3, 1), date(2027, 12, 31))),
        ("March 1, 2027 to the end of next year", (date(2027, 3, 1), date(2027, 12, 31))),
    ],
)
def test_parse_date_range_to_a_year_end(text: str, expected: tuple[date, date]) -> None:
    assert parse_date_range(text, date(2026, 12, 7)) == expected
