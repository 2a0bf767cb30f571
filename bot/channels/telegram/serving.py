"""Wiring: a bot for the settings, the channel of ``civicbot run`` (``serve``, by process role), the stand-alone
outbox sender, and the bot's username for commands that print links."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import AiogramError

from bot.app import App
from bot.channels.telegram.channel import TelegramChannel
from bot.channels.telegram.options import TelegramOptions
from bot.channels.telegram.rendering import ButtonTokens
from bot.channels.telegram.sending import ReliableRequests, TelegramSender, make_session
from bot.config import Settings
from store.db import create_engine, sessionmaker

if TYPE_CHECKING:
    from bot.limits import SendLimiter

log = logging.getLogger(__name__)

ROLES = ("all", "web", "worker", "scheduler")


def new_bot(settings: Settings, requests: ReliableRequests | None = None, *, timeout: float = 60.0) -> Bot:
    """A Bot for the configured token and API server, with ``requests`` as its session middleware."""
    assert settings.telegram_token
    return Bot(settings.telegram_token, session=make_session(settings.telegram_api_url, requests or
                                                             ReliableRequests(), timeout=timeout))


async def bot_username(settings: Settings, *, timeout: float = 5.0) -> str | None:
    """The bot's username from ``getMe`` when a token is set, else (or when that fails) the configured one:
    the one place that every command printing links (invitations, survey links, cards, QR codes) asks."""
    if settings.telegram_token:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url), timeout=timeout)
        try:
            bot = Bot(settings.telegram_token, session=session)
            me = await bot.get_me()
            if me.username:
                return me.username
        except AiogramError as exc:  # unreachable or refused: the configured name still makes the links
            log.warning("getMe failed (%s): using CIVICBOT_TELEGRAM_USERNAME", exc)
        finally:
            await session.close()
    return settings.telegram_username


def _limiter(settings: Settings) -> SendLimiter:
    from bot.limits import send_limiter  # bot.limits imports this package's limiter: imported when used

    assert settings.telegram_token
    return send_limiter(settings, int(settings.telegram_token.split(":", 1)[0]))  # the bot's id heads its token


async def open_channel(app: App, settings: Settings) -> TelegramChannel:
    """The channel of ``civicbot run``: a bot for the settings and an engine that knows the bot's username."""
    requests = ReliableRequests(_limiter(settings))
    bot = new_bot(settings, requests)
    try:
        me = await bot.me()
    except BaseException:
        await bot.session.close()
        await requests.limiter.close()
        raise
    return TelegramChannel(bot, app.engine(me.username), app.sessions, TelegramOptions.from_settings(settings),
                           requests=requests)


@contextlib.asynccontextmanager
async def open_sender(settings: Settings) -> AsyncIterator[TelegramSender]:
    """A stand-alone sender (``civicbot reminders run-once``): its own bot and database connection."""
    db = create_engine(settings.database_url)
    requests = ReliableRequests(_limiter(settings))
    bot = new_bot(settings, requests)
    try:
        yield TelegramSender(bot, ButtonTokens(sessionmaker(db)), requests)
    finally:
        await bot.session.close()
        await requests.limiter.close()
        await db.dispose()


async def serve(app: App, settings: Settings, stop: asyncio.Event, *, role: str = "all") -> None:
    """``civicbot run --role ROLE`` until ``stop`` is set, then a clean shutdown (no more ticks; claimed
    messages not sent given back; updates in hand finished; sessions closed).

    ``web`` receives updates (webhook, or polling), ``worker`` dispatches the outbox, ``scheduler``
    evaluates the rules (one process at a time: the evaluator's advisory lock), ``all`` does the three.
    """
    from bot.dispatching import DispatchLoop, wakeup_for
    from bot.reminders import dispatcher
    from bot.scheduler import Ticker, start_scheduler, stop_scheduler

    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    receiving = role in ("all", "web")
    sending = role in ("all", "worker")
    ticking_role = role in ("all", "scheduler")
    channel = await open_channel(app, settings) if receiving or sending else None
    if channel is not None and receiving:
        try:
            await channel.start()
        except BaseException:
            await channel.bot.session.close()
            await channel.requests.limiter.close()
            raise
    ticker = Ticker(app)
    ticking = start_scheduler(ticker) if ticking_role else None
    dispatching = None
    if sending:
        assert channel is not None
        dispatching = DispatchLoop(dispatcher(app, channel.sender()), await wakeup_for(app.db))
        dispatching.start()
    if channel is not None:
        log.info("civicbot (%s) is running as @%s (%s)", role, channel.username or (await channel.bot.me()).username,
                 ("webhook" if channel.webhook else "polling") if receiving else "sending only")
    else:
        log.info("civicbot (%s) is running", role)
    stopped = asyncio.ensure_future(stop.wait())
    waiters: set[asyncio.Future[Any]] = {stopped}
    if channel is not None and channel.polling_task is not None:
        waiters.add(channel.polling_task)
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if ticking is not None:
            await stop_scheduler(ticking, ticker)
        if dispatching is not None:
            await dispatching.stop()
        if channel is not None:
            if receiving:
                await channel.stop()
            else:
                await channel.bot.session.close()
                await channel.requests.limiter.close()
    poll = channel.polling_task if channel is not None else None
    if poll is not None and poll.done() and not poll.cancelled() and poll.exception() is not None:
        raise poll.exception()  # type: ignore[misc]  # checked not None just above
