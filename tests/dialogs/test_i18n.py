"""Every message exists in zh-Hans, zh-Hant and en with the same placeholders; formatting helpers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dialogs import i18n

FLOW_SOURCES = sorted(Path(i18n.__file__).parent.rglob("*.py"))


def test_all_locales_have_the_same_keys() -> None:
    keys = {locale: set(i18n.catalog(locale)) for locale in i18n.LOCALES}
    base = keys["zh-Hans"]
    assert base, "no messages loaded"
    for locale, found in keys.items():
        assert found - base == set(), f"{locale} has keys zh-Hans lacks: {sorted(found - base)[:10]}"
        assert base - found == set(), f"{locale} lacks: {sorted(base - found)[:10]}"


@pytest.mark.parametrize("folder", list(i18n.HANT_DIRS.values()))
def test_every_zh_hant_region_has_every_key_and_placeholder(folder: str) -> None:
    base, regional = i18n.catalog("zh-Hans"), i18n._load(folder)
    assert set(regional) == set(base)
    for key, template in base.items():
        assert i18n.placeholders(regional[key]) == i18n.placeholders(template), (folder, key)


@pytest.mark.parametrize("locale", ["zh-Hant", "en"])
def test_placeholders_agree(locale: str) -> None:
    for key, template in i18n.catalog("zh-Hans").items():
        assert i18n.placeholders(i18n.catalog(locale)[key]) == i18n.placeholders(template), key


def test_zh_hant_is_traditional_and_en_is_not_chinese() -> None:
    hant = i18n.catalog("zh-Hant")
    assert "選擇" in hant["common.menu_title_resident"]
    cjk = re.compile(r"[\u4e00-\u9fff]")
    english = i18n.catalog("en")
    allowed = {"common.menu_language", "common.wan_yuan"}
    offenders = [k for k, v in english.items() if cjk.search(v) and k not in allowed and not k.startswith("lifecycle.")]
    # a few English messages may quote Chinese names on purpose; the bulk must be English
    assert len(offenders) <= len(english) // 50, offenders[:20]


def test_every_key_used_in_code_exists() -> None:
    """String literals that look like catalog keys (area.name) used with t()/tell() must exist."""
    pattern = re.compile(r"""(?:\.t|\.tell|i18n\.t|Problem\.of|\.button)\(\s*f?["']([a-z_]+(?:\.[a-z0-9_]+)+)["']""")
    catalog = i18n.catalog("zh-Hans")
    missing = []
    for source in FLOW_SOURCES:
        for key in pattern.findall(source.read_text(encoding="utf-8")):
            if "{" not in key and key not in catalog:
                missing.append(f"{source.name}: {key}")
    assert missing == []


def test_money_and_dates_per_locale() -> None:
    from datetime import date

    assert i18n.money("zh-Hans", 35_000_000) == "35万元"
    assert i18n.money("zh-Hans", 12_345) == "123.45元"
    assert i18n.money("en", 35_000_000) == "¥350,000.00"
    assert i18n.day("zh-Hans", date(2027, 3, 1)) == "2027年3月1日"
    assert i18n.day("en", date(2027, 3, 1)) == "2027-03-01"


def test_channel_language_codes() -> None:
    assert i18n.normalize_locale("zh-hans") == "zh-Hans"
    assert i18n.normalize_locale("zh-TW") == "zh-Hant"
    assert i18n.normalize_locale("zh-hant-hk") == "zh-Hant"
    assert i18n.normalize_locale("en-GB") == "en"
    assert i18n.normalize_locale("fr") is None
