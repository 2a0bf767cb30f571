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

from bot.channels.telegram_session import Permit, RateLimiter, Sleep
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

# Step 2, the bot: as in ``RateLimiter``, a send may start ``window`` after the *answer* to the send granted
# ``overall`` places before it (so no jitter on the way can put ``overall + 1`` arrivals in one window).
# KEYS: the grant order (a list of permit keys, the last ``overall``), the floor, the chat's arrival time,
# this permit's key. A permit's key holds "p" while its request is out, then the time of its answer.
# Returns -1 while the permit to follow is still out (the caller asks again shortly); a permit out longer
# than ``stuck`` seconds (its process died) counts as answered.
_BOT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local overall, window, interval, stuck = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local start = math.max(now, tonumber(redis.call('GET', KEYS[2]) or '0'))
if redis.call('LLEN', KEYS[1]) >= overall then
  local oldest = redis.call('LINDEX', KEYS[1], -overall)
  local state = redis.call('GET', oldest)
  if state and string.sub(state, 1, 1) == 'p' then
    if now - tonumber(string.sub(state, 2)) < stuck then return '-1' end
    state = tostring(now)
  end
  if state then start = math.max(start, tonumber(state) + window) end
  redis.call('SET', KEYS[2], tostring(start), 'EX', 3600)
end
redis.call('RPUSH', KEYS[1], KEYS[4])
redis.call('LTRIM', KEYS[1], -overall, -1)
redis.call('EXPIRE', KEYS[1], 3600)
redis.call('SET', KEYS[4], 'p' .. tostring(start), 'EX', 3600)
local tat = tonumber(redis.call('GET', KEYS[3]) or '0')
redis.call('SET', KEYS[3], tostring(math.max(tat, start + interval)), 'EX', 3600)
return tostring(start - now)
"""

_ANSWERED_SCRIPT = """
local t = redis.call('TIME')
redis.call('SET', KEYS[1], tostring(tonumber(t[1]) + tonumber(t[2]) / 1e6), 'EX', 3600)
"""

POLL_SECONDS = 0.01  # how soon to ask again while the permit to follow is out
STUCK_SECONDS = 30.0


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
        self._keys_of: dict[Permit, str] = {}  # permits out, by their key in Redis
        self._blocks: dict[int, float] = {}  # this process's copy, for ``wait_unblocked`` without a round trip
        self._writes: set[asyncio.Task[Any]] = set()

    def _keys(self, chat_id: int) -> tuple[str, str]:
        return f"{self.prefix}chat:{chat_id}", f"{self.prefix}block:{chat_id}"

    async def acquire(self, chat_id: int) -> Permit:
        chat_key, block_key = self._keys(chat_id)
        delay = float(await self._chat_step(keys=[chat_key, block_key], args=[self.interval, self.tolerance]))
        if delay > 0:
            await self.sleep(delay)
        permit_key = f"{self.prefix}permit:{secrets.token_hex(8)}"
        keys = [f"{self.prefix}grants", f"{self.prefix}floor", chat_key, permit_key]
        while (delay := float(await self._bot_step(
                keys=keys, args=[self.overall, self.window, self.interval, STUCK_SECONDS]))) < 0:
            await self.sleep(POLL_SECONDS)
        if delay > 0:
            await self.sleep(delay)
        permit = Permit()
        self._keys_of[permit] = permit_key
        return permit

    def release(self, permit: Permit) -> None:
        if permit.done_at is None:
            permit.done_at = time.monotonic()
            permit.finished.set()
        key = self._keys_of.pop(permit, None)
        if key is not None:
            self._in_background(self._answered(keys=[key]))

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
    if not settings.redis_url:
        return RateLimiter()
    from redis.asyncio import Redis

    return RedisRateLimiter(Redis.from_url(settings.redis_url), f"civicbot:telegram:{bot_id}:")
