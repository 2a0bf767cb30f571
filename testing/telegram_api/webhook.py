"""Webhook delivery: setWebhook and its kin, and the posting of updates to the bot, retried until a 2xx."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import TYPE_CHECKING, Any

from aiohttp import ClientError, ClientSession, ClientTimeout

from .bot_state import BotState
from .protocol import Params, bad_request
from .records import WebhookAttempt

if TYPE_CHECKING:
    from .server import FakeTelegram

_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class Webhooks:
    """The webhook methods, and the tasks that post each bot's queued updates to its webhook."""

    def __init__(self, tg: FakeTelegram) -> None:
        self.tg = tg  # its clock, webhook timeout and retry delay are read at each delivery
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._http: ClientSession | None = None

    def start(self) -> None:
        self._http = ClientSession()

    def cancel(self) -> None:
        """Cancel every delivery in flight (without waiting)."""
        for task in list(self._tasks):
            task.cancel()

    async def close(self) -> None:
        """Stop delivering for good and close the HTTP client."""
        self._closing = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    def set_webhook(self, state: BotState, params: Params) -> tuple[bool, str]:
        url = params.text("url") or ""
        if not url:
            return self.delete_webhook(state, params)
        if not url.startswith(("http://", "https://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.text("secret_token")
        if secret is not None and not _SECRET_RE.match(secret):
            raise bad_request("secret token contains unallowed characters")
        max_connections = params.integer("max_connections") or 40
        if not 1 <= max_connections <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100")
        allowed = params.json("allowed_updates", "allowed updates")
        if isinstance(allowed, list):
            state.allowed_updates = allowed
        if params.flag("drop_pending_updates"):
            state.updates.clear()
        state.webhook_url = url
        state.webhook_secret = secret
        state.webhook_max_connections = max_connections
        state.restart_webhook_queues()
        state.notify()
        task = asyncio.create_task(self._webhook_loop(state, state.webhook_generation))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True, "Webhook was set"

    def delete_webhook(self, state: BotState, params: Params) -> tuple[bool, str]:
        if params.flag("drop_pending_updates"):
            state.updates.clear()
        was_set = state.webhook_url is not None
        state.webhook_url = None
        state.webhook_secret = None
        state.restart_webhook_queues()
        state.notify()
        return True, "Webhook was deleted" if was_set else "Webhook is already deleted"

    def get_webhook_info(self, state: BotState, params: Params) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": state.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(state.updates),
        }
        if state.webhook_url:
            info["max_connections"] = state.webhook_max_connections
            if state.allowed_updates:
                info["allowed_updates"] = state.allowed_updates
        if state.last_error_date is not None:
            info["last_error_date"] = state.last_error_date
            info["last_error_message"] = state.last_error_message
        return info

    async def _webhook_loop(self, state: BotState, generation: int) -> None:
        # One delivery in flight per chat keeps each user's updates in order, like Telegram.
        while state.webhook_generation == generation and not self._closing:
            changed = state.changed
            while state.webhook_ready and state.inflight < state.webhook_max_connections:
                key = state.webhook_ready.popleft()
                state.inflight += 1
                task = asyncio.create_task(
                    self._deliver(state, generation, key, state.webhook_queues[key][0])
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            await changed.wait()

    async def _deliver(self, state: BotState, generation: int, key: Any, update: dict[str, Any]) -> None:
        url, secret = state.webhook_url, state.webhook_secret
        delivered = False
        try:
            if url is None or self._http is None:
                return
            error = await self._post_update(self._http, url, secret, update)
            delivered = error is None
            if not delivered:
                state.last_error_date = int(time.time())
                state.last_error_message = error
                await asyncio.sleep(self.tg.webhook_retry_delay)
        finally:
            if delivered and update in state.updates:
                state.updates.remove(update)
            if state.webhook_generation == generation:
                state.inflight -= 1
                queue = state.webhook_queues[key]
                if delivered:
                    queue.popleft()
                if queue:
                    state.webhook_ready.append(key)
                else:
                    del state.webhook_queues[key]
            state.notify()

    async def _post_update(
        self, http: ClientSession, url: str, secret: str | None, update: dict[str, Any]
    ) -> str | None:
        """POST one update to the webhook; the error Telegram would report, or None on a 2xx."""
        headers = {"Content-Type": "application/json"}
        if secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        status: int | None = None
        error: str | None = None
        try:
            async with http.post(
                url,
                data=json.dumps(update).encode(),
                headers=headers,
                timeout=ClientTimeout(total=self.tg.webhook_timeout),
            ) as response:
                await response.read()
                status = response.status
                if not 200 <= status < 300:
                    error = f"Wrong response from the webhook: {status} {response.reason}"
        except (ClientError, TimeoutError, OSError) as exc:
            error = f"Connection failed: {type(exc).__name__}: {exc}"
        self.tg.webhook_attempts.append(
            WebhookAttempt(update["update_id"], url, status, error, secret, self.tg.clock())
        )
        return error
