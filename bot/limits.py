"""Telegram's flood limits for the whole bot: in this process alone, or shared by every process through Redis.

Telegram counts the bot's messages (30/s overall, about 1/s per chat), not a process's. One process paces
itself (``RateLimiter``, no round trip); several processes draw their permits from Redis
(``RedisRateLimiter``, chosen by ``CIVICBOT_REDIS_URL``), for replies and the outbox alike.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable
from typing import Any, Protocol

from bot.channels.telegram.sending import Permit, RateLimiter, Sleep
from bot.config import Settings


class SendLimiter(Protocol):
    """What ``ReliableRequests`` asks before each send and tells after it."""

    sleep: Sleep

    async def acquire(self, chat_id: int) -> Permit:
        """Wait until one more message may go to ``chat_id``."""

    def release(self, permit: Permit) -> None:
        """The request of ``permit`` is over (answered or failed)."""

    def block(self, chat_id: int, seconds: float) -> None:
        """Nothing may go to ``chat_id`` for ``seconds`` (Telegram's retry_after)."""

    async def wait_unblocked(self, chat_id: int) -> None:
        """Wait out a block of ``chat_id``."""

    async def close(self) -> None:
        """Let go of what the limiter holds."""


# The scripts use Redis's clock, so every process agrees on time; times are seconds as floats.
# Step 1, the chat: its GCRA theoretical arrival time and any 429 block give the earliest start.
_CHAT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local blocked = tonumber(redis.call('GET', KEYS[2]) or '0')
local start = math.max(now, blocked, tat - tolerance)
redis.call('SET', KEYS[1], tostring(math.max(tat, start) + interval), 'EX', 3600)
return tostring(start - now)
"""

# Step 2, the bot. Telegram counts a message when it arrives, somewhere between our sending it and our getting
# its answer. So a send may start once fewer than ``overall`` of the sends granted before it can still arrive
# within ``window`` of it: a send still out might, an answered one only if its answer came less than ``window``
# before the start. Hence: wait while ``overall`` sends are out (-1: the caller asks again shortly), else start
# ``window`` after the ``overall - out``-th latest answer. Then no ``overall + 1`` arrivals fit in one window
# (of any ``overall + 1``, the one granted last would have had ``overall`` such sends before it), and, unlike
# following the answer to the send granted ``overall`` places before, one slow answer holds up no other send.
# KEYS: the sends out (permit -> start), the answers (permit -> time, the latest ``overall`` kept), the chat's
# arrival time. ARGV: overall, window, the chat's interval, stuck seconds, the permit. A send out longer than
# ``stuck`` seconds (its process died) counts as answered now.
_BOT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local overall, window, interval, stuck = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - stuck)) do
  redis.call('ZREM', KEYS[1], gone)
  redis.call('ZADD', KEYS[2], now, gone)
end
local out = redis.call('ZCARD', KEYS[1])
if out >= overall then return '-1' end
local start = now
local nth = redis.call('ZREVRANGE', KEYS[2], overall - out - 1, overall - out - 1, 'WITHSCORES')
if nth[2] then start = math.max(start, tonumber(nth[2]) + window) end
redis.call('ZADD', KEYS[1], start, ARGV[5])
redis.call('EXPIRE', KEYS[1], 3600)
local tat = tonumber(redis.call('GET', KEYS[3]) or '0')
redis.call('SET', KEYS[3], tostring(math.max(tat, start + interval)), 'EX', 3600)
return tostring(start - now)
"""

# The answer's time is the send's start plus the time this process saw pass from it to the answer (measured
# here, so neither this write's own trip nor a busy loop before it makes the answer look later than it was).
_ANSWERED_SCRIPT = """
local start = redis.call('ZSCORE', KEYS[1], ARGV[1])
if start then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZADD', KEYS[2], tonumber(start) + tonumber(ARGV[2]), ARGV[1])
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[3]) - 1)
  redis.call('EXPIRE', KEYS[2], 3600)
end
"""

POLL_SECONDS = 0.01  # how soon to ask again while the sends out are at the cap
STUCK_SECONDS = 30.0
REDIS_CONNECTIONS = 16  # per process


class RedisRateLimiter:
    """The limits of ``RateLimiter`` held in Redis under ``prefix`` (one per bot), so that any number of
    processes together keep them. Three round trips to Redis per send (the last one not waited for)."""

    def __init__(
        self,
        redis: Any,
        prefix: str,
        *,
        overall: int = 30,
        per_chat: float = 1.0,
        chat_burst: int = 3,
        window: float = 1.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.overall = overall
        self.interval = 1.0 / per_chat
        self.tolerance = (chat_burst - 1) * self.interval
        self.window = window
        self.sleep = sleep
        self._chat_step = redis.register_script(_CHAT_SCRIPT)
        self._bot_step = redis.register_script(_BOT_SCRIPT)
        self._answered = redis.register_script(_ANSWERED_SCRIPT)
        self._keys_of: dict[Permit, tuple[str, float]] = {}  # permits out: their name in Redis, their start here
        self._bot_keys = [f"{prefix}out", f"{prefix}answers"]
        self._blocks: dict[int, float] = {}  # this process's copy, for ``wait_unblocked`` without a round trip
        self._writes: set[asyncio.Task[Any]] = set()
        # This process's permits for the whole bot are asked for one at a time, in order: one caller polls
        # while the bot's sends out are at the cap (not every waiting send), so the loop and Redis stay free
        self._turn = asyncio.Lock()

    def _keys(self, chat_id: int) -> tuple[str, str]:
        return f"{self.prefix}chat:{chat_id}", f"{self.prefix}block:{chat_id}"

    async def acquire(self, chat_id: int) -> Permit:
        chat_key, block_key = self._keys(chat_id)
        delay = float(await self._chat_step(keys=[chat_key, block_key], args=[self.interval, self.tolerance]))
        if delay > 0:
            await self.sleep(delay)
        token = secrets.token_hex(8)
        keys = [*self._bot_keys, chat_key]
        async with self._turn:
            while True:
                asked = time.monotonic()
                step = asyncio.ensure_future(self._bot_step(
                    keys=keys, args=[self.overall, self.window, self.interval, STUCK_SECONDS, token]))
                try:
                    delay = float(await asyncio.shield(step))
                except asyncio.CancelledError:  # a grant made for a caller gone must not count as out
                    step.add_done_callback(lambda done: self._let_go(done, token))
                    raise
                if delay >= 0:
                    break
                await self.sleep(POLL_SECONDS)
        # Redis's clock read ``delay`` at some moment after ``asked``: so the start is no earlier than
        # ``asked + delay`` here, and an answer's time counted from there is never earlier than it was
        permit = Permit()
        self._keys_of[permit] = (token, asked + delay)
        if delay > 0:
            try:
                await self.sleep(delay)
            except BaseException:  # cancelled before sending: the permit is over, or it would count as out
                self.release(permit)
                raise
        return permit

    def release(self, permit: Permit) -> None:
        if permit.done_at is None:
            permit.done_at = time.monotonic()
            permit.finished.set()
        out = self._keys_of.pop(permit, None)
        if out is not None:
            token, started = out
            elapsed = repr(time.monotonic() - started)
            self._in_background(self._answered(keys=self._bot_keys, args=[token, elapsed, self.overall]))

    def _let_go(self, step: asyncio.Future[Any], token: str) -> None:
        if not step.cancelled() and step.exception() is None and float(step.result()) >= 0:
            self._in_background(self._answered(keys=self._bot_keys, args=[token, "0", self.overall]))

    def block(self, chat_id: int, seconds: float) -> None:
        self._blocks[chat_id] = max(self._blocks.get(chat_id, 0.0), time.monotonic() + seconds)
        self._in_background(self._block_everywhere(chat_id, seconds))

    def _in_background(self, write: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(write)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _block_everywhere(self, chat_id: int, seconds: float) -> None:
        seconds_now, micros = await self.redis.time()
        until = seconds_now + micros / 1e6 + seconds
        await self.redis.set(self._keys(chat_id)[1], repr(until), ex=int(seconds) + 60)

    async def wait_unblocked(self, chat_id: int) -> None:
        while (delay := self._blocks.get(chat_id, 0.0) - time.monotonic()) > 0:
            await self.sleep(delay)

    async def close(self) -> None:
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        await self.redis.aclose()


def send_limiter(settings: Settings, bot_id: int) -> SendLimiter:
    """The limiter of the bot ``bot_id``: shared through ``CIVICBOT_REDIS_URL`` when it is set, else this
    process's own (no round trip: one process stays as fast as it was)."""
    overall = settings.telegram_messages_per_second
    if not settings.redis_url:
        return RateLimiter(overall=overall)
    return shared_limiter(settings.redis_url, f"civicbot:telegram:{bot_id}:", overall=overall)


def shared_limiter(redis_url: str, prefix: str, **options: Any) -> RedisRateLimiter:
    """A ``RedisRateLimiter`` on its own few connections to ``redis_url``: a send waits for one rather than
    failing when many chats are sent to at once."""
    from redis.asyncio import BlockingConnectionPool, Redis

    pool: BlockingConnectionPool[Any] = BlockingConnectionPool.from_url(redis_url, max_connections=REDIS_CONNECTIONS, timeout=None)
    return RedisRateLimiter(Redis(connection_pool=pool), prefix, **options)
