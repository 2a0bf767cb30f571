"""What keeps short turns short under load: the database gate (bot/gate.py: quick transactions before slow
ones, slow ones never starved, a waiter cancelled in the queue takes no slot) and the heap frozen once the
NLU model is loaded (bot/app.py settle_heap)."""

from __future__ import annotations

import asyncio
import gc
from types import SimpleNamespace

import pytest

from bot.app import settle_heap
from bot.gate import Gate


async def _order(gate: Gate, waiters: list[tuple[str, bool]]) -> list[str]:
    """The order in which ``waiters`` (name, quick), queued in that order behind a held slot, get in."""
    entered: list[str] = []

    async def one(name: str, quick: bool) -> None:
        async with gate(quick=quick):
            entered.append(name)
            await asyncio.sleep(0)

    await gate.acquire()
    tasks = []
    for name, quick in waiters:
        tasks.append(asyncio.create_task(one(name, quick)))
        await asyncio.sleep(0)  # queued in this order
    gate.release()
    await asyncio.gather(*tasks)
    return entered


async def test_quick_turns_pass_slow_ones_queued_before_them() -> None:
    order = await _order(Gate(1), [("slow1", False), ("slow2", False), ("quick1", True), ("quick2", True)])
    assert order == ["quick1", "quick2", "slow1", "slow2"]


async def test_a_slow_turn_gets_in_after_a_run_of_quick_ones() -> None:
    waiters = [("slow", False), *((f"q{n}", True) for n in range(5))]
    assert await _order(Gate(1, quick_in_a_row=2), waiters) == ["q0", "q1", "slow", "q2", "q3", "q4"]


async def test_the_gate_counts_slots() -> None:
    gate = Gate(2)
    await gate.acquire(quick=False)
    await gate.acquire()
    third = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    assert not third.done() and gate.waiting(True) == 1
    gate.release()
    await third
    gate.release()
    gate.release()
    await asyncio.wait_for(gate.acquire(), 1)


async def test_turns_arriving_together_at_a_free_gate_go_in_by_kind() -> None:
    """A turn that never suspends (SQLite's) let in at once would run to its end before a quick turn
    read in the same round of the loop even reached the gate."""
    gate, entered = Gate(1), []

    async def one(name: str, quick: bool) -> None:
        async with gate(quick=quick):
            entered.append(name)  # no suspension inside, as a turn on SQLite

    await asyncio.gather(one("slow", False), one("quick", True))
    assert entered == ["quick", "slow"]


async def test_slow_ones_hold_at_most_their_slots_and_quick_ones_pass_them() -> None:
    gate = Gate(3, slow_slots=1)
    await gate.acquire(quick=False)
    second_slow = asyncio.create_task(gate.acquire(quick=False))
    quick = asyncio.create_task(gate.acquire())
    await asyncio.wait_for(quick, 1)  # a slot was free for it
    await asyncio.sleep(0)
    assert not second_slow.done()  # one is free too, but not for a slow one
    gate.release(quick=False)
    await asyncio.wait_for(second_slow, 1)


@pytest.mark.parametrize("let_in_first", [False, True])
async def test_a_cancelled_waiter_takes_no_slot(let_in_first: bool) -> None:
    gate = Gate(1)
    await gate.acquire()
    cancelled = asyncio.create_task(gate.acquire(quick=False))
    after = asyncio.create_task(gate.acquire(quick=False))
    await asyncio.sleep(0)
    if let_in_first:  # let in by the release, cancelled before it ran: the slot passes on
        gate.release()
        cancelled.cancel()
    else:  # cancelled while queued: passed over
        cancelled.cancel()
        await asyncio.sleep(0)
        gate.release()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    await asyncio.wait_for(after, 1)
    assert not gate.waiting(False)
    blocked = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    assert not blocked.done()  # `after` holds the only slot
    blocked.cancel()


async def test_the_heap_is_frozen_once_the_model_is_loaded() -> None:
    frozen_when_ready: list[int] = []

    class Understanding:
        async def ready(self) -> None:
            frozen_when_ready.append(gc.get_freeze_count())

    before = gc.get_freeze_count()
    try:
        await settle_heap(SimpleNamespace(understanding=Understanding()))  # type: ignore[arg-type]
        assert frozen_when_ready == [before]  # not before the model is there
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()


async def test_the_heap_is_frozen_even_if_the_model_fails_to_load() -> None:
    class Understanding:
        async def ready(self) -> None:
            raise OSError("no model")

    try:
        await settle_heap(SimpleNamespace(understanding=Understanding()))  # type: ignore[arg-type]
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
