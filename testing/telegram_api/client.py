"""What the code under test needs to reach the fake: an aiogram Bot pointed at it, and a clock moved by hand."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.channels.telegram.session import JsonSession

from .protocol import DEFAULT_TOKEN


class ManualClock:
    """A monotonic clock moved by hand: pass it as ``FakeTelegram(clock=...)`` (and to the code under test)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class _QuickClose(AiohttpSession):
    """Without the 250 ms pause on close that aiogram's session makes for TLS shutdown (plain HTTP here)."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


class LocalAiohttpSession(_QuickClose, JsonSession):
    """civicbot's session (``bot.channels.telegram.session``), closed at once."""


class BareLocalSession(_QuickClose):
    """aiogram's own session (form bodies), closed at once: a bot written without civicbot."""


def make_bot(base_url: str, token: str = DEFAULT_TOKEN, *, bare: bool = False, **bot_kwargs: Any) -> Bot:
    """A real aiogram Bot talking to the fake at ``base_url`` through civicbot's session (aiogram's own when
    ``bare``); close it with ``await bot.session.close()``."""
    session = (BareLocalSession if bare else LocalAiohttpSession)(api=TelegramAPIServer.from_base(base_url))
    return Bot(token, session=session, **bot_kwargs)
