"""The Telegram channel (aiogram 3), one concept per module, in the order a message takes:

``options``    what the channel is told (``TelegramOptions``) and the Bot API facts it relies on
``receiving``  updates in: long polling or webhook, each recorded in the inbox before it is confirmed
``ordering``   each user's updates in order, different users in parallel (``UserQueues``)
``incoming``   an update as the engine's ``Incoming`` (downloads, button tokens resolved)
``channel``    ``TelegramChannel``: the wiring, a turn of the engine, updates marked handled in batches
``rendering``  a ``Reply`` as Bot API calls (HTML, texts split, keyboards, button tokens)
``sending``    replies out: direct answers, the outbox's ``TelegramSender``, and ``ReliableRequests``
               (the session middleware that paces, retries and remembers 403s)
``menus``      the command menus, per role and language
``serving``    ``civicbot run`` by process role, the stand-alone sender, the bot's username

The channel implements ``bot.channels.contract``.
"""

from bot.channels.telegram.channel import TelegramChannel
from bot.channels.telegram.options import CHANNEL, TelegramOptions
from bot.channels.telegram.sending import TelegramSender
from bot.channels.telegram.serving import ROLES, bot_username, new_bot, open_channel, open_sender, serve

__all__ = [
    "CHANNEL", "ROLES", "TelegramChannel", "TelegramOptions", "TelegramSender", "bot_username", "new_bot",
    "open_channel", "open_sender", "serve",
]
