"""Showing records in chat: pages with previous/next buttons, ids read back from button data, names in
the reader's language."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from dialogs import i18n
from dialogs.buttons import Payload
from dialogs.context import Context
from dialogs.types import Button
from store import public

PAGE_SIZE = 8
DISTRICT_NAMES = "district_names"  # the turn's memo of the districts' English names

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    number: int  # 0-based
    pages: int
    total: int
    first: int  # 0-based index of items[0] in the whole list

    @property
    def has_prev(self) -> bool:
        return self.number > 0

    @property
    def has_next(self) -> bool:
        return self.number + 1 < self.pages


def page_count(total: int, size: int = PAGE_SIZE) -> int:
    return max(1, -(-total // size))


def clamp_page(number: int, total: int, size: int = PAGE_SIZE) -> int:
    return min(max(number, 0), page_count(total, size) - 1)


def page_of(items: Sequence[T], number: int, size: int = PAGE_SIZE) -> Page[T]:
    """The ``number``-th page of ``items`` (clamped to the pages that exist)."""
    number = clamp_page(number, len(items), size)
    first = number * size
    return Page(list(items[first:first + size]), number, page_count(len(items), size), len(items), first)


def nav_row(ctx: Context, flow: str, turn: Callable[[int], Payload], page: Page[T]) -> list[Button]:
    """Previous/next buttons (only those that lead somewhere), each carrying ``turn(page number)``."""
    row = []
    if page.has_prev:
        row.append(Button(ctx.t("paging.prev"), turn(page.number - 1).pack(flow)))
    if page.has_next:
        row.append(Button(ctx.t("paging.next"), turn(page.number + 1).pack(flow)))
    return row


def page_label(ctx: Context, page: Page[T]) -> str:
    return ctx.t("paging.page", page=page.number + 1, pages=page.pages)


def shorten(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, ending in "…" when cut; words (text with spaces) are
    cut between words, not inside one, unless that would lose more than half."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if text[limit - 1] != " " and " " in cut:
        head = cut.rsplit(" ", 1)[0]
        if len(head) >= limit // 2:
            cut = head
    return cut.rstrip(" ,.;:-–—·/") + "…"


def fill_label(template: str, title: str, limit: int) -> str:
    """A button label whose ``{title}`` is shortened so the whole fits ``limit``: the rest of the label
    (its number, a code, a reference) is the essential part and is kept whole."""
    room = max(limit - len(template.replace("{title}", "")), 8)
    return template.replace("{title}", shorten(title, room))


def localized(ctx: Context, zh: str | None, en: str | None) -> str:
    """The English name for English readers when there is one, the Chinese one otherwise (in Traditional
    characters for zh-Hant readers)."""
    return i18n.name(ctx.locale, zh, en)


async def district(ctx: Context, zh: str | None) -> str:
    """A district (stored by its Chinese name) in the reader's language: the package's English name, else
    pinyin, for English readers."""
    english: dict[str, str] = {}
    if ctx.locale == "en":
        if DISTRICT_NAMES not in ctx.memo:
            ctx.memo[DISTRICT_NAMES] = await public.district_english_names(ctx.session)
        english = ctx.memo[DISTRICT_NAMES]
    return i18n.district(ctx.locale, zh, english)
