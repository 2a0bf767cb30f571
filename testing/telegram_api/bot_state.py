"""Each bot's state on the fake Telegram: queued updates and getUpdates, webhook queues, messages."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

from .protocol import ApiError, Params

# Telegram leaves these out unless allowed_updates names them explicitly.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


class BotState:
    """One bot's side of Telegram: its update queue, webhook queues, chats' messages, callback queries
    and command menus."""

    def __init__(self, token: str, username: str, first_name: str) -> None:
        self.token = token
        self.id = int(token.split(":", 1)[0])
        self.username = username
        self.first_name = first_name
        self.changed = asyncio.Event()
        # Monotonic across reset(): a running poller's offset and ticket must stay meaningful.
        self.next_update_id = 100_000_001
        self.poll_seq = 0
        self.webhook_generation = 0
        self.clear()

    def clear(self) -> None:
        self.updates: deque[dict[str, Any]] = deque()
        self.allowed_updates: list[str] | None = None
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_max_connections = 40
        self.last_error_date: int | None = None
        self.last_error_message: str | None = None
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.next_message_id: defaultdict[int, int] = defaultdict(lambda: 1)
        self.callback_queries: dict[str, float] = {}
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.restart_webhook_queues()
        self.notify()

    def notify(self) -> None:
        """Wake everyone waiting for a change of the update queue (pollers, webhook loop, drains)."""
        event, self.changed = self.changed, asyncio.Event()
        event.set()

    def queue_for_webhook(self, update: dict[str, Any]) -> None:
        key = _chat_key(update)
        queue = self.webhook_queues.get(key)
        if queue is None:
            self.webhook_queues[key] = deque([update])
            self.webhook_ready.append(key)
        else:
            queue.append(update)  # its chat is ready or in flight already

    def restart_webhook_queues(self) -> None:
        """Start webhook delivery afresh from the update queue (deliveries of older generations are ignored)."""
        self.webhook_generation += 1
        # Webhook delivery: one queue per chat, and the chats whose next update may be posted now.
        self.webhook_queues: dict[Any, deque[dict[str, Any]]] = {}
        self.webhook_ready: deque[Any] = deque()
        self.inflight = 0
        if self.webhook_url:
            for update in self.updates:
                self.queue_for_webhook(update)

    def take_message_id(self, chat_id: int) -> int:
        message_id = self.next_message_id[chat_id]
        self.next_message_id[chat_id] = message_id + 1
        return message_id

    def bot_user(self) -> dict[str, Any]:
        return {"id": self.id, "is_bot": True, "first_name": self.first_name, "username": self.username}

    def enqueue(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue ``update`` (numbered when it has no ``update_id``) unless allowed_updates leaves it out."""
        if "update_id" in update:
            self.next_update_id = max(self.next_update_id, int(update["update_id"]) + 1)
        else:
            update = {"update_id": self.next_update_id, **update}
            self.next_update_id += 1
        kinds = update.keys() - {"update_id"}
        # Like Telegram, allowed_updates decides which updates are queued from now on.
        wanted = (
            bool(kinds & set(self.allowed_updates)) if self.allowed_updates else not kinds & _OPT_IN_UPDATES
        )
        if wanted:
            self.updates.append(update)
            if self.webhook_url:
                self.queue_for_webhook(update)
            self.notify()
        return update

    async def get_updates(self, params: Params, closing: Callable[[], bool]) -> list[dict[str, Any]]:
        """getUpdates: confirm updates before ``offset``, then long-poll for the next ones."""
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
                "the webhook first",
            )
        offset = params.integer("offset") or 0
        limit = min(max(params.integer("limit") or 100, 1), 100)
        timeout = max(params.integer("timeout") or 0, 0)
        allowed = params.json("allowed_updates", "allowed updates")
        if isinstance(allowed, list):
            self.allowed_updates = allowed
        self.poll_seq += 1
        ticket = self.poll_seq
        if offset > 0:
            while self.updates and self.updates[0]["update_id"] < offset:
                self.updates.popleft()
        elif offset < 0:
            while len(self.updates) > -offset:
                self.updates.popleft()
        self.notify()  # ends an older long poll (409) and wakes drains
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if ticket != self.poll_seq:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
                    "is running",
                )
            if self.updates or closing():
                return list(itertools.islice(self.updates, limit))
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)


def _chat_key(update: dict[str, Any]) -> Any:
    for kind in ("message", "edited_message", "callback_query"):
        body = update.get(kind)
        if isinstance(body, dict):
            chat = body.get("chat") or (body.get("message") or {}).get("chat") or body.get("from") or {}
            if "id" in chat:
                return chat["id"]
    return ("update", update.get("update_id"))
