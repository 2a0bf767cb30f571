"""Message catalogs in zh-Hans, zh-Hant and en, and locale-aware formatting of money, dates and names.

Catalogs are YAML files under ``dialogs/locales/<locale>/``; keys are dotted names such as
``apply.ask.title``. Every locale must carry every key with the same placeholders (tested). zh-Hant has
one folder per region (``HANT_DIRS``); ``set_hant_region`` picks the one a deployment speaks.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from pypinyin import lazy_pinyin

from dialogs import hant
from nlu.normalize import to_simplified
from store.models import LOCALES as LOCALES  # re-exported: the one definition

DEFAULT_LOCALE = "zh-Hans"
LOCALE_DIR = Path(__file__).with_name("locales")
HANT_DIRS = {"tw": "zh-Hant", "hk": "zh-Hant-HK"}  # written by scripts/derive_hant.py
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")

_hant_region = hant.DEFAULT_REGION


def set_hant_region(region: str) -> None:
    """Which region's Traditional Chinese zh-Hant means (messages and names); set once at start-up."""
    global _hant_region
    if region not in hant.REGIONS:
        raise ValueError(f"unknown zh-Hant region {region!r}; use one of {', '.join(hant.REGIONS)}")
    _hant_region = region


def _flatten(prefix: str, node: object, out: dict[str, str], source: Path) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if not isinstance(key, str):
                raise ValueError(f"{source}: key {key!r} under {prefix!r} is not a string (quote it in YAML)")
            _flatten(f"{prefix}.{key}" if prefix else str(key), value, out, source)
    elif isinstance(node, str):
        if prefix in out:
            raise ValueError(f"{source}: key {prefix!r} defined twice")
        out[prefix] = node
    else:
        raise ValueError(f"{source}: key {prefix!r} must be a string, got {type(node).__name__}")


def catalog(locale: str) -> dict[str, str]:
    return _load(HANT_DIRS[_hant_region] if locale == "zh-Hant" else locale)


@cache
def _load(folder: str) -> dict[str, str]:
    messages: dict[str, str] = {}
    for path in sorted((LOCALE_DIR / folder).glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        _flatten("", data, messages, path)
    return messages


def normalize_locale(code: str | None) -> str | None:
    """Map a channel's language code (``zh-hans``, ``zh-TW``, ``en-GB``, ``zh``) to one of ours."""
    if not code:
        return None
    low = code.replace("_", "-").lower()
    if low in ("zh-hant", "zh-tw", "zh-hk", "zh-mo") or low.startswith("zh-hant"):
        return "zh-Hant"
    if low.startswith("zh"):
        return "zh-Hans"
    if low.startswith("en"):
        return "en"
    return None


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def t(locale: str, key: str, /, **values: object) -> str:
    """The message ``key`` in ``locale`` with ``values`` filled in; falls back to zh-Hans."""
    messages = catalog(locale if locale in LOCALES else DEFAULT_LOCALE)
    template = messages.get(key)
    if template is None:
        template = catalog(DEFAULT_LOCALE).get(key)
    if template is None:
        raise KeyError(f"no message {key!r}")
    return template.format(**values) if values else template


def has(key: str) -> bool:
    return key in catalog(DEFAULT_LOCALE)


def name(locale: str, zh: str | None, en: str | None) -> str:
    """A name kept in Chinese and maybe English, as a reader of ``locale`` sees it: the English one for
    English readers when there is one, the Chinese one in the region's Traditional characters for zh-Hant."""
    if locale == "en" and en:
        return en
    if locale == "zh-Hant" and zh:
        return hant.name(zh, _hant_region)
    return zh or en or ""


# the kind of a district, longest first: its English word follows the pinyin of the name
_DISTRICT_KINDS = (("自治县", "Autonomous County"), ("新区", "New Area"), ("街道", "Subdistrict"), ("区", "District"),
                   ("县", "County"), ("市", "City"), ("镇", "Town"), ("乡", "Township"))


def district_pinyin(zh: str) -> str:
    """A district's English name when the package gives none: 东城区 → "Dongcheng District"."""
    for suffix, kind in _DISTRICT_KINDS:
        base = zh.removesuffix(suffix)
        if base != zh and base:
            return f"{_pinyin(base)} {kind}"
    return _pinyin(zh)


def _pinyin(zh: str) -> str:
    return "".join(lazy_pinyin(zh)).capitalize() if _CJK.search(zh) else zh


def district(locale: str, zh: str | None, english: dict[str, str]) -> str:
    """A district as a reader of ``locale`` sees it; ``english`` holds the names the package gives."""
    if not zh:
        return ""
    if locale == "en":
        return english.get(zh) or district_pinyin(zh)
    return name(locale, zh, None)


def _round_wan(fen: int) -> bool:
    # 1万元 or more, in whole hundreds of yuan: at most two decimals in 万
    return fen >= 1_000_000 and fen % 10_000 == 0


def amounts(locale: str, fens: Iterable[int | None]) -> Callable[[int | None], str]:
    """The money formatter for one screen that shows ``fens``: in Chinese, 万元 when every amount on it
    (zero aside) is a round large one, 元 with two decimals otherwise, so a screen never mixes the two
    (no "0.00元" beside "1.2万元"); in English ¥ with thousands separators."""
    shown = [f for f in fens if f]
    wan = locale != "en" and bool(shown) and all(_round_wan(f) for f in shown)

    def format_money(fen: int | None) -> str:
        if fen is None:
            return t(locale, "common.none")
        yuan = Decimal(fen) / 100
        if locale == "en":
            return f"¥{yuan:,.2f}"
        if wan:
            text = f"{yuan / 10_000:,.2f}".rstrip("0").rstrip(".")
            return t(locale, "common.wan_yuan", amount=text)
        return t(locale, "common.yuan", amount=f"{yuan:,.2f}")

    return format_money


def money(locale: str, fen: int | None) -> str:
    """One amount of fen as people read it: ¥350,000.00 in English, 35万元 / 350,000.00元 in Chinese."""
    return amounts(locale, (fen,))(fen)


def language_of(text: str, current: str) -> str:
    """The language a typed message is clearly written in, else ``current``: English for two English
    words and no Chinese; Chinese for two Chinese characters, Traditional when some of them exist only in
    Traditional (a Chinese text that could be either keeps a Chinese ``current``)."""
    chinese = _CJK.findall(text)
    if len(chinese) >= 2:
        han = "".join(chinese)
        if to_simplified(han) != han:
            return "zh-Hant"
        if hant.name(han, _hant_region) != han and current == "zh-Hant":
            return "zh-Hans"
        return current if current != "en" else "zh-Hans"
    if not chinese and len(_LATIN_WORD.findall(text)) >= 2:
        return "en"
    return current


def day(locale: str, value: date | None) -> str:
    if value is None:
        return t(locale, "common.none")
    if locale == "en":
        return value.isoformat()
    return f"{value.year}年{value.month}月{value.day}日"


def moment(locale: str, value: datetime | None, zone: ZoneInfo) -> str:
    if value is None:
        return t(locale, "common.none")
    local = value.astimezone(zone)
    return f"{day(locale, local.date())} {local:%H:%M}"
