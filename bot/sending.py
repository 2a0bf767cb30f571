"""How the outbox dispatcher reaches people: the ``Sender`` a channel implements, and the errors it raises.

A channel's sender delivers one rendered ``Reply`` to one chat and reports failure by raising exactly
one of the errors below; the dispatcher decides what happens next (wait, retry later, give up).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from bot.config import Settings
from dialogs.types import Reply

log = logging.getLogger(__name__)

TELEGRAM_MODULE = "bot.channels.telegram"


class SendError(Exception):
    """Base of what a ``Sender`` raises."""


class RetryAfter(SendError):
    """Rate limited (HTTP 429): nothing may be sent before ``seconds`` have passed."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"rate limited: retry after {seconds:g} s")
        self.seconds = seconds


class TransientError(SendError):
    """Worth retrying later: 5xx, timeouts, connection errors."""


class PermanentError(SendError):
    """The message itself is refused (e.g. 400 Bad Request): retrying would fail the same way."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unreachable(SendError):
    """The recipient cannot be reached any more (403: blocked the bot, account deleted)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Sender(Protocol):
    """Delivers replies to identities of the channels it serves (``Identity.channel`` values)."""

    channels: frozenset[str]

    async def send(self, identity_channel: str, external_id: str, reply: Reply) -> None: ...


@asynccontextmanager
async def configured_sender(settings: Settings) -> AsyncIterator[Sender | None]:
    """The sender of the configured channel, or None (messages then stay pending).

    Telegram is used when a token is set and ``bot.channels.telegram`` provides
    ``open_sender(settings)``, an async context manager yielding a ``Sender``.
    """
    if not settings.telegram_token:
        yield None
        return
    try:
        module = importlib.import_module(TELEGRAM_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != TELEGRAM_MODULE:
            raise
        log.warning("a Telegram token is set but this build has no Telegram channel: messages stay queued")
        yield None
        return
    open_sender = getattr(module, "open_sender", None)
    if open_sender is None:
        log.warning("%s has no open_sender(settings): messages stay queued", TELEGRAM_MODULE)
        yield None
        return
    async with open_sender(settings) as sender:
        yield sender
