"""Rendering a notice when it is sent: its values written the recipient's way, in their language."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from dialogs import i18n
from dialogs.types import Button, Reply
from store.notices import Day, Moment, Money, Names, Notice, Text, Value


def render_value(locale: str, zone: ZoneInfo, value: Value) -> object:
    if isinstance(value, Money):
        return i18n.money(locale, value.fen)
    if isinstance(value, Day):
        return i18n.day(locale, value.day)
    if isinstance(value, Moment):
        return i18n.moment(locale, value.at, zone)
    if isinstance(value, Text):
        return i18n.t(locale, value.key)
    if isinstance(value, Names):
        if locale in value.by_locale:  # one text per locale
            return value.by_locale[locale]
        return i18n.name(locale, value.by_locale.get("zh-Hans"), value.by_locale.get("en"))
    return value


def render_notice(notice: Notice, locale: str, zone: ZoneInfo) -> Reply:
    """The notice as a reply in ``locale`` (raises ``KeyError`` for a catalog key that does not exist)."""
    values = {name: render_value(locale, zone, v) for name, v in {**notice.values, **notice.secret}.items()}
    buttons = [
        [Button(i18n.t(locale, label) if i18n.has(label) else label, data) for label, data in row]
        for row in notice.buttons
    ]
    return Reply(i18n.t(locale, notice.key, **values), buttons)
