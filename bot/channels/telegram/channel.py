"""The Telegram channel: updates in (``receiving``), each user's in order (``ordering``), read as the engine's
``Incoming`` (``incoming``), a turn of the engine, the replies out (``sending``), and the update marked
handled. It implements the contract of ``bot.channels.contract``.

An update is recorded in the inbox (``store.channel_updates``) before Telegram may forget it and deleted
from there once handled; updates in hand at a start (a crash) are handled then. A turn's replies are kept
with the turn until sent: replies a crash left unsent are sent at start-up, each chat's in order, before any
update is taken in. Marking updates handled (and their replies sent) trails the turns, in batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiogram import Bot
from aiogram.types import Update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.contract import sqlite_gate
from bot.channels.telegram.incoming import UpdateReader
from bot.channels.telegram.menus import CommandMenus
from bot.channels.telegram.options import CHANNEL, TelegramOptions, utcnow
from bot.channels.telegram.ordering import UserQueues, Work, queue_key
from bot.channels.telegram.receiving import Polling, Recorded, Webhook
from bot.channels.telegram.rendering import ButtonTokens
from bot.channels.telegram.sending import ReliableRequests, Sleep, TelegramSender, deliver
from dialogs.engine import Engine, Turn
from dialogs.types import Reply
from store import channel_updates, identities
from store.conversations import UnsentReplies, already_handled, handled_key, mark_replies_sent, unsent_replies
from store.db import transaction

if TYPE_CHECKING:
    from bot.limits import SendLimiter

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class Settle:
    """A handled update (and the replies its turn kept, now sent) waiting to be marked so, with what the
    mark may change about its sender."""

    update_id: int
    user_id: str | None = None
    chat_id: int | None = None
    language_code: str | None = None
    reply_id: int | None = None


class TelegramChannel:
    name = CHANNEL

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
        self.key = f"tg:{bot.id}"  # the inbox's channel: update ids are per bot
        self.db_gate = sqlite_gate(sessions, self.options.concurrency)
        self.tokens = ButtonTokens(sessions, self.db_gate)
        self.reader = UpdateReader(bot, self.tokens, engine, self.deliver, self.options.default_locale)
        self.menus = CommandMenus(bot, engine.flows, self.options)
        self.queues = UserQueues(self._handle, self.options.concurrency)
        self.username: str | None = None
        self.webhook_secret = self.options.webhook_secret or secrets.token_urlsafe(32)
        self.stopping = False
        self.polling: Polling | None = None
        self.polling_task: asyncio.Task[None] | None = None
        self._webhook: Webhook | None = None
        self._settler: asyncio.Task[None] | None = None
        self._to_settle: list[Settle] = []
        self._settle_wake = asyncio.Event()
        self._settled = asyncio.Event()
        self._settled.set()

    @property
    def webhook(self) -> bool:
        return bool(self.options.webhook_url)

    # -- life cycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Ask who we are, set the command menus, handle what was left over, then start receiving."""
        me = await self.bot.me()
        self.username = me.username
        await self.menus.set_defaults()
        await self._prune()
        self._settler = asyncio.create_task(self._settle_loop(), name="telegram-settle")
        await self._send_unsent()
        await self._recover()
        if self.webhook:
            self._webhook = Webhook(self.bot, self, self.options, self.webhook_secret)
            await self._webhook.start()
        else:
            await self.bot.delete_webhook(drop_pending_updates=False)
            self.polling = Polling(self.bot, self, self.options, self.sleep)
            self.polling_task = asyncio.create_task(self.polling.run(), name="telegram-polling")

    async def stop(self, *, drain: bool = True, timeout: float = 30.0) -> None:
        """Stop receiving, finish (or, with ``drain=False``, abandon) updates in hand, close the session."""
        self.stopping = True
        if self.polling_task is not None and not self.polling_task.done():
            self.polling_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.polling_task
        if not drain:
            await self.queues.cancel()
        if self._webhook is not None:
            await self._webhook.stop()
        if drain:
            try:
                await asyncio.wait_for(self.queues.drain(), timeout)
            except TimeoutError:
                log.warning("updates still in hand after %.0f s: they are handled at the next start", timeout)
                await self.queues.cancel()
            if self.polling is not None:
                await self.polling.confirm()
        if self._settler is not None:
            self._settler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._settler
        if drain and self._to_settle:
            try:
                await self._flush(self._to_settle)
            except Exception as exc:  # stopping anyway: the next start finds these handled and drops them
                log.warning("could not mark %d updates handled at stop: %s", len(self._to_settle), exc)
        await self.bot.session.close()
        await self.requests.limiter.close()

    async def _prune(self) -> None:
        async with self.db_gate, transaction(self.sessions) as session:
            await channel_updates.forget_handled(session, self.key)
        await self.tokens.prune(self.clock())

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
        """Queue the updates a crash left in the inbox (those a turn handled already just leave it)."""
        async with self.db_gate, transaction(self.sessions) as session:
            rows = await channel_updates.pending(session, self.key)
            keys = {self._handled_key(row.update_id): row.update_id for row in rows}
            done = {keys[key] for key in await already_handled(session, keys)}
            await channel_updates.forget(session, self.key, done)
        rows = [row for row in rows if row.update_id not in done]
        if rows:
            log.info("handling %d updates received before the last stop", len(rows))
        for row in rows:
            self.queues.submit(row.user_key or f"update:{row.update_id}", Work(row.update_id, row.payload))

    # -- taking updates in (``receiving.Intake``) ---------------------------------------------------

    def _handled_key(self, update_id: int) -> str:
        return handled_key(CHANNEL, self.reader.incoming_id(update_id))

    async def record(self, updates: list[Update], payloads: list[dict[str, Any]]) -> Recorded:
        """Write to the inbox (committed) the updates no turn has handled yet; which are fresh, which were
        handled before (Telegram delivering one again)."""
        keys = {self._handled_key(u.update_id): u.update_id for u in updates}
        async with self.db_gate, transaction(self.sessions) as session:
            handled = {keys[key] for key in await already_handled(session, keys)}
            rows = [(u.update_id, queue_key(u), p) for p, u in zip(payloads, updates, strict=True)
                    if u.update_id not in handled]
            fresh = await channel_updates.record(session, self.key, rows, self.clock())
        return Recorded(fresh, handled)

    def submit(self, update: Update, payload: dict[str, Any], *, retry_here: bool = True) -> Work:
        return self.queues.submit(queue_key(update), Work(update.update_id, payload, update, retry_here))

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
            except Exception as exc:  # the database, or a recorded update unreadable: tried again, then given up
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
        update = work.update or Update.model_validate(work.payload, context={"bot": self.bot})
        received = await self.reader.read(update)
        if received is None:
            self._settle_later(Settle(update.update_id))
            return
        incoming, chat_id = received.incoming, received.chat_id
        self.requests.reachable_again(chat_id)  # they wrote, so they do not block the bot (any more)
        async with self.db_gate:
            answered = await self.engine.turn(incoming)
        if not work.retry_here and _in_flight(answered, self.clock()):
            # a re-delivery (Telegram gave up waiting for the first answer) while a process, perhaps another
            # one, still sends the first turn's replies: sending them here too would answer twice
            raise RepliesInFlight(work.update_id)
        await self.deliver(chat_id, answered.replies)
        self._settle_later(
            Settle(update.update_id, incoming.user_id, chat_id, received.language_code, answered.reply_id)
        )

    # -- sending ------------------------------------------------------------------------------------

    async def deliver(self, to: int, replies: Iterable[Reply]) -> None:
        """Send replies to chat ``to`` in order; an error is logged and never raised; a 403 ends the delivery."""
        await deliver(self.bot, self.tokens, to, replies, self.clock())

    def sender(self) -> TelegramSender:
        """The outbox sender sharing this channel's bot, so one rate limiter paces everything."""
        return TelegramSender(self.bot, self.tokens, self.requests, clock=self.clock)

    async def _mark_unreachable(self, chat_id: int) -> None:
        log.info("chat %s blocked the bot: marked unreachable", chat_id)
        async with self.db_gate, transaction(self.sessions) as session:
            await identities.mark_unreachable(session, CHANNEL, str(chat_id))

    # -- marking updates handled, in batches ----------------------------------------------------------

    def _settle_later(self, item: Settle) -> None:
        """Marking can trail the turn: a turn re-run after a crash is a no-op (the engine's claim)."""
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
            except Exception:  # the database: the batch is kept and tried again
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
        """One transaction: take ``batch`` out of the inbox and mark its replies sent, clear the unreachable
        mark of those who wrote (unless a 403 came since), read their role and language; then refresh the
        command menus that changed."""
        users = {item.user_id for item in batch if item.user_id is not None}
        async with self.db_gate, transaction(self.sessions) as session:
            await channel_updates.forget(session, self.key, [item.update_id for item in batch])
            await mark_replies_sent(session, [item.reply_id for item in batch if item.reply_id is not None])
            await identities.mark_reachable(session, CHANNEL, [u for u in users if int(u) not in self.requests.unreachable])
            who = await identities.roles_and_locales(session, CHANNEL, users)
        latest = {item.user_id: item for item in batch if item.user_id in who}
        for user_id, item in latest.items():
            assert item.chat_id is not None and user_id is not None
            await self.menus.refresh(item.chat_id, user_id, *who[user_id], item.language_code)
