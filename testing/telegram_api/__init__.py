"""A fake Telegram Bot API server on 127.0.0.1 that the real aiogram talks to over HTTP.

Used by tests and benchmarks: it validates requests like Telegram, records what the bot sent, injects
user updates (long polling or webhook), and injects faults (429, 5xx, 403, latency, Telegram's rate limits).
Start with ``FakeTelegram`` (server.py); ``tg.user(...)`` gives the ``FakeUser`` that writes to the bot.
"""

from .client import LocalAiohttpSession, ManualClock, make_bot
from .faults import Fault, Faults
from .formatting import parse_html
from .limits import SEND_METHODS, RateLimit
from .protocol import DEFAULT_BOT_USERNAME, DEFAULT_TOKEN, ApiError
from .records import (
    AnsweredCallback,
    ChatAction,
    EarlyRetry,
    EditRecord,
    RetryAfterRecord,
    SentMessage,
    Stats,
    WebhookAttempt,
)
from .server import FakeTelegram
from .user import FakeUser

__all__ = [
    "DEFAULT_BOT_USERNAME",
    "DEFAULT_TOKEN",
    "SEND_METHODS",
    "AnsweredCallback",
    "ApiError",
    "ChatAction",
    "EarlyRetry",
    "EditRecord",
    "FakeTelegram",
    "FakeUser",
    "Fault",
    "Faults",
    "LocalAiohttpSession",
    "ManualClock",
    "RateLimit",
    "RetryAfterRecord",
    "SentMessage",
    "Stats",
    "WebhookAttempt",
    "make_bot",
    "parse_html",
]
