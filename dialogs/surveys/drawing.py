"""Drawing with Chinese text: the bundled CJK font for matplotlib, and wrapping by display width."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import matplotlib
from matplotlib import font_manager

FONT_FILE = Path(__file__).with_name("fonts") / "NotoSansSC-civicbot.otf"
# Fonts a system may have for characters outside the bundled subset (rare characters in names).
SYSTEM_CJK = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei")


@cache
def font_families() -> tuple[str, ...]:
    """The bundled font first, then any CJK font the system has, then matplotlib's own."""
    font_manager.fontManager.addfont(str(FONT_FILE))
    bundled = font_manager.FontProperties(fname=str(FONT_FILE)).get_name()
    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    return (bundled, *(name for name in SYSTEM_CJK if name in installed), "DejaVu Sans")


@contextmanager
def cjk_text() -> Iterator[None]:
    """Render inside this block with the CJK font (and per-glyph fallback to the others)."""
    with matplotlib.rc_context({"font.family": list(font_families()), "axes.unicode_minus": False}):
        yield


def width(text: str) -> int:
    """Display width: 2 for a wide (CJK) character, 1 for others."""
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def wrap(text: str, limit: int, lines: int) -> list[str]:
    """``text`` cut into at most ``lines`` lines of display width ``limit``; an ellipsis marks a cut."""
    out: list[str] = []
    current = ""
    for char in text:
        if width(current + char) > limit:
            space = current.rfind(" ")
            if space > 0 and not char.isspace():  # English: break between words
                out.append(current[:space])
                current = current[space + 1:]
            else:
                out.append(current.rstrip())
                current = ""
            if len(out) == lines:
                break
        if current or not char.isspace():
            current += char
    else:
        if current:
            out.append(current)
        return out
    last = out[-1]
    while last and width(last + "…") > limit:
        last = last[:-1]
    out[-1] = last + "…"
    return out
