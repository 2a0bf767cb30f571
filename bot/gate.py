"""The gate in front of the database: at most ``slots`` transactions at once (one on SQLite, where each
takes the write lock), with quick turns let in before slow ones.

Why it exists (a fast path): a plain semaphore lets turns in first come, first served, so under load a
menu turn (a fraction of a millisecond) waits behind every free-text question queued before it (each an
NLU parse and a public answer, ten times the work) — measured with bench/web.py, 200 sessions on SQLite:
menu p99 314 ms, almost all of it queued. Quick waiters go first; a slow one is still let in after
``quick_in_a_row`` quick ones in a row, so a stream of quick turns cannot starve the questions.
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType

QUICK_IN_A_ROW = 32


class Gate:
    def __init__(self, slots: int, *, slow_slots: int | None = None, quick_in_a_row: int = QUICK_IN_A_ROW) -> None:
        self._free = slots
        # slow ones in at once: where transactions interleave (PostgreSQL), a quick turn shares the loop with
        # them, each of its round trips waiting for a slice of every one
        self._slow_free = min(slots, slow_slots or slots)
        self._quick_in_a_row = quick_in_a_row
        self._queues: dict[bool, deque[asyncio.Future[None]]] = {True: deque(), False: deque()}
        self._in_a_row = 0  # quick waiters let in since the last slow one while slow ones waited
        self._letting_in = False

    def waiting(self, quick: bool) -> int:
        return len(self._queues[quick])

    async def acquire(self, quick: bool = True) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._queues[quick]
        queue.append(waiter)
        if self._free > 0 and not self._letting_in:
            # let in on the loop's next round, not now: the turns ready in this round queue up first and
            # go in by kind (a turn on SQLite never suspends: let in at once, it would run to its end)
            self._letting_in = True
            asyncio.get_running_loop().call_soon(self._let_in)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(quick)  # let in just as it was cancelled: the slot goes to the next
            elif waiter in queue:  # (not if it was passed over already)
                queue.remove(waiter)
            raise

    def release(self, quick: bool = True) -> None:
        self._free += 1
        self._slow_free += 0 if quick else 1
        self._let_in()

    def _let_in(self) -> None:
        self._letting_in = False
        while self._free > 0:
            waiter = self._next()
            if waiter is None:
                return
            waiter.set_result(None)

    def _next(self) -> asyncio.Future[None] | None:
        """The next waiter let in (its slot taken), or None."""
        quick, slow = self._queues[True], self._queues[False]
        while quick or (slow and self._slow_free > 0):
            slow_turn = self._slow_free > 0 and bool(slow) and (not quick or self._in_a_row >= self._quick_in_a_row)
            if slow_turn:
                waiter, self._in_a_row = slow.popleft(), 0
            else:
                waiter = quick.popleft()
                self._in_a_row += 1 if slow else 0
            if not waiter.done():  # a cancelled waiter is skipped
                self._free -= 1
                self._slow_free -= 1 if slow_turn else 0
                return waiter
        return None

    def __call__(self, *, quick: bool) -> _Entry:
        """``async with gate(quick=False)``: a slow transaction; ``async with gate`` is a quick one."""
        return _Entry(self, quick)

    async def __aenter__(self) -> None:
        await self.acquire(True)

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        self.release()


class _Entry:
    def __init__(self, gate: Gate, quick: bool) -> None:
        self.gate = gate
        self.quick = quick

    async def __aenter__(self) -> None:
        await self.gate.acquire(self.quick)

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        self.gate.release(self.quick)
