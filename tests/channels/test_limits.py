"""Telegram's flood limits shared by several processes through Redis (``bot.limits``)."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot

from bot.channels.telegram.sending import QUEUED, RateLimiter, ReliableRequests, make_session, send_policy
from bot.config import Settings
from bot.limits import RedisRateLimiter, send_limiter, shared_limiter
from testing.telegram_api import DEFAULT_TOKEN, FakeTelegram, RateLimit

REDIS_URL = os.environ.get("CIVICBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own on the test Redis (skipped when none answers); its keys dropped after."""
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    prefix = f"civicbot-test:{secrets.token_hex(6)}:"
    try:
        yield prefix
    finally:
        keys = [key async for key in client.scan_iter(f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def shared(prefix: str, **options: object) -> RedisRateLimiter:
    return shared_limiter(REDIS_URL, prefix, **options)


def test_without_a_redis_url_each_process_paces_itself() -> None:
    assert type(send_limiter(Settings(), 123)) is RateLimiter
    assert type(send_limiter(Settings(redis_url=REDIS_URL), 123)) is RedisRateLimiter


async def test_two_limiters_on_one_redis_space_the_sends_to_one_chat(redis_prefix: str) -> None:
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    first, second = (shared(redis_prefix, chat_burst=1, sleep=record) for _ in range(2))
    try:
        await first.acquire(42)
        await second.acquire(42)  # another process, the same chat: a second later
        await second.acquire(43)  # another chat: at once
    finally:
        await first.close()
        await second.close()
    assert len(delays) == 1 and 0.9 < delays[0] <= 1.0


async def test_two_senders_sharing_the_limit_draw_no_429_and_use_97_percent_of_the_bots_rate(
        redis_prefix: str) -> None:
    """Two processes' bots (one token) send to distinct chats as fast as they may, against a Bot API enforcing
    30 messages/s: no 429 (each pacing itself alone drew 429s), and at least 97 % of the cap used."""
    per_sender, overall = 120, 30
    async with FakeTelegram() as tg:
        tg.faults.rate_limit = RateLimit(overall=overall, per_chat=1)
        limiters = [shared(redis_prefix), shared(redis_prefix)]
        bots = [Bot(DEFAULT_TOKEN, session=make_session(tg.base_url, ReliableRequests(limiter)))
                for limiter in limiters]

        async def send_all(bot: Bot, first_chat: int) -> None:
            async def one(chat_id: int) -> None:
                with send_policy(QUEUED):
                    await bot.send_message(chat_id, "hello")

            await asyncio.gather(*(one(first_chat + n) for n in range(per_sender)))

        try:
            await asyncio.gather(send_all(bots[0], 700_000), send_all(bots[1], 800_000))
        finally:
            for bot, limiter in zip(bots, limiters, strict=True):
                await bot.session.close()
                await limiter.close()
        sent = sorted(tg.stats.sent_at)
        assert tg.stats.served_429 == 0
    assert len(sent) == 2 * per_sender
    # The cap is 30 arrivals in any second: the n-th message may arrive a second after the (n-30)-th, no
    # sooner. The share used is that second over the mean time between them, in the steady state (after the
    # first two windows, whose start also pays for opening connections), leaving out the slowest tenth: a
    # moment without the CPU (several processes on two cores) makes the few sends due then late, which is the
    # machine's loss, not the pacing's. One round trip is the least lost per window: about 0.99 of the cap is
    # used on busy cores; following the answer to the send 30 places before (one slow answer holding up the
    # sends after it), with every waiting send polling Redis, 0.80.
    spans = sorted(sent[n] - sent[n - overall] for n in range(2 * overall, len(sent)))
    kept = spans[: len(spans) * 9 // 10]
    used = 1.0 / (sum(kept) / len(kept))
    assert used >= 0.97, (used, spans[-5:])


async def test_a_send_given_up_while_it_waits_is_not_counted_as_out(redis_prefix: str) -> None:
    """A send cancelled between its permit and its start must not hold a place among the sends out (that would
    stop the bot's every send until it counted as stuck)."""
    limiter = shared(redis_prefix, overall=1, window=0.3)
    try:
        limiter.release(await limiter.acquire(1))
        waiting = asyncio.ensure_future(limiter.acquire(2))  # 0.3 s after the first answer
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await asyncio.wait_for(limiter.acquire(3), 2.0)
    finally:
        await limiter.close()
