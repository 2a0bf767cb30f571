"""Replies out: direct answers (``deliver``), the outbox's ``TelegramSender``, and the reliability both get
from one aiogram session middleware (``ReliableRequests``).

Rate limits (~30 messages/s overall, ~1/s per chat), 429 waits, bounded back-off on 5xx, undecodable
replies and network errors, and 403 bookkeeping all happen in the middleware, for direct answers and the
outbox alike. Every wait goes through an injected clock and sleep, so tests move time instead of waiting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from weakref import WeakValueDictionary

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import (
    CopyMessage,
    ForwardMessage,
    GetUpdates,
    SendDocument,
    SendMediaGroup,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType

from bot.channels.telegram.options import CHANNEL, utcnow
from bot.channels.telegram.rendering import ButtonTokens, render, send
from bot.channels.telegram.session import JsonSession
from bot.sending import PermanentError, RetryAfter, TransientError, Unreachable
from dialogs.types import Reply

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from bot.limits import SendLimiter

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
OnUnreachable = Callable[[int], Awaitable[None]]

# Methods that put a message into a chat: these count against Telegram's flood limits.
SEND_METHODS = (SendMessage, SendPhoto, SendDocument, SendMediaGroup, CopyMessage, ForwardMessage)
TRANSIENT = (TelegramServerError, TelegramNetworkError, ClientDecodeError)
MAX_RATE_WAITS = 10  # 429s for one request before giving up, however short each retry_after
STUCK_SEND = 10.0  # seconds: the pacing stops waiting for a send that has had no answer this long


@dataclass(frozen=True)
class SendPolicy:
    """How hard one request tries before its error reaches the caller."""

    wait_limit: float  # a 429 asking for at most this many seconds is waited out here; longer ones are raised
    transient_retries: int  # in-place retries after 5xx / undecodable reply / network error
    backoff_base: float = 0.5
    backoff_cap: float = 8.0

    def backoff(self, retry: int) -> float:
        return min(self.backoff_cap, self.backoff_base * 2.0**retry)


# Direct answers: the person is waiting, so wait out rate limits and retry a little longer.
INTERACTIVE = SendPolicy(wait_limit=60.0, transient_retries=4)
# The outbox dispatcher schedules its own retries: surface every 429 at once and retry 5xx only briefly.
QUEUED = SendPolicy(wait_limit=0.0, transient_retries=1)

_policy: ContextVar[SendPolicy] = ContextVar("civicbot_telegram_policy", default=INTERACTIVE)


@contextmanager
def send_policy(policy: SendPolicy) -> Iterator[None]:
    """Requests made inside this block (in this task) follow ``policy``."""
    token = _policy.set(policy)
    try:
        yield
    finally:
        _policy.reset(token)


@dataclass
class _Chat:
    tat: float = 0.0  # GCRA theoretical arrival time
    blocked_until: float = 0.0  # set by a 429 for this chat


@dataclass(eq=False)
class Permit:
    """Leave to send one message; ``release`` it when the request is over (answered or failed)."""

    done_at: float | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)


class RateLimiter:
    """Paces sends: a token bucket per chat (``per_chat``/s, bursts of ``chat_burst``) and at most ``overall``
    sends in any ``window`` seconds for the whole bot (None turns a limit off).

    Telegram counts in a sliding window by the moment a request reaches it, which is somewhere between our
    sending it and our getting the answer. So a send waits until ``window`` has passed since the *answer*
    to the send ``overall`` places before it: no jitter can then put ``overall + 1`` arrivals in one window.
    """

    def __init__(
        self,
        *,
        overall: int | None = 30,
        per_chat: float | None = 1.0,
        chat_burst: int = 3,
        window: float = 1.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.overall = overall
        self.interval = 1.0 / per_chat if per_chat else 0.0
        self.tolerance = (chat_burst - 1) * self.interval
        self.window = window
        self.clock = clock
        self.sleep = sleep
        self._recent: deque[Permit] = deque()  # the last ``overall`` permits, in the order given
        self._floor = 0.0  # no send before this
        self._turn = asyncio.Lock()  # permits for the whole bot are handed out one at a time, in order
        self._chats: dict[int, _Chat] = {}

    def _chat(self, chat_id: int) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            if len(self._chats) > 50_000:
                self._forget_idle()
            chat = self._chats[chat_id] = _Chat()
        return chat

    def _forget_idle(self) -> None:
        now = self.clock()
        for chat_id in [c for c, s in self._chats.items() if s.tat < now and s.blocked_until < now]:
            del self._chats[chat_id]

    def block(self, chat_id: int, seconds: float) -> None:
        """Nothing may be sent to ``chat_id`` for ``seconds`` (Telegram's retry_after)."""
        chat = self._chat(chat_id)
        chat.blocked_until = max(chat.blocked_until, self.clock() + seconds)

    async def wait_unblocked(self, chat_id: int) -> None:
        chat = self._chats.get(chat_id)
        while chat is not None and (delay := chat.blocked_until - self.clock()) > 0:
            await self.sleep(delay)

    async def acquire(self, chat_id: int) -> Permit:
        """Wait until one more message may go to ``chat_id``; callers serialize sends per chat."""
        chat = self._chat(chat_id)
        while True:
            now = self.clock()
            start = max(now, chat.blocked_until, chat.tat - self.tolerance)
            if start <= now:
                break
            await self.sleep(start - now)
        chat.tat = max(chat.tat, now) + self.interval
        permit = Permit()
        if self.overall is None:
            return permit
        async with self._turn:
            if len(self._recent) >= self.overall:
                oldest = self._recent.popleft()
                try:
                    await asyncio.wait_for(oldest.finished.wait(), STUCK_SEND)
                except TimeoutError:  # a request hanging this long must not hold up every other chat
                    self.release(oldest)
                assert oldest.done_at is not None
                self._floor = max(self._floor, oldest.done_at + self.window)
            while (delay := self._floor - self.clock()) > 0:
                await self.sleep(delay)
            self._recent.append(permit)
        return permit

    def release(self, permit: Permit) -> None:
        if permit.done_at is None:
            permit.done_at = self.clock()
            permit.finished.set()

    async def close(self) -> None:
        """Nothing to let go of: the limits live in this process."""


def chat_of(method: TelegramMethod[Any]) -> int | None:
    chat_id = getattr(method, "chat_id", None)
    return chat_id if isinstance(chat_id, int) else None


class ReliableRequests(BaseRequestMiddleware):
    """The one place where outgoing requests are paced, retried and their 403s remembered."""

    def __init__(
        self,
        limiter: SendLimiter | None = None,
        *,
        on_unreachable: OnUnreachable | None = None,
    ) -> None:
        self.limiter: SendLimiter = limiter or RateLimiter()
        self.on_unreachable = on_unreachable
        self.unreachable: set[int] = set()
        self._locks: WeakValueDictionary[int, asyncio.Lock] = WeakValueDictionary()

    @property
    def sleep(self) -> Sleep:
        return self.limiter.sleep

    def reachable_again(self, chat_id: int) -> None:
        """The person wrote to the bot, so they no longer block it."""
        self.unreachable.discard(chat_id)

    def _lock(self, chat_id: int) -> asyncio.Lock:
        lock = self._locks.get(chat_id)
        if lock is None:
            lock = self._locks[chat_id] = asyncio.Lock()
        return lock

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Any:
        if isinstance(method, GetUpdates):  # the polling loop has its own error handling
            return await make_request(bot, method)  # type: ignore[arg-type]  # GetUpdates is one TelegramMethod
        chat_id = chat_of(method)
        if chat_id is not None and isinstance(method, SEND_METHODS):
            if chat_id in self.unreachable:
                raise TelegramForbiddenError(  # type: ignore[misc]  # generic over a result this raise never has
                    method, "recipient is unreachable (blocked the bot)")
            # One send per chat at a time keeps multi-part replies in order and no retry jumps a 429.
            async with self._lock(chat_id):
                return await self._attempts(make_request, bot, method, chat_id, limited=True)
        return await self._attempts(make_request, bot, method, chat_id, limited=False)

    async def _attempts(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
        chat_id: int | None,
        *,
        limited: bool,
    ) -> Any:
        policy = _policy.get()
        name = type(method).__name__
        transient = 0
        waits = 0
        while True:
            permit = None
            if limited and chat_id is not None:
                permit = await self.limiter.acquire(chat_id)
            elif chat_id is not None:
                await self.limiter.wait_unblocked(chat_id)
            try:
                return await self._request(make_request, bot, method, permit)
            except TelegramRetryAfter as exc:
                waits += 1
                if chat_id is not None:
                    self.limiter.block(chat_id, exc.retry_after)
                if exc.retry_after > policy.wait_limit or waits > MAX_RATE_WAITS:
                    raise
                log.info("%s to %s rate limited: retrying in %s s", name, chat_id, exc.retry_after)
                if chat_id is None:
                    await self.sleep(exc.retry_after)
            except TelegramForbiddenError:
                if chat_id is not None and chat_id not in self.unreachable:
                    self.unreachable.add(chat_id)
                    await self._mark_unreachable(chat_id)
                raise
            except TRANSIENT as exc:
                if isinstance(exc, TelegramEntityTooLarge) or transient >= policy.transient_retries:
                    raise
                delay = policy.backoff(transient)
                transient += 1
                log.warning("%s failed (%s): retry %d in %.1f s", name, _short(exc), transient, delay)
                await self.sleep(delay)

    async def _request(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
        permit: Permit | None,
    ) -> Any:
        try:
            return await make_request(bot, method)
        finally:
            if permit is not None:
                self.limiter.release(permit)

    async def _mark_unreachable(self, chat_id: int) -> None:
        if self.on_unreachable is None:
            return
        try:
            await self.on_unreachable(chat_id)
        except Exception:  # the database: the 403 itself still reaches the caller, and the next one tries again
            log.exception("could not record that chat %s is unreachable", chat_id)


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def make_session(api_url: str, middleware: ReliableRequests, *, timeout: float = 60.0) -> AiohttpSession:
    """A session (``JsonSession``) for the Bot API server at ``api_url`` with ``middleware`` installed."""
    session = JsonSession(api=TelegramAPIServer.from_base(api_url), timeout=timeout)
    session.middleware(middleware)
    return session


# --- replies out -----------------------------------------------------------------------------------

async def deliver(bot: Bot, tokens: ButtonTokens, chat_id: int, replies: Iterable[Reply], now: datetime) -> None:
    """A turn's replies, in order; an error is logged and never raised (the turn is committed: its update is
    handled whatever becomes of a reply); a 403 ends the delivery."""
    for reply in replies:
        try:
            calls = await render(reply, tokens, now)
        except Exception:  # a reply that cannot be shown (or its button tokens saved) must not stop the next
            log.exception("could not render a reply to %s", chat_id)
            continue
        for call in calls:
            try:
                await send(bot, chat_id, call)
            except TelegramForbiddenError:
                return
            except Exception as exc:  # the middleware has retried what is worth it: the rest of the replies go on
                log.warning("could not send to %s: %s", chat_id, exc)


class TelegramSender:
    """Delivers outbox replies, mapping Bot API outcomes to the dispatcher's errors (``bot.sending``)."""

    channels = frozenset({CHANNEL})

    def __init__(
        self, bot: Bot, tokens: ButtonTokens, requests: ReliableRequests, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.bot = bot
        self.tokens = tokens
        self.requests = requests
        self.clock = clock

    async def send(self, identity_channel: str, external_id: str, reply: Reply) -> None:
        try:
            chat_id = int(external_id)
        except ValueError:
            raise PermanentError(f"not a Telegram chat id: {external_id!r}") from None
        if chat_id in self.requests.unreachable:
            raise Unreachable("blocked the bot")
        calls = await render(reply, self.tokens, self.clock())
        with send_policy(QUEUED):
            try:
                for call in calls:
                    await send(self.bot, chat_id, call)
            except TelegramRetryAfter as exc:
                raise RetryAfter(exc.retry_after) from None
            except TelegramForbiddenError as exc:
                raise Unreachable(exc.message) from None
            except TelegramBadRequest as exc:
                if "chat not found" in exc.message.lower():
                    raise Unreachable(exc.message) from None
                raise PermanentError(exc.message) from None
            except TelegramEntityTooLarge as exc:
                raise PermanentError(exc.message) from None
            except (TelegramServerError, TelegramNetworkError, ClientDecodeError, TelegramUnauthorizedError,
                    TelegramNotFound) as exc:
                # 401/404 are the bot's configuration, not the message: worth trying again later.
                raise TransientError(str(exc).splitlines()[0]) from None
            except TelegramAPIError as exc:
                raise PermanentError(exc.message) from None
