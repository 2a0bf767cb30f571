"""Lenient numbers and yuan amounts as people type them: 350,000 / 35万 / 3.5万 / 三十五万 / 1亿2000万.

Everything is exact (Decimal in, integer fen out); the Chinese numeral reader is written here
because cn2an leaves mixed forms such as 35万 alone.
"""

from __future__ import annotations

import re
from decimal import Context, Decimal, localcontext

from nlu.normalize import fold_preserving, normalize

__all__ = ["find_amounts", "parse_int", "parse_int_range", "parse_money_fen", "parse_number"]

_CN_DIGITS: dict[str, int] = {
    "零": 0, "〇": 0,
    "一": 1, "壹": 1,
    "二": 2, "两": 2, "兩": 2, "贰": 2, "貳": 2,
    "三": 3, "叁": 3, "参": 3, "參": 3, "叄": 3,
    "四": 4, "肆": 4,
    "五": 5, "伍": 5,
    "六": 6, "陆": 6, "陸": 6,
    "七": 7, "柒": 7,
    "八": 8, "捌": 8,
    "九": 9, "玖": 9,
}  # fmt: skip
_SMALL_UNITS: dict[str, int] = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_BIG_UNITS: dict[str, int] = {"万": 10**4, "萬": 10**4, "亿": 10**8, "億": 10**8}
_CN_DIGIT_CLASS = "".join(_CN_DIGITS)
_CN_NUMERAL_CLASS = _CN_DIGIT_CLASS + "".join(_SMALL_UNITS) + "".join(_BIG_UNITS)

# Inputs longer than this are not numbers anyone types; the cap also bounds the digits Decimal must hold.
_MAX_LEN = 64
# Big enough for _MAX_LEN digits times 万亿 times 100 (fen), so no arithmetic here ever rounds.
_EXACT = Context(prec=100)

_ARABIC = r"\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d+)?"
_PLAIN = re.compile(rf"(?:{_ARABIC})", re.ASCII)
_SIGN = re.compile(r"([+-]|负|負)?\s*(.*)", re.DOTALL)
_TOKEN = re.compile(
    rf"\s*(?:(?P<arabic>{_ARABIC})|(?P<digit>[{_CN_DIGIT_CLASS}])"
    rf"|(?P<small>[{''.join(_SMALL_UNITS)}])|(?P<big>[{''.join(_BIG_UNITS)}]))",
    re.ASCII,
)
# 三点五万 -> 3.5万: the integer part is a numeral without 万/亿, the fraction is read digit by digit.
_CN_DECIMAL = re.compile(
    rf"([{_CN_DIGIT_CLASS}{''.join(_SMALL_UNITS)}]+)[点點]([{_CN_DIGIT_CLASS}]+)(?![{''.join(_SMALL_UNITS)}])"
)

_CURRENCY = r"人民币|人民幣|rmb|cny|¥"
_YUAN = r"元整|元|圆整|圆|圓整|圓|块钱|块|塊錢|塊|yuan|rmb|cny|人民币|人民幣|整"
_MONEY = re.compile(
    rf"(?:(?:{_CURRENCY})\s*)*(?P<number>.*?)\s*(?:(?:{_YUAN})\s*)*", re.IGNORECASE | re.DOTALL
)
_COUNTER = re.compile(r"(.*?)\s*(?:人次|人|个|個|次|名|位|场|場|户|戶|项|項|家|岁|歲|周岁|週歲|分|星)", re.DOTALL)
# "大约三百人", "三百人左右", "about 300": the hedge is dropped, the number is the answer.
_HEDGE = re.compile(
    r"^(?:大约|大約|大概|约莫|约|約|差不多|将近|將近|接近|估计|估計|预计|預計|about|around|approximately|approx\.?|roughly|~)\s*"
    r"|\s*(?:左右|上下|前后|前後)$",
    re.IGNORECASE,
)
# 170k = 170,000; 1.2m = 1,200,000 (thousands and millions as people abbreviate them in English)
_SCALE_SUFFIX = {"k": 10**3, "m": 10**6}
# An age band or any range of whole numbers as labels write it: 18–59岁, 60-79, 80岁及以上, 18岁以下, 80+, under 18.
_RANGE_BOTH = re.compile(r"(?P<low>\d+)\s*(?:岁|歲)?\s*(?:-|–|—|~|～|至|到|to)\s*(?P<high>\d+)\s*(?:岁|歲)?", re.IGNORECASE)
_RANGE_UP = re.compile(r"(?P<low>\d+)\s*(?:岁|歲)?\s*(?:及以上|以上|或以上|\+|and\s+(?:over|above|older)|or\s+(?:over|more|older))", re.IGNORECASE)
_RANGE_DOWN = re.compile(r"(?:under|below|less\s+than)\s*(?P<high>\d+)|(?P<high2>\d+)\s*(?:岁|歲)?\s*(?P<incl>及以下|以下|或以下)", re.IGNORECASE)

