"""Message catalogs in zh-Hans, zh-Hant and en, and locale-aware formatting of money and dates.

Catalogs are YAML files under ``dialogs/locales/<locale>/``; keys are dotted names such as
``apply.ask.title``. Every locale must carry every key with the same placeholders (tested).
"""

from __future__ import annotations

import string
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

LOCALES = ("zh-Hans", "zh-Hant", "en")
DEFAULT_LOCALE = "zh-Hans"
LOCALE_DIR = Path(__file__).with_name("locales")


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


@cache
def catalog(locale: str) -> dict[str, str]:
    messages: dict[str, str] = {}
    for path in sorted((LOCALE_DIR / locale).glob("*.yml")):
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


def money(locale: str, fen: int | None) -> str:
    """An amount of fen as people read it: ¥350,000.00 in English, 35万元 / 350,000.00元 in Chinese."""
    if fen is None:
        return t(locale, "common.none")
    yuan = Decimal(fen) / 100
    if locale == "en":
        return f"¥{yuan:,.2f}"
    if fen >= 1_000_000 and fen % 10_000 == 0:
        wan = yuan / 10_000
        text = f"{wan:,.2f}".rstrip("0").rstrip(".")
        return t(locale, "common.wan_yuan", amount=text)
    return t(locale, "common.yuan", amount=f"{yuan:,.2f}")


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
