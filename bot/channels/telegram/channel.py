"""The Telegram channel on aiogram 3: updates in by long polling or webhook, replies out, outbox sender.

No update is acknowledged before it is safe: polling records each update in ``channel_updates`` before
the next ``getUpdates`` moves the offset past it; the webhook answers only after handling (an error
answers 500, so Telegram re-delivers). Updates are handled once (the engine's key is the update id), in
order per user, different users in parallel; recorded-but-unhandled updates are handled at start-up.
A turn's replies are kept with the turn until sent: replies a crash left unsent are sent at start-up,
each chat's in order, before any update is taken in.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import logging
import re
import secrets
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
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
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    CallbackQuery,
    Message,
    Update,
    User,
)
from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import App
from bot.channels.telegram.rendering import ButtonTokens, render, send
from bot.channels.telegram.sending import (
    QUEUED,
    ReliableRequests,
    Sleep,
    make_session,
    send_policy,
)
from bot.config import Settings
from bot.sending import PermanentError, RetryAfter, TransientError, Unreachable
from dialogs import i18n
from dialogs.engine import Engine, Turn
from dialogs.types import Incoming, Media, Reply
from store.conversations import UnsentReplies, mark_replies_sent, unsent_replies
from store.db import create_engine, on_sqlite, sessionmaker, transaction
from store.inserts import insert_ignore
from store.media import MediaUnavailable
from store.models import ChannelUpdate, Identity

if TYPE_CHECKING:
    from bot.limits import SendLimiter

log = logging.getLogger(__name__)

CHANNEL = "telegram"
ALLOWED_UPDATES = ["message", "callback_query"]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
START_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")
SAFE_SUFFIX = re.compile(r"\.[a-z0-9]{1,8}")
GLOBAL_COMMANDS = ("menu", "help", "lang", "cancel")
UPDATE_RETENTION = timedelta(days=7)
DISPLAY_NAME_MAX = 100


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TelegramOptions:
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_listen: str = "127.0.0.1:8081"
    default_locale: str = "zh-Hans"
    admins: frozenset[tuple[str, str]] = frozenset()
    concurrency: int = 32  # updates handled at once (each of a different user)
    backlog: int = 1000  # polling pauses while this many updates wait
    poll_timeout: int = 25
    handle_attempts: int = 3  # a polled update that keeps failing is given up after this many tries

    @classmethod
    def from_settings(cls, settings: Settings) -> TelegramOptions:
        return cls(
            webhook_url=settings.telegram_webhook_url, webhook_secret=settings.telegram_webhook_secret,
            webhook_listen=settings.telegram_webhook_listen,
            default_locale=settings.default_locale, admins=settings.admin_identities,
        )


# --- re-deliveries -----------------------------------------------------------------------------------

REPLIES_LEASE = timedelta(seconds=60)  # kept replies younger than this may be being sent by their turn's process


class RepliesInFlight(Exception):
    """A webhook update came again while the replies of its first turn may still be being sent."""


def _in_flight(answered: Turn, now: datetime) -> bool:
    """Whether ``answered`` repeats an earlier turn's replies kept so recently that their process may still
    be sending them (once older, that process is taken to have died: they are sent here, at least once)."""
    if answered.kept_at is None:
        return False
    kept_at = answered.kept_at if answered.kept_at.tzinfo is not None else answered.kept_at.replace(tzinfo=UTC)
    return now - kept_at < REPLIES_LEASE


# --- per-user ordered queues -----------------------------------------------------------------------

@dataclass
class Work:
    update_id: int
    payload: dict[str, Any]
    update: Update | None = None  # already parsed (polling); None: parse ``payload``
    retry_here: bool = True  # False: a webhook request waits and Telegram re-delivers on failure
    done: asyncio.Future[BaseException | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


Handler = Callable[[Work], Awaitable[BaseException | None]]


class UserQueues:
    """One FIFO queue per user with at most one worker each; at most ``concurrency`` updates at once."""

    def __init__(self, handle: Handler, concurrency: int) -> None:
        self.handle = handle
        self._queues: dict[str, deque[Work]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._queued: dict[int, Work] = {}
        self._slots = asyncio.Semaphore(concurrency)
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._queued)

    def submit(self, user_key: str, work: Work) -> Work:
        """Queue ``work``; an update already queued is not queued twice (its Work is returned)."""
        queued = self._queued.get(work.update_id)
        if queued is not None:
            return queued
        self._queued[work.update_id] = work
        self._queues.setdefault(user_key, deque()).append(work)
        if user_key not in self._workers:
            self._workers[user_key] = asyncio.create_task(self._run(user_key), name=f"telegram-user-{user_key}")
        return work

    async def _run(self, user_key: str) -> None:
        queue = self._queues[user_key]
        try:
            while queue:
                work = queue[0]
                async with self._slots:
                    error = await self.handle(work)
                queue.popleft()
                self._queued.pop(work.update_id, None)
                if not work.done.done():
                    work.done.set_result(error)
                self._changed.set()
        finally:
            del self._queues[user_key]
            del self._workers[user_key]
            self._changed.set()

    async def wait_below(self, limit: int) -> None:
        while len(self._queued) >= limit:
            self._changed.clear()
            await self._changed.wait()

    async def drain(self) -> None:
        while self._workers:
            await asyncio.gather(*self._workers.values(), return_exceptions=True)

    async def cancel(self) -> None:
        """Abandon everything queued (it stays unhandled in the database); waiting webhook requests get 500."""
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for work in self._queued.values():
            if not work.done.done():
                work.done.set_result(RuntimeError("the channel stopped before handling this update"))
        self._queued.clear()


def user_key(update: Update) -> str | None:
    sender = (update.message and update.message.from_user) or (
        update.callback_query and update.callback_query.from_user
    )
    return str(sender.id) if sender is not None else None


def _display_name(user: User) -> str:
    return user.full_name[:DISPLAY_NAME_MAX]


# ``INSERT … ON CONFLICT DO NOTHING RETURNING update_id``, run with a list of rows (one cached statement,
# where a multi-row VALUES would be compiled afresh for every batch size)
_RECORD = insert_ignore(ChannelUpdate).returning(ChannelUpdate.update_id)


@dataclass(frozen=True)
class Settle:
    """A handled update (and the replies its turn kept, now sent) waiting to be marked so, with what the
    mark may change about its sender."""

    update_id: int
    user_id: str | None = None
    chat_id: int | None = None
    language_code: str | None = None
    reply_id: int | None = None


# --- the channel -----------------------------------------------------------------------------------

HEALTH_PATH = "/healthz"


class TelegramChannel:
    def __init__(
        self,
        bot: Bot,
        engine: Engine,
        sessions: async_sessionmaker[AsyncSession],
        options: TelegramOptions | None = None,
        *,
        requests: ReliableRequests | None = None,
        limiter: SendLimiter | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.bot = bot
        self.engine = engine
        self.sessions = sessions
        self.options = options or TelegramOptions()
        if requests is None:
            requests = ReliableRequests(limiter)
            bot.session.middleware(requests)
        requests.on_unreachable = self._mark_unreachable
        self.requests = requests
        self.sleep: Sleep = requests.sleep
        self.clock = clock
        self.key = f"tg:{bot.id}"  # update ids are per bot: a new token starts a new sequence
        # SQLite has one writer: queueing transactions here beats its busy handler's sleeps by far.
        self.db_gate = asyncio.Semaphore(1 if on_sqlite(sessions) else self.options.concurrency)
        self.tokens = ButtonTokens(sessions, self.db_gate)
        self.queues = UserQueues(self._handle, self.options.concurrency)
        self.username: str | None = None
        self.webhook_secret = self.options.webhook_secret or secrets.token_urlsafe(32)
        self._menus: dict[int, tuple[str, str] | None] = {}
        self._offset: int | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self._settler: asyncio.Task[None] | None = None
        self._to_settle: list[Settle] = []
        self._settle_wake = asyncio.Event()
        self._settled = asyncio.Event()
        self._settled.set()
        self._runner: web.AppRunner | None = None
        self._stopping = False

    @property
    def webhook(self) -> bool:
        return bool(self.options.webhook_url)

    # -- life cycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Ask who we are, set the command menus, handle what was left over, then start receiving."""
        me = await self.bot.me()
        self.username = me.username
        await self.set_default_commands()
        await self._prune()
        self._settler = asyncio.create_task(self._settle_loop(), name="telegram-settle")
        await self._send_unsent()
        await self._recover()
        if self.webhook:
            await self._start_webhook()
        else:
            await self.bot.delete_webhook(drop_pending_updates=False)
            self._poll_task = asyncio.create_task(self._poll(), name="telegram-polling")

    async def stop(self, *, drain: bool = True, timeout: float = 30.0) -> None:
        """Stop receiving, finish (or, with ``drain=False``, abandon) updates in hand, close the session."""
        self._stopping = True
        if self._poll_task is not None and not self._poll_task.done():
            self._poll_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poll_task
        if not drain:
            await self.queues.cancel()
        if self._runner is not None:
            await self._runner.cleanup()  # waits for webhook requests in flight
        if drain:
            try:
                await asyncio.wait_for(self.queues.drain(), timeout)
            except TimeoutError:
                log.warning("updates still in hand after %.0f s: they are handled at the next start", timeout)
                await self.queues.cancel()
            if self._offset is not None and not self.webhook:
                # Confirm what was handled, so Telegram does not send it again after a restart.
                with contextlib.suppress(Exception):
                    await self.bot.get_updates(offset=self._offset, timeout=0, limit=1, request_timeout=5)
        if self._settler is not None:
            self._settler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._settler
        if drain and self._to_settle:
            with contextlib.suppress(Exception):
                await self._flush(self._to_settle)
        await self.bot.session.close()
        await self.requests.limiter.close()

    async def _prune(self) -> None:
        now = self.clock()
        async with self.db_gate, transaction(self.sessions) as session:
            await session.execute(
                delete(ChannelUpdate).where(
                    ChannelUpdate.channel == self.key, ChannelUpdate.handled_at < now - UPDATE_RETENTION
                )
            )
        await self.tokens.prune(now)

    async def _send_unsent(self) -> None:
        """Send the replies of turns committed before the last stop but never sent (the process died in
        between): each chat's in order, chats in parallel, all before any update is handled."""
        async with self.db_gate, self.sessions() as session:
            kept = await unsent_replies(session, CHANNEL)
        if not kept:
            return
        log.info("sending the replies of %d turns left unsent at the last stop", len(kept))
        chats: dict[str, list[UnsentReplies]] = {}
        for item in kept:
            chats.setdefault(item.user_id, []).append(item)
        slots = asyncio.Semaphore(self.options.concurrency)

        async def catch_up(user_id: str, items: list[UnsentReplies]) -> None:
            async with slots:  # a private chat's id is its user's
                for item in items:
                    await self.deliver(int(user_id), [Reply.from_json(reply) for reply in item.replies])

        await asyncio.gather(*(catch_up(user_id, items) for user_id, items in chats.items()))
        # marked now, not trailing: the recorded updates handled next would find them unsent and send them again
        async with self.db_gate, transaction(self.sessions) as session:
            await mark_replies_sent(session, [item.id for item in kept])

    async def _recover(self) -> None:
        async with self.db_gate, self.sessions() as session:
            rows = (
                await session.execute(
                    select(ChannelUpdate.update_id, ChannelUpdate.user_key, ChannelUpdate.payload)
                    .where(ChannelUpdate.channel == self.key, ChannelUpdate.handled_at.is_(None))
                    .order_by(ChannelUpdate.update_id)
                )
            ).all()
        if rows:
            log.info("handling %d updates received before the last stop", len(rows))
        for row in rows:
            self.queues.submit(row.user_key or f"update:{row.update_id}", Work(row.update_id, row.payload))

    # -- receiving ----------------------------------------------------------------------------------

    async def _record(self, payloads: list[dict[str, Any]], updates: list[Update]) -> set[int]:
        """Write updates to ``channel_updates`` (committed); the ids that were not there before."""
        now = self.clock()
        rows = [
            {"channel": self.key, "update_id": u.update_id, "user_key": user_key(u), "payload": p,
             "received_at": now, "handled_at": None}
            for p, u in zip(payloads, updates, strict=True)
        ]
        async with self.db_gate, transaction(self.sessions) as session:
            return set((await session.execute(_RECORD, rows)).scalars())

    async def _poll(self) -> None:
        failures = 0
        while not self._stopping:
            await self.queues.wait_below(self.options.backlog)
            try:
                updates = await self.bot.get_updates(
                    offset=self._offset, timeout=self.options.poll_timeout, allowed_updates=ALLOWED_UPDATES,
                    request_timeout=self.options.poll_timeout + 10,
                )
                payloads = [u.model_dump(mode="json", by_alias=True, exclude_none=True) for u in updates]
                fresh = await self._record(payloads, updates) if updates else set()
            except TelegramUnauthorizedError:
                log.error("Telegram refused the bot token (401): polling stopped")
                raise
            except Exception as exc:
                failures += 1
                delay = min(30.0, 0.5 * 2 ** min(failures, 6))
                log.warning("getUpdates failed (%s): retrying in %.1f s", exc, delay)
                await self.sleep(delay)
                continue
            failures = 0
            if updates:
                # Recorded and committed: only now may the next call confirm them.
                self._offset = updates[-1].update_id + 1
            for update_obj, payload in zip(updates, payloads, strict=True):
                if update_obj.update_id in fresh:
                    key = user_key(update_obj) or f"update:{update_obj.update_id}"
                    self.queues.submit(key, Work(update_obj.update_id, payload, update_obj))

    async def _start_webhook(self) -> None:
        assert self.options.webhook_url is not None
        path = urlsplit(self.options.webhook_url).path or "/"
        app = web.Application()
        app.router.add_post(path, self._on_webhook)
        app.router.add_get(HEALTH_PATH, self._on_health)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=30.0)
        await self._runner.setup()
        host, _, port = self.options.webhook_listen.rpartition(":")
        await web.TCPSite(self._runner, host or "127.0.0.1", int(port)).start()
        await self.bot.set_webhook(
            url=self.options.webhook_url, secret_token=self.webhook_secret, allowed_updates=ALLOWED_UPDATES,
        )
        log.info("webhook set to %s, listening on %s", self.options.webhook_url, self.options.webhook_listen)

    async def _on_health(self, request: web.Request) -> web.Response:
        """For the load balancer and the container's health check: 503 once stopping, so no update is sent here."""
        return web.Response(status=503 if self._stopping else 200, text="stopping" if self._stopping else "ok")

    async def _on_webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.webhook_secret.encode()):
            return web.Response(status=401, text="wrong secret token")
        if self._stopping:
            return web.Response(status=503, text="shutting down")
        try:
            payload = await request.json()
            update_obj = Update.model_validate(payload, context={"bot": self.bot})
        except (ValueError, ValidationError):
            # Not an update we can ever read: answering 200 stops Telegram from re-sending it for ever.
            log.warning("unreadable webhook update ignored")
            return web.Response(text="ignored")
        try:
            fresh = await self._record([payload], [update_obj])
            if update_obj.update_id not in fresh and await self._handled(update_obj.update_id):
                return web.Response(text="duplicate")
            key = user_key(update_obj) or f"update:{update_obj.update_id}"
            work = self.queues.submit(key, Work(update_obj.update_id, payload, update_obj, retry_here=False))
            error = await asyncio.shield(work.done)
        except Exception:
            log.exception("webhook update %s not recorded", payload.get("update_id"))
            return web.Response(status=500, text="not handled")
        if error is not None:
            return web.Response(status=500, text="not handled")
        return web.Response(text="ok")

    async def _handled(self, update_id: int) -> bool:
        async with self.db_gate, self.sessions() as session:
            handled_at = await session.scalar(
                select(ChannelUpdate.handled_at).where(
                    ChannelUpdate.channel == self.key, ChannelUpdate.update_id == update_id
                )
            )
        return handled_at is not None

    # -- handling -----------------------------------------------------------------------------------

    async def _handle(self, work: Work) -> BaseException | None:
        attempt = 0
        while True:
            try:
                await self.process(work)
                return None
            except RepliesInFlight as exc:
                log.info("update %s came again while its replies are being sent: Telegram will deliver it "
                         "again", work.update_id)
                return exc
            except Exception as exc:
                attempt += 1
                if not work.retry_here:
                    log.exception("update %s failed: Telegram will deliver it again", work.update_id)
                    return exc
                if attempt >= self.options.handle_attempts:
                    log.exception("update %s failed %d times: given up", work.update_id, attempt)
                    self._settle_later(Settle(work.update_id))
                    return exc
                log.warning("update %s failed (%s): trying again", work.update_id, exc)
                await self.sleep(0.5 * 2**attempt)

    async def process(self, work: Work) -> None:
        """Handle one recorded update: run the turn, send the replies, have it marked handled."""
        update_obj = work.update or Update.model_validate(work.payload, context={"bot": self.bot})
        if update_obj.message is not None:
            turn = await self._from_message(update_obj.update_id, update_obj.message)
        elif update_obj.callback_query is not None:
            turn = await self._from_callback(update_obj.update_id, update_obj.callback_query)
        else:
            turn = None
        if turn is None:
            self._settle_later(Settle(update_obj.update_id))
            return
        incoming, chat_id, language_code = turn
        self.requests.reachable_again(chat_id)  # they wrote, so they do not block the bot (any more)
        async with self.db_gate:
            answered = await self.engine.turn(incoming)
        if not work.retry_here and _in_flight(answered, self.clock()):
            # a re-delivery (Telegram gave up waiting for the first answer) while a process, perhaps another
            # one, still sends the first turn's replies: sending them here too would answer twice
            raise RepliesInFlight(work.update_id)
        await self.deliver(chat_id, answered.replies)
        self._settle_later(Settle(update_obj.update_id, incoming.user_id, chat_id, language_code, answered.reply_id))

    def _incoming_id(self, update_id: int) -> str:
        return f"{self.bot.id}:{update_id}"

    async def _from_message(self, update_id: int, message: Message) -> tuple[Incoming, int, str | None] | None:
        user = message.from_user
        if user is None or user.is_bot or message.chat.type != "private":
            return None
        common: dict[str, Any] = {"locale": user.language_code, "display_name": _display_name(user)}
        user_id, incoming_id = str(user.id), self._incoming_id(update_id)
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
                locale = i18n.normalize_locale(user.language_code) or self.options.default_locale
                await self.deliver(message.chat.id, [Reply(i18n.t(locale, "common.media_unavailable"))])
                return None
            incoming = Incoming(CHANNEL, user_id, incoming_id, text=message.caption, media=media, **common)
        else:  # a contact, a location, a sticker…: the flow says what it wanted instead
            incoming = Incoming(CHANNEL, user_id, incoming_id, text=message.caption, other=str(message.content_type), **common)
        return incoming, message.chat.id, user.language_code

    async def _from_callback(
        self, update_id: int, query: CallbackQuery
    ) -> tuple[Incoming, int, str | None] | None:
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
            CHANNEL, str(user.id), self._incoming_id(update_id), locale=user.language_code, button=data,
            display_name=_display_name(user),
        )
        return incoming, message.chat.id, user.language_code

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
        except Exception as exc:
            log.warning("could not download %s of update %s: %s", kind, update_id, exc)
            return None
        assert content is not None
        suffix = Path(filename or file.file_path).suffix.lower()
        suffix = suffix if SAFE_SUFFIX.fullmatch(suffix) else fallback
        # downloaded into memory, at its start
        ref = await self.engine.media.put(f"tg-{self.bot.id}-{update_id}{suffix}", content.read())
        return Media(kind, ref, filename)

    # -- marking updates handled, in batches ----------------------------------------------------------

    def _settle_later(self, item: Settle) -> None:
        """Marking can trail the turn: a turn re-run after a crash is a no-op (the engine's key)."""
        self._to_settle.append(item)
        self._settled.clear()
        self._settle_wake.set()

    async def _settle_loop(self) -> None:
        while True:
            await self._settle_wake.wait()
            self._settle_wake.clear()
            batch, self._to_settle = self._to_settle, []
            try:
                await self._flush(batch)
            except asyncio.CancelledError:
                self._to_settle[:0] = batch  # stop() marks them, or the next start re-runs them harmlessly
                raise
            except Exception:
                log.exception("could not mark %d updates handled: trying again", len(batch))
                self._to_settle[:0] = batch
                await self.sleep(1.0)
                self._settle_wake.set()
            if not self._to_settle:
                self._settled.set()

    async def wait_idle(self) -> None:
        """Until every update taken in is handled and marked so."""
        await self.queues.drain()
        await self._settled.wait()

    async def _flush(self, batch: list[Settle]) -> None:
        """One transaction: mark ``batch`` handled and its replies sent, clear the unreachable mark of those
        who wrote (unless a 403 came since), read their role and language; then refresh command menus that
        changed."""
        users = {item.user_id for item in batch if item.user_id is not None}
        wrote = [u for u in users if int(u) not in self.requests.unreachable]
        async with self.db_gate, transaction(self.sessions) as session:
            await session.execute(
                update(ChannelUpdate)
                .where(ChannelUpdate.channel == self.key,
                       ChannelUpdate.update_id.in_([item.update_id for item in batch]))
                # once handled, only the id stays (for de-duplication): the raw update carried what
                # the person typed, e.g. a survey token next to their user id
                .values(handled_at=self.clock(), payload={}, user_key=None)
            )
            await mark_replies_sent(session, [item.reply_id for item in batch if item.reply_id is not None])
            if not users:
                return
            if wrote:
                await session.execute(
                    update(Identity)
                    .where(Identity.channel == CHANNEL, Identity.external_id.in_(wrote), Identity.unreachable)
                    .values(unreachable=False)
                )
            who = {
                row.external_id: (row.role, row.locale)
                for row in await session.execute(
                    select(Identity.external_id, Identity.role, Identity.locale)
                    .where(Identity.channel == CHANNEL, Identity.external_id.in_(users))
                )
            }
        latest = {item.user_id: item for item in batch if item.user_id in who}
        for user_id, item in latest.items():
            assert item.chat_id is not None and user_id is not None
            await self._refresh_menu(item.chat_id, user_id, *who[user_id], item.language_code)

    async def _mark_unreachable(self, chat_id: int) -> None:
        log.info("chat %s blocked the bot: marked unreachable", chat_id)
        async with self.db_gate, transaction(self.sessions) as session:
            await session.execute(
                update(Identity)
                .where(Identity.channel == CHANNEL, Identity.external_id == str(chat_id))
                .values(unreachable=True)
            )

    # -- sending ------------------------------------------------------------------------------------

    async def deliver(self, chat_id: int, replies: Iterable[Reply]) -> None:
        """Send replies in order; an error is logged and never raised; a 403 ends the delivery."""
        for reply in replies:
            try:
                calls = await render(reply, self.tokens, self.clock())
            except Exception:
                log.exception("could not render a reply to %s", chat_id)
                continue
            for call in calls:
                try:
                    await send(self.bot, chat_id, call)
                except TelegramForbiddenError:
                    return
                except Exception as exc:
                    log.warning("could not send to %s: %s", chat_id, exc)

    def sender(self) -> TelegramSender:
        """The outbox sender sharing this channel's bot, so one rate limiter paces everything."""
        return TelegramSender(self.bot, self.tokens, self.requests, clock=self.clock)

    # -- command menus ------------------------------------------------------------------------------

    def commands(self, role: str, locale: str) -> list[BotCommand]:
        """The command menu of ``role`` (resident, org, staff, expert) in ``locale``."""
        items = []
        for flow in sorted(self.engine.flows.values(), key=lambda f: f.menu_order):
            if flow.commands and flow.menu_key and (role in flow.roles or "resident" in flow.roles):
                items.append(BotCommand(command=flow.commands[0], description=_describe(locale, flow.menu_key)))
        items.extend(
            BotCommand(command=name, description=i18n.t(locale, f"commands.{name}")) for name in GLOBAL_COMMANDS
        )
        return items

    def _default_locale_for(self, language_code: str | None) -> str:
        """The language of the default-scope menu a Telegram client with ``language_code`` shows."""
        code = (language_code or "").lower()
        if code.startswith("en"):
            return "en"
        if code.startswith("zh"):
            return "zh-Hans"
        return self.options.default_locale

    async def set_default_commands(self) -> None:
        """Residents' menus; Telegram picks one by the two-letter language of the client."""
        for language, locale in (("", self.options.default_locale), ("zh", "zh-Hans"), ("en", "en")):
            try:
                await self.bot.set_my_commands(
                    self.commands("resident", locale), scope=BotCommandScopeDefault(), language_code=language or None
                )
            except Exception as exc:
                log.warning("could not set the %r command menu: %s", language, exc)

    async def _refresh_menu(
        self, chat_id: int, user_id: str, role: str, chosen: str | None, language_code: str | None
    ) -> None:
        """A per-chat menu for bound members and for a language the default menus cannot show (zh-Hant)."""
        role = "staff" if (CHANNEL, user_id) in self.options.admins else role
        locale = chosen or i18n.normalize_locale(language_code) or self.options.default_locale
        wanted = None if role == "resident" and locale == self._default_locale_for(language_code) else (role, locale)
        if self._menus.get(chat_id) == wanted:
            return
        scope = BotCommandScopeChat(chat_id=chat_id)
        try:
            if wanted is None:
                await self.bot.delete_my_commands(scope=scope)
            else:
                await self.bot.set_my_commands(self.commands(*wanted), scope=scope)
        except Exception as exc:
            log.warning("could not update the command menu of %s: %s", chat_id, exc)
            return
        self._menus[chat_id] = wanted


def _describe(locale: str, key: str) -> str:
    """A menu label as a command description (no leading emoji, within Telegram's 256 characters)."""
    label = i18n.t(locale, key)
    stripped = label.lstrip()
    while stripped and not stripped[0].isalnum():
        stripped = stripped[1:]
    return (stripped.strip() or label)[:256]


# --- the outbox sender -----------------------------------------------------------------------------

class TelegramSender:
    """Delivers outbox replies, mapping Bot API outcomes to the dispatcher's errors."""

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


# --- wiring ----------------------------------------------------------------------------------------

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
        except Exception as exc:
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
    except Exception:
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


ROLES = ("all", "web", "worker", "scheduler")


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
    if channel is not None and channel._poll_task is not None:
        waiters.add(channel._poll_task)
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
    poll = channel._poll_task if channel is not None else None
    if poll is not None and poll.done() and not poll.cancelled() and poll.exception() is not None:
        raise poll.exception()  # type: ignore[misc]  # checked not None just above