# Over fold_preserving text (lower case, Simplified): a currency prefix, a run of numeral characters,
# a yuan suffix. The number must not be glued to a code such as "SZ-5000" or "A1000".
_AMOUNT = re.compile(
    rf"(?<![0-9a-z_第])(?<![0-9][.,])(?<![a-z]-)"
    rf"(?P<prefix>(?:人民币|rmb|cny|¥)\s*)?"
    rf"(?P<number>(?:{_ARABIC}|[{_CN_NUMERAL_CLASS}点])+)"
    rf"(?P<suffix>\s*(?:元整|元|块钱|块|圆|yuan|rmb|cny)(?:人民币)?)?"
    rf"(?![0-9a-z_])",
    re.ASCII,
)
# A bare number (no currency word, no 万/亿) followed by one of these counts something else: 2026年, 1000人.
_NOT_MONEY_AFTER = re.compile(r"\s*[年月日号时点分秒岁人个次名位场户项家期届%‰]")
_YEAR_LIKE = re.compile(r"(?:19|20)\d\d|2100")
_LONG_DIGITS = 11  # phone numbers and identifiers, not amounts


def parse_number(text: str) -> Decimal | None:
    """Read a number written with Arabic digits, Chinese numerals or both; None if `text` is not one.

    Accepts thousands separators (350,000), decimals, 万/亿 (35万, 3.5万, 1亿2000万), Chinese and
    financial numerals (三十五万, 一百零五, 两千三百万, 叁拾伍万, 三点五万), colloquial endings
    (一万五 = 15000), digit-by-digit years (二〇二六) and a leading minus or 负.
    """
    return _parse_normalized(normalize(text))


def parse_money_fen(text: str) -> int | None:
    """An amount in yuan as a person types it -> integer fen; None if invalid, negative or finer than a fen.

    Accepts everything `parse_number` does (170k too) plus ¥/RMB/CNY/人民币 and 元/块/圆/yuan/整 around it,
    hedged or not (大约35万):
    "35万" and "三十五万元" -> 35_000_000; "35.5万" -> 35_500_000; "12.345" -> None.
    """
    match = _MONEY.fullmatch(_HEDGE.sub("", normalize(text)).strip())
    if match is None:
        return None
    return _to_fen(_parse_normalized(match["number"]))


def parse_int(text: str) -> int | None:
    """A whole number, optionally followed by a counter word (120人, 十二个, 3次, 七十二岁) and hedged
    (大约三百人, 300人左右, about 300); None otherwise."""
    normalized = _HEDGE.sub("", normalize(text)).strip()
    counted = _COUNTER.fullmatch(normalized)
    value = _parse_normalized(counted[1] if counted else normalized)
    if value is None or value != value.to_integral_value():
        return None
    return int(value)


def parse_int_range(label: str) -> tuple[int | None, int | None] | None:
    """The whole numbers a label covers, bounds included: "18–59岁" → (18, 59), "80岁及以上" → (80, None),
    "18岁以下" → (None, 17), "under 18" → (None, 17); None when the label names no range."""
    text = normalize(label)
    if match := _RANGE_BOTH.search(text):
        return int(match["low"]), int(match["high"])
    if match := _RANGE_UP.search(text):
        return int(match["low"]), None
    if match := _RANGE_DOWN.search(text):
        if match["high2"] is not None:
            high = int(match["high2"])
            return None, high if match["incl"] in ("及以下", "或以下") else high - 1
        return None, int(match["high"]) - 1
    return None


def find_amounts(text: str) -> list[tuple[int, int, int]]:
    """(start, end, fen) of each money expression in a sentence, with offsets into `text`.

    A number counts as money when it has a currency word (¥, RMB, 元, 块…) or 万/亿, or when it is a
    plain number of at least 1000 that is not a year (2026), a count (1000人) or an identifier.
    """
    folded = fold_preserving(text)
    found: list[tuple[int, int, int]] = []
    for match in _AMOUNT.finditer(folded):
        number = match["number"]
        has_currency = bool(match["prefix"] or match["suffix"])
        has_big_unit = any(unit in number for unit in "万亿")
        # 千万/百万 alone are adverbs and idioms far more often than sums (千万不要…).
        if number[0] not in _CN_DIGITS and number[0] not in "0123456789十" and not has_currency:
            continue
        fen = _to_fen(_parse_normalized(number))
        if fen is None:
            continue
        if not (has_currency or has_big_unit) and not _is_bare_amount(folded, match.end(), number, fen):
            continue
        found.append((match.start(), match.end(), fen))
    return found


def _is_bare_amount(folded: str, end: int, number: str, fen: int) -> bool:
    if fen < 1000 * 100 or _NOT_MONEY_AFTER.match(folded, end):
        return False
    if number.isascii():
        integer_part = number.partition(".")[0]
        if _YEAR_LIKE.fullmatch(integer_part) or integer_part.startswith("0"):
            return False
        if len(integer_part) >= _LONG_DIGITS:
            return False
    return True


