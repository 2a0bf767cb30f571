"""The Telegram channel (aiogram 3), one concept per module.

``channel``
    ``TelegramChannel``: updates in, turns of the engine, replies out.
``rendering``
    a ``Reply`` as Bot API calls (HTML, split texts, keyboards, button tokens).
``sending``
    the session middleware that paces, retries and remembers 403s (``ReliableRequests``).
"""

from bot.channels.telegram.channel import (
    CHANNEL,
    ROLES,
    TelegramChannel,
    TelegramOptions,
    TelegramSender,
    bot_username,
    new_bot,
    open_channel,
    open_sender,
    serve,
)

__all__ = [
    "CHANNEL", "ROLES", "TelegramChannel", "TelegramOptions", "TelegramSender", "bot_username", "new_bot",
    "open_channel", "open_sender", "serve",
]
