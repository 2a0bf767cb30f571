"""Telegram's HTML parse mode and the length rules for message text and captions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .protocol import ApiError, bad_request

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024

_SPECIAL = re.compile(r"[<&]")
_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_ATTRIBUTE = re.compile(r"""\s*([A-Za-z_][-A-Za-z0-9_]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")
_ENTITY_IN_ATTRIBUTE = re.compile(r"&([#A-Za-z0-9]{1,10});")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
}


def utf16_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def _decode_entity(name: str) -> str | None:
    if name.startswith(("#x", "#X")):
        digits, base = name[2:], 16
    elif name.startswith("#"):
        digits, base = name[1:], 10
    else:
        return _NAMED_ENTITIES.get(name)
    try:
        code = int(digits, base)
        return chr(code) if 0 < code <= 0x10FFFF else None
    except ValueError:
        return None


def _unescape_attribute(value: str) -> str:
    return _ENTITY_IN_ATTRIBUTE.sub(lambda m: _decode_entity(m.group(1)) or m.group(0), value)


@dataclass
class _OpenTag:
    name: str
    start: int
    attributes: dict[str, str]


def _entities_error(source: str, index: int, what: str) -> ApiError:
    offset = len(source[:index].encode("utf-8"))
    return bad_request(f"can't parse entities: {what.format(offset=offset)}")


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram-flavoured HTML into (plain text, entities); raise ApiError (400) on bad markup.

    Stricter than Telegram in one way: a bare ``&`` that starts no entity is rejected, so unescaped
    user input fails in tests instead of rendering by luck.
    """
    parts: list[str] = []
    position = 0  # in UTF-16 code units, like entity offsets
    stack: list[_OpenTag] = []
    entities: list[dict[str, Any]] = []
    i = 0
    while True:
        special = _SPECIAL.search(source, i)
        end = special.start() if special else len(source)
        if end > i:
            chunk = source[i:end]
            parts.append(chunk)
            position += utf16_len(chunk)
        if special is None:
            break
        if source[end] == "&":
            semicolon = source.find(";", end + 1, end + 12)
            char = _decode_entity(source[end + 1 : semicolon]) if semicolon != -1 else None
            if char is None:
                raise _entities_error(
                    source, end, 'Unsupported HTML entity or unescaped "&" at byte offset {offset}'
                )
            parts.append(char)
            position += utf16_len(char)
            i = semicolon + 1
        elif source.startswith("</", end):
            i = _close_tag(source, end, stack, position, entities)
        else:
            i = _open_tag(source, end, stack, position)
    if stack:
        raise bad_request(
            f"can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1].name}\""
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(parts), entities


def _open_tag(source: str, start: int, stack: list[_OpenTag], position: int) -> int:
    name_match = _TAG_NAME.match(source, start + 1)
    name = name_match.group(0).lower() if name_match else ""
    if name not in _HTML_ENTITY_TYPES:
        raise _entities_error(source, start, f'Unsupported start tag "{name}" at byte offset {{offset}}')
    attributes: dict[str, str] = {}
    i = name_match.end() if name_match else start + 1
    while True:
        while i < len(source) and source[i].isspace():
            i += 1
        if i >= len(source):
            raise _entities_error(source, start, "Unclosed start tag at byte offset {offset}")
        if source[i] == ">":
            break
        attribute = _ATTRIBUTE.match(source, i)
        if attribute is None or attribute.end() == i:
            raise _entities_error(source, start, "Unclosed start tag at byte offset {offset}")
        value = next((v for v in attribute.group(2, 3, 4) if v is not None), "")
        attributes[attribute.group(1).lower()] = _unescape_attribute(value)
        i = attribute.end()
    if name == "span" and attributes.get("class") != "tg-spoiler":
        raise _entities_error(
            source, start, 'Tag "span" must have class "tg-spoiler" at byte offset {offset}'
        )
    stack.append(_OpenTag(name, position, attributes))
    return i + 1


def _close_tag(
    source: str, start: int, stack: list[_OpenTag], position: int, entities: list[dict[str, Any]]
) -> int:
    close = source.find(">", start)
    if close == -1:
        raise _entities_error(source, start, "Unclosed end tag at byte offset {offset}")
    name = source[start + 2 : close].strip().lower()
    if not stack:
        raise _entities_error(source, start, "Unexpected end tag at byte offset {offset}")
    tag = stack.pop()
    if name != tag.name:
        raise _entities_error(
            source,
            start,
            f'Unmatched end tag at byte offset {{offset}}, expected "</{tag.name}>", found "</{name}>"',
        )
    length = position - tag.start
    language = tag.attributes.get("class", "")
    if tag.name == "code" and stack and stack[-1].name == "pre" and language.startswith("language-"):
        # <pre><code class="language-x"> is one pre entity with a language, not two entities.
        stack[-1].attributes["language"] = language.removeprefix("language-")
        return close + 1
    if length == 0 or (tag.name == "a" and "href" not in tag.attributes):
        return close + 1
    entity: dict[str, Any] = {"type": _HTML_ENTITY_TYPES[tag.name], "offset": tag.start, "length": length}
    if tag.name == "a":
        entity["url"] = tag.attributes["href"]
    elif tag.name == "pre" and "language" in tag.attributes:
        entity["language"] = tag.attributes["language"]
    elif tag.name == "blockquote" and "expandable" in tag.attributes:
        entity["type"] = "expandable_blockquote"
    entities.append(entity)
    return close + 1


def formatted(
    text: str, parse_mode: str | None, limit: int, what: str
) -> tuple[str, list[dict[str, Any]]]:
    """Parse ``text`` per ``parse_mode`` and apply Telegram's length rules (``what``: text or caption)."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        plain, entities = parse_html(text)
    elif mode in ("", "markdown", "markdownv2"):
        plain, entities = text, []
    else:
        raise bad_request(f"unsupported parse_mode {parse_mode}")
    if what == "text" and not plain.strip():
        raise bad_request("message text is empty")
    if len(plain) > limit:
        raise bad_request("message is too long" if what == "text" else "message caption is too long")
    return plain, entities

