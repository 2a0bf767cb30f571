"""Updates of one user in the order they came, different users in parallel: the channel's per-user queues.

This is the one in-process ordering of the project (see ``bot.channels.contract``): a user's next update
is taken only once the previous one's replies are sent, so replies leave in order too. It is an
optimisation, not the guarantee: across processes the conversation row lock orders a user's turns.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiogram.types import Update


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


def queue_key(update: Update) -> str:
    """The queue of ``update``: its sender's, or one of its own for an update without a sender."""
    return user_key(update) or f"update:{update.update_id}"
