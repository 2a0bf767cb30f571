"""Replies as Telegram messages: escaped HTML, texts split under 4096 characters, inline keyboards
whose ``callback_data`` always fits in 64 bytes (longer data is swapped for a token kept in the database).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from aiogram import Bot
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.telegram.session import SendDocumentForId, SendMessageForId, SendPhotoForId
from dialogs.types import Attachment, Button, Reply
from store.button_tokens import button_token_data, forget_button_tokens_before, keep_button_tokens

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_LIMIT = 64  # bytes
TOKEN_PREFIX = "~"  # never starts the engine's own button data (``g:…`` or ``<flow>:…``)
TOKEN_LENGTH = 22  # base64 characters of a SHA-256: 132 bits
TOKEN_RETENTION = timedelta(days=90)
EMPTY_LABEL = "·"
EMPTY_TEXT = "…"


def utf16_len(text: str) -> int:
    """Telegram counts lengths in UTF-16 code units."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def _prefix_within(text: str, limit: int) -> str:
    if utf16_len(text) <= limit:
        return text
    end = min(len(text), limit)
    while utf16_len(text[:end]) > limit:
        end -= max(1, (utf16_len(text[:end]) - limit) // 2)
    return text[:end]


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut ``text`` into parts of at most ``limit`` (UTF-16) at paragraph breaks, else line breaks,
    else anywhere; blank parts are dropped."""
    parts: list[str] = []
    rest = text
    while utf16_len(rest) > limit:
        head = _prefix_within(rest, limit)
        for separator in ("\n\n", "\n"):
            cut = head.rfind(separator)
            if cut >= len(head) // 2:  # a break in the second half: no tiny part in front of it
                parts.append(head[:cut])
                rest = rest[cut + len(separator):]
                break
        else:
            parts.append(head)
            rest = rest[len(head):]
    parts.append(rest)
    return [part.strip("\n") for part in parts if part.strip()]


def escape(text: str) -> str:
    """Plain text for ``parse_mode=HTML``: Telegram needs only <, > and & escaped."""
    return html.escape(text, quote=False)


def token_for(data: str) -> str:
    digest = hashlib.sha256(data.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")[:TOKEN_LENGTH]


def fits(data: str) -> bool:
    return 1 <= len(data.encode("utf-8")) <= CALLBACK_LIMIT and not data.startswith(TOKEN_PREFIX)


class ButtonTokens:
    """Long button data kept server-side under a short token (the same data always gets the same token)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], gate: asyncio.Semaphore | None = None) -> None:
        self.sessions = sessions
        self.gate = gate or asyncio.Semaphore(1)

    async def store(self, datas: Sequence[str], now: datetime) -> dict[str, str]:
        """``{data: callback_data}`` for each long ``data``, saved before any keyboard shows it."""
        tokens = {data: token_for(data) for data in datas}
        async with self.gate, self.sessions() as session, session.begin():
            await keep_button_tokens(session, {token: data for data, token in tokens.items()}, now)
        return {data: TOKEN_PREFIX + token for data, token in tokens.items()}

    async def resolve(self, callback_data: str) -> str | None:
        """The engine's data behind ``callback_data``; None for a token that is unknown (or pruned)."""
        if not callback_data.startswith(TOKEN_PREFIX):
            return callback_data
        async with self.gate, self.sessions() as session:
            return await button_token_data(session, callback_data[len(TOKEN_PREFIX):])

    async def prune(self, now: datetime) -> int:
        async with self.gate, self.sessions() as session, session.begin():
            return await forget_button_tokens_before(session, now - TOKEN_RETENTION)


async def keyboard(
    rows: list[list[Button]], tokens: ButtonTokens | None, now: datetime
) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    long_data = [b.data for row in rows for b in row if b.url is None and b.data and not fits(b.data)]
    swapped: dict[str, str] = {}
    if long_data:
        if tokens is None:
            raise ValueError("button data over 64 bytes needs a token store")
        swapped = await tokens.store(long_data, now)
    return _markup(tuple(
        tuple((b.label, b.url, swapped.get(b.data, b.data) if b.data else None) for b in row) for row in rows
    ))


@lru_cache(maxsize=512)
def _markup(rows: tuple[tuple[tuple[str, str | None, str | None], ...], ...]) -> InlineKeyboardMarkup | None:
    """The Bot API keyboard of ``rows`` of (label, url, callback data): built once for keyboards shown
    again and again (menus, yes/no, the steps of a form) — the models are not changed once built."""
    markup: list[list[InlineKeyboardButton]] = []
    for row in rows:
        cells = []
        for label, url, data in row:
            text = label.strip() or EMPTY_LABEL
            if url:
                cells.append(InlineKeyboardButton(text=text, url=url))
            elif data:
                cells.append(InlineKeyboardButton(text=text, callback_data=data))
        if cells:
            markup.append(cells)
    return InlineKeyboardMarkup(inline_keyboard=markup) if markup else None


@dataclass(frozen=True)
class Outgoing:
    """One Bot API call: a text message, or a photo/document with an optional caption (HTML, escaped)."""

    text: str | None
    markup: InlineKeyboardMarkup | None = None
    attachment: Attachment | None = None
    as_photo: bool = False


async def render(reply: Reply, tokens: ButtonTokens | None, now: datetime) -> list[Outgoing]:
    """The calls that show ``reply``; its keyboard goes on the last one."""
    markup = await keyboard(reply.buttons, tokens, now)
    files = [(a, True) for a in (reply.image,) if a] + [(a, False) for a in (reply.document,) if a]
    text = reply.text or ""
    calls: list[Outgoing] = []
    if files and text.strip() and utf16_len(text.strip()) <= CAPTION_LIMIT:
        for attachment, as_photo in files[:-1]:
            calls.append(Outgoing(None, attachment=attachment, as_photo=as_photo))
        attachment, as_photo = files[-1]
        calls.append(Outgoing(escape(text.strip()), markup, attachment, as_photo))
        return calls
    calls.extend(Outgoing(None, attachment=a, as_photo=p) for a, p in files)
    parts = split_text(text)
    if not parts and (markup is not None or not files):
        parts = [EMPTY_TEXT]
    calls.extend(Outgoing(escape(part)) for part in parts)
    if markup is not None:
        last = calls[-1]
        calls[-1] = Outgoing(last.text, markup, last.attachment, last.as_photo)
    return calls


async def send(bot: Bot, chat_id: int, call: Outgoing) -> int:
    """Send ``call`` to ``chat_id``: the id of the message sent."""
    if call.attachment is None:
        sent = await bot(SendMessageForId(chat_id=chat_id, text=call.text or EMPTY_TEXT, parse_mode="HTML",
                                          reply_markup=call.markup))
        return sent.message_id
    upload = BufferedInputFile(call.attachment.content, call.attachment.filename)
    if call.as_photo:
        sent = await bot(SendPhotoForId(chat_id=chat_id, photo=upload, caption=call.text, parse_mode="HTML",
                                        reply_markup=call.markup))
    else:
        sent = await bot(SendDocumentForId(chat_id=chat_id, document=upload, caption=call.text, parse_mode="HTML",
                                           reply_markup=call.markup))
    return sent.message_id
