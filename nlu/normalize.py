"""Text normalization shared by every parser: NFKC, whitespace, Traditional -> Simplified, matching keys.

`fold` is the comparison key; `fold_preserving` is the same idea with one output character per input
character, so that extractors can report offsets into the text the person actually typed.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

import opencc

__all__ = [
    "TextTooLong",
    "clean_text",
    "fold",
    "fold_preserving",
    "normalize",
    "to_simplified",
]

_WHITESPACE = re.compile(r"\s+")
_NEWLINES = re.compile(r" *\n[ \n]*")
_LINE_BREAKS = re.compile(r"\r\n|[\r\v\f\x85\u2028\u2029]")
_SPACES_BEFORE_NEWLINE = re.compile(r" *\n")
_BLANK_LINES = re.compile(r"\n{3,}")
# C0/C1 controls (tab and newline are whitespace, handled above) and the invisible format characters
# that are used to spoof or hide text. ZWJ/ZWNJ and emoji tag characters stay: they shape real text.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u00ad\u061c\u180e\u200b\u200e\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]"
)

# Chinese punctuation that NFKC leaves alone; every value is one character so fold_preserving can use it.
_PUNCTUATION = str.maketrans(
    {
        "。": ".",
        "、": ",",
        "“": '"',
        "”": '"',
        "„": '"',
        "‘": "'",
        "’": "'",
        "「": '"',
        "」": '"',
        "『": '"',
        "』": '"',
        "【": "[",
        "】": "]",
        "〔": "[",
        "〕": "]",
        "〖": "[",
        "〗": "]",
        "《": "<",
        "》": ">",
        "〈": "<",
        "〉": ">",
        "—": "-",
        "–": "-",
        "―": "-",
        "〜": "~",
        "…": ".",
        "・": "·",
    }
)


class TextTooLong(ValueError):
    """Raised by `clean_text` when the cleaned text is longer than allowed."""

    def __init__(self, length: int, max_len: int) -> None:
        super().__init__(f"text is {length} characters long; at most {max_len} are allowed")
        self.length = length
        self.max_len = max_len


def normalize(text: str) -> str:
    """NFKC (full-width letters, digits and the ideographic space become ASCII), one space per run, stripped."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()


@cache
def _t2s() -> opencc.OpenCC:
    # Loading the dictionaries takes milliseconds; one converter serves every call.
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional -> Simplified Chinese (OpenCC t2s, phrase-aware); other text passes through."""
    return _t2s().convert(text) if text else text


def fold(text: str) -> str:
    """The key to compare or search by: normalized, Simplified, Chinese punctuation as ASCII, casefolded.

    Offsets are NOT preserved (NFKC and casefold may change the length); use `fold_preserving`
    when positions in the original text matter.
    """
    return to_simplified(normalize(text)).translate(_PUNCTUATION).casefold()


@lru_cache(maxsize=8192)
def _fold_char(char: str) -> str:
    # Each step is applied only when it keeps exactly one character, which is what preserves offsets.
    nfkc = unicodedata.normalize("NFKC", char)
    if len(nfkc) == 1:
        char = nfkc
    simplified = _t2s().convert(char)
    if len(simplified) == 1:
        char = simplified
    char = char.translate(_PUNCTUATION)
    if char.isspace():
        return " "
    folded = char.casefold()
    return folded if len(folded) == 1 else char


def fold_preserving(text: str) -> str:
    """Like `fold`, character by character: the result has the same length as `text`.

    Index i of the result corresponds to index i of the input, so a match found in the folded text
    can be reported as `text[start:end]`. Whitespace is not collapsed (each whitespace character
    becomes one space) and Traditional -> Simplified works per character, without OpenCC's phrase
    table, so the key can differ from `fold` for a few characters (乾隆 -> 干隆): compare
    `fold_preserving` output with `fold_preserving` of the other side.
    """
    return "".join(map(_fold_char, text))


def clean_text(text: str, max_len: int, *, multiline: bool = True) -> str:
    """Free text as it is stored: what the person typed, without control or invisible characters.

    Nothing is normalized (full-width punctuation, Traditional characters and compatibility forms stay
    as typed: `fold` is for understanding only). Line breaks become ``\n`` (at most one blank line in a
    row) with `multiline`, spaces otherwise; a tab is a space; spaces at the ends of lines go. Raises
    `TextTooLong` if the cleaned text has more than `max_len` characters.
    """
    cleaned = _INVISIBLE.sub("", _LINE_BREAKS.sub("\n", text).replace("\t", " "))
    if multiline:
        cleaned = _SPACES_BEFORE_NEWLINE.sub("\n", cleaned)
        cleaned = _BLANK_LINES.sub("\n\n", cleaned).strip()
    else:
        cleaned = _NEWLINES.sub(" ", cleaned).strip()
    if len(cleaned) > max_len:
        raise TextTooLong(len(cleaned), max_len)
    return cleaned
