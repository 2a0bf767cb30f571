"""Messages per session and per address: token buckets; over the limit a message waits (the page sends
it again after the time given) instead of the socket being dropped."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Bucket:
    tokens: float
    at: float


@dataclass
class RateLimit:
    """At most ``burst`` messages at once, refilled at ``per_minute`` a minute, per key."""

    per_minute: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, Bucket] = field(default_factory=dict)

    def take(self, key: str) -> float:
        """0 when the message may go now; otherwise the seconds to wait before trying again."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(float(self.burst), now)
            if len(self._buckets) > 100_000:
                self._forget_full(now)
        rate = self.per_minute / 60.0
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / rate

    def _forget_full(self, now: float) -> None:
        rate = self.per_minute / 60.0
        for key in [k for k, b in self._buckets.items() if b.tokens + (now - b.at) * rate >= self.burst]:
            del self._buckets[key]


@dataclass(frozen=True)
class Limits:
    text_chars: int = 4000  # on the socket; flows have their own, shorter limits per field
    frame_bytes: int = 64 * 1024
    upload_bytes: int = 10 * 1024 * 1024
    image_pixels: int = 40_000_000
    per_session_minute: float = 60
    session_burst: int = 20
    per_address_minute: float = 600
    address_burst: int = 100
