"""Telegram's flood limits shared by several processes through Redis (``bot.limits``)."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot

from bot.channels.telegram_session import QUEUED, RateLimiter, ReliableRequests, make_session, send_policy
from bot.config import Settings
from bot.limits import RedisRateLimiter, send_limiter
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram, RateLimit

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
    from redis.asyncio import Redis

    return RedisRateLimiter(Redis.from_url(REDIS_URL), prefix, **options)  # type: ignore[arg-type]


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


async def test_two_senders_sharing_the_limit_draw_no_429_and_use_the_bots_whole_rate(redis_prefix: str) -> None:
    """Two processes' bots (one token) send to distinct chats as fast as they may, against a Bot API enforcing
    30 messages/s: no 429, and most of the cap used (each pacing itself alone drew 429s)."""
    per_sender, overall = 60, 30
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
    total = 2 * per_sender
    assert len(sent) == total
    # the fastest a 30/s sliding window allows: 30 at once, then 30 more each second. Pacing by answers
    # loses one round trip per window: 0.92-0.95 of it on a quiet machine, about 0.82 while the whole
    # suite runs on two shared cores (the fake, both bots and Redis's clients share this event loop).
    fastest = (total - 1) // overall * 1.0
    assert fastest / (sent[-1] - sent[0]) >= 0.75, sent[-1] - sent[0]
