"""An update as the engine's ``Incoming``: a private chat's message or button press (its keyboard taken
away, the press answered), a photo or document downloaded first; anything else is no turn."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiogram import Bot
from aiogram.exceptions import AiogramError
from aiogram.types import CallbackQuery, Message, Update, User

from bot.channels.telegram.options import CHANNEL
from bot.channels.telegram.rendering import ButtonTokens
from dialogs import i18n
from dialogs.engine import Engine
from dialogs.types import Incoming, Media, Reply
from store.media import MediaUnavailable

log = logging.getLogger(__name__)

START_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")
SAFE_SUFFIX = re.compile(r"\.[a-z0-9]{1,8}")
DISPLAY_NAME_MAX = 100


@dataclass(frozen=True)
class Received:
    """An update's turn to take: the incoming, the chat to answer and the client's language."""

    incoming: Incoming
    chat_id: int
    language_code: str | None


Tell = Callable[[int, list[Reply]], Awaitable[None]]


class UpdateReader:
    def __init__(self, bot: Bot, tokens: ButtonTokens, engine: Engine, tell: Tell, default_locale: str) -> None:
        self.bot = bot
        self.tokens = tokens
        self.engine = engine  # its media store keeps what people send
        self.tell = tell  # a reply outside any turn (a file that could not be stored)
        self.default_locale = default_locale

    async def read(self, update: Update) -> Received | None:
        """The turn ``update`` asks for; None for what is no turn (a group, a bot, another kind of update)."""
        if update.message is not None:
            return await self._from_message(update.update_id, update.message)
        if update.callback_query is not None:
            return await self._from_callback(update.update_id, update.callback_query)
        return None

    def incoming_id(self, update_id: int) -> str:
        """The ``Incoming.id`` of an update: update ids are per bot (a new token starts a new sequence)."""
        return f"{self.bot.id}:{update_id}"

    async def _from_message(self, update_id: int, message: Message) -> Received | None:
        user = message.from_user
        if user is None or user.is_bot or message.chat.type != "private":
            return None
        common: dict[str, Any] = {"locale": user.language_code, "display_name": _display_name(user)}
        user_id, incoming_id = str(user.id), self.incoming_id(update_id)
        if message.text is not None:
            incoming = Incoming.from_text(CHANNEL, user_id, incoming_id, message.text, **common)
            if incoming.command == "start" and incoming.payload and not START_PAYLOAD.fullmatch(incoming.payload):
                incoming = dataclasses.replace(incoming, payload=None)  # not a deep link: a plain /start
        elif message.photo or message.document:
            try:
                media = await self._download(update_id, message)
            except MediaUnavailable as exc:
                # nothing is recorded as received: the conversation stays where it was, and they are told
                log.error("file of update %s not stored: %s", update_id, exc)
                locale = i18n.normalize_locale(user.language_code) or self.default_locale
                await self.tell(message.chat.id, [Reply(i18n.t(locale, "common.media_unavailable"))])
                return None
            incoming = Incoming(CHANNEL, user_id, incoming_id, text=message.caption, media=media, **common)
        else:  # a contact, a location, a sticker…: the flow says what it wanted instead
            incoming = Incoming(CHANNEL, user_id, incoming_id, text=message.caption, other=str(message.content_type), **common)
        return Received(incoming, message.chat.id, user.language_code)

    async def _from_callback(self, update_id: int, query: CallbackQuery) -> Received | None:
        message = query.message
        chores: list[Awaitable[Any]] = [self.bot.answer_callback_query(query.id)]
        if isinstance(message, Message) and message.reply_markup is not None:
            # Take the keyboard away, so the same buttons cannot be pressed again into a later step.
            chores.append(
                self.bot.edit_message_reply_markup(chat_id=message.chat.id, message_id=message.message_id)
            )
        for result in await asyncio.gather(*chores, return_exceptions=True):
            if isinstance(result, Exception):
                log.info("callback chores for update %s: %s", update_id, result)
        user = query.from_user
        if query.data is None or message is None or user.is_bot or message.chat.type != "private":
            return None
        data = await self.tokens.resolve(query.data) or query.data  # an unknown token is a stale button
        incoming = Incoming(
            CHANNEL, str(user.id), self.incoming_id(update_id), locale=user.language_code, button=data,
            display_name=_display_name(user),
        )
        return Received(incoming, message.chat.id, user.language_code)

    async def _download(self, update_id: int, message: Message) -> Media | None:
        if message.photo:
            file_id, kind, filename, fallback = message.photo[-1].file_id, "photo", None, ".jpg"
        else:
            assert message.document is not None
            document = message.document
            file_id, kind, filename, fallback = document.file_id, "document", document.file_name, ""
        try:
            file = await self.bot.get_file(file_id)
            if not file.file_path:
                return None
            content = await self.bot.download_file(file.file_path, timeout=60)
        except (AiogramError, aiohttp.ClientError, TimeoutError) as exc:  # the turn goes on without the file
            log.warning("could not download %s of update %s: %s", kind, update_id, exc)
            return None
        assert content is not None
        suffix = Path(filename or file.file_path).suffix.lower()
        suffix = suffix if SAFE_SUFFIX.fullmatch(suffix) else fallback
        # downloaded into memory, at its start
        ref = await self.engine.media.put(f"tg-{self.bot.id}-{update_id}{suffix}", content.read())
        return Media(kind, ref, filename)


def _display_name(user: User) -> str:
    return user.full_name[:DISPLAY_NAME_MAX]
