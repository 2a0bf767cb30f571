"""Updates in, by long polling or by webhook. No update is acknowledged before it is safe: polling has each
batch recorded (committed) before the next ``getUpdates`` moves the offset past it; the webhook answers
only once the update is handled (an error answers 500, so Telegram delivers it again).

Both hand what they receive to an ``Intake`` (the channel): ``record`` writes the updates to the inbox
and tells which were handled before (a re-delivery: nothing to do), ``submit`` queues one in its user's
queue.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiogram import Bot
from aiogram.exceptions import TelegramUnauthorizedError
from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError

from bot.channels.telegram.options import ALLOWED_UPDATES, HEALTH_PATH, SECRET_HEADER, TelegramOptions
from bot.channels.telegram.ordering import UserQueues, Work
from bot.channels.telegram.sending import Sleep

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recorded:
    """What recording a batch found: the ids now in hand (to be handled) and those handled before."""

    fresh: set[int]
    handled: set[int]


class Intake(Protocol):
    queues: UserQueues
    stopping: bool

    async def record(self, updates: list[Update], payloads: list[dict[str, Any]]) -> Recorded: ...

    def submit(self, update: Update, payload: dict[str, Any], *, retry_here: bool = True) -> Work: ...


class Polling:
    """``getUpdates`` in a loop; pauses while ``backlog`` updates wait in the queues."""

    def __init__(self, bot: Bot, intake: Intake, options: TelegramOptions, sleep: Sleep) -> None:
        self.bot = bot
        self.intake = intake
        self.options = options
        self.sleep = sleep
        self.offset: int | None = None

    async def run(self) -> None:
        failures = 0
        while not self.intake.stopping:
            await self.intake.queues.wait_below(self.options.backlog)
            try:
                updates = await self.bot.get_updates(
                    offset=self.offset, timeout=self.options.poll_timeout, allowed_updates=ALLOWED_UPDATES,
                    request_timeout=self.options.poll_timeout + 10,
                )
                payloads = [u.model_dump(mode="json", by_alias=True, exclude_none=True) for u in updates]
                recorded = await self.intake.record(updates, payloads) if updates else Recorded(set(), set())
            except TelegramUnauthorizedError:
                log.error("Telegram refused the bot token (401): polling stopped")
                raise
            except Exception as exc:  # the network or the database: polling must go on, nothing was confirmed
                failures += 1
                delay = min(30.0, 0.5 * 2 ** min(failures, 6))
                log.warning("getUpdates failed (%s): retrying in %.1f s", exc, delay)
                await self.sleep(delay)
                continue
            failures = 0
            if updates:
                # Recorded and committed: only now may the next call confirm them.
                self.offset = updates[-1].update_id + 1
            for update, payload in zip(updates, payloads, strict=True):
                if update.update_id in recorded.fresh:
                    self.intake.submit(update, payload)

    async def confirm(self) -> None:
        """Confirm what was handled, so Telegram does not send it again after a restart."""
        if self.offset is None:
            return
        try:
            await self.bot.get_updates(offset=self.offset, timeout=0, limit=1, request_timeout=5)
        except Exception as exc:  # stopping anyway: unconfirmed updates come again and are found handled
            log.info("could not confirm the last updates at stop: %s", exc)


class Webhook:
    """An aiohttp server for Telegram's POSTs (checked against the secret token) and a health check."""

    def __init__(self, bot: Bot, intake: Intake, options: TelegramOptions, secret: str) -> None:
        assert options.webhook_url is not None
        self.bot = bot
        self.intake = intake
        self.options = options
        self.secret = secret
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        assert self.options.webhook_url is not None
        path = urlsplit(self.options.webhook_url).path or "/"
        app = web.Application()
        app.router.add_post(path, self._on_update)
        app.router.add_get(HEALTH_PATH, self._on_health)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=30.0)
        await self._runner.setup()
        host, _, port = self.options.webhook_listen.rpartition(":")
        await web.TCPSite(self._runner, host or "127.0.0.1", int(port)).start()
        await self.bot.set_webhook(
            url=self.options.webhook_url, secret_token=self.secret, allowed_updates=ALLOWED_UPDATES,
        )
        log.info("webhook set to %s, listening on %s", self.options.webhook_url, self.options.webhook_listen)

    async def stop(self) -> None:
        """Close the server; waits for the requests in flight."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _on_health(self, request: web.Request) -> web.Response:
        """For the load balancer and the container's health check: 503 once stopping, so no update is sent here."""
        stopping = self.intake.stopping
        return web.Response(status=503 if stopping else 200, text="stopping" if stopping else "ok")

    async def _on_update(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            return web.Response(status=401, text="wrong secret token")
        if self.intake.stopping:
            return web.Response(status=503, text="shutting down")
        try:
            payload = await request.json()
            update = Update.model_validate(payload, context={"bot": self.bot})
        except (ValueError, ValidationError):
            # Not an update we can ever read: answering 200 stops Telegram from re-sending it for ever.
            log.warning("unreadable webhook update ignored")
            return web.Response(text="ignored")
        try:
            recorded = await self.intake.record([update], [payload])
            if update.update_id in recorded.handled:
                return web.Response(text="duplicate")
            work = self.intake.submit(update, payload, retry_here=False)
            error = await asyncio.shield(work.done)
        except Exception:  # the database: 500 makes Telegram deliver the update again
            log.exception("webhook update %s not recorded", payload.get("update_id"))
            return web.Response(status=500, text="not handled")
        if error is not None:
            return web.Response(status=500, text="not handled")
        return web.Response(text="ok")