def _to_fen(value: Decimal | None) -> int | None:
    if value is None or value < 0:
        return None
    with localcontext(_EXACT):
        fen = value * 100
    if fen != fen.to_integral_value():
        return None
    return int(fen)


def _parse_normalized(text: str) -> Decimal | None:
    if not text or len(text) > _MAX_LEN:
        return None
    if _PLAIN.fullmatch(text):
        return Decimal(text.replace(",", ""))
    scale = _SCALE_SUFFIX.get(text[-1].lower())
    if scale is not None and _PLAIN.fullmatch(text[:-1].rstrip()):
        with localcontext(_EXACT):
            scaled = Decimal(text[:-1].rstrip().replace(",", "")) * scale
            return scaled.to_integral_value() if scaled == scaled.to_integral_value() else scaled
    signed = _SIGN.fullmatch(text)
    assert signed is not None  # the pattern matches any string
    sign, body = signed.groups()
    with localcontext(_EXACT):
        if "点" in body or "點" in body:
            body = _CN_DECIMAL.sub(_decimal_to_arabic, body)
        value = _evaluate(body)
        if value is None:
            return None
        if value == value.to_integral_value():
            value = value.to_integral_value()
        return -value if sign and sign != "+" else value


def _decimal_to_arabic(match: re.Match[str]) -> str:
    integer = _evaluate(match[1])
    if integer is None or integer != integer.to_integral_value():
        # Leaves 点 in place, so the whole text is rejected (十十点五).
        return match[0]
    return f"{int(integer)}.{''.join(str(_CN_DIGITS[c]) for c in match[2])}"


def _tokenize(text: str) -> list[tuple[str, str]] | None:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            return None
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match[kind]))
        position = match.end()
    return tokens


def _evaluate(text: str) -> Decimal | None:
    """Read a numeral without sign; the caller provides an exact decimal context."""
    tokens = _tokenize(text.strip())
    if not tokens:
        return None
    if len(tokens) == 1 and tokens[0][0] == "arabic":
        return Decimal(tokens[0][1].replace(",", ""))
    if all(kind == "digit" for kind, _ in tokens):
        # 二〇二六, 一二〇: digit by digit, the way years and codes are read out.
        return Decimal("".join(str(_CN_DIGITS[char]) for _, char in tokens))
    return _evaluate_with_units(tokens)


def _evaluate_with_units(tokens: list[tuple[str, str]]) -> Decimal | None:
    total = Decimal(0)  # everything up to and including the last 万/亿
    section = Decimal(0)  # the part after the last 万/亿, below 万
    pending: Decimal | None = None  # a number waiting for its unit
    pending_is_single_digit = False
    unit_before_pending: int | None = None  # the unit right before `pending`, unless 零 came between
    last_small: int | None = None
    last_big: int | None = None
    last_unit: int | None = None  # the unit of the previous token, if it was one
    after_zero = False

    for kind, token in tokens:
        if kind in ("arabic", "digit"):
            value = _CN_DIGITS[token] if kind == "digit" else Decimal(token.replace(",", ""))
            if pending is not None:
                return None
            if kind == "digit" and value == 0:
                # 零 only marks a skipped place: 一百零五, 一万零五百.
                if last_unit is None and not after_zero:
                    return None
                after_zero = True
                last_unit = None
                continue
            pending = Decimal(value)
            pending_is_single_digit = kind == "digit" or len(token) == 1
            unit_before_pending = last_unit
            after_zero = False
            last_unit = None
        elif kind == "small":
            unit = _SMALL_UNITS[token]
            if last_small is not None and unit >= last_small:
                return None
            if pending is None:
                # A bare 十 means 一十 (十二, 十万), but only where a section starts.
                if section or after_zero:
                    return None
                pending = Decimal(1)
            section += pending * unit
            pending, last_small, last_unit, after_zero = None, unit, unit, False
        else:
            unit = _BIG_UNITS[token]
            if pending is None and not section:
                # Only a bigger unit may follow directly: 一万亿 = 10**12.
                if last_big is None or unit <= last_big or after_zero:
                    return None
                total *= unit
            else:
                if last_big is not None and unit >= last_big:
                    return None
                total += (section + (pending or 0)) * unit
            section, pending, last_small, after_zero = Decimal(0), None, None, False
            last_big = last_unit = unit

    if after_zero:
        return None
    if pending is not None:
        if unit_before_pending is not None:
            if pending_is_single_digit and 0 < pending < 10:
                # 一万五 = 15000, 三千五 = 3500, 二百五 = 250: the digit fills the next lower place.
                pending *= Decimal(unit_before_pending) / 10
            elif pending >= unit_before_pending:
                return None
        section += pending
    return total + section
