"""Telegram's flood limits: the rate a test sets, and the windows of accepted sends that judge a send."""

from __future__ import annotations

import math
from collections import defaultdict, deque
from dataclasses import dataclass

# Lower-case method names (Telegram matches method names case-insensitively).
SEND_METHODS = frozenset({"sendmessage", "sendphoto", "senddocument"})


@dataclass
class RateLimit:
    """Telegram's flood limits as a sliding window over accepted sends.

    ``chat_burst`` above 1 allows a chat the short bursts Telegram tolerates ("We may allow short bursts
    that go over this limit", Bots FAQ): then a chat takes ``per_chat`` messages per ``window`` on average
    and up to ``chat_burst`` at once (a GCRA bucket over the moments sends arrive) instead of a strict
    sliding window."""

    per_chat: int = 1
    overall: int = 30
    window: float = 1.0
    chat_burst: int = 1
    group_per_minute: int | None = 20  # chats with a negative id
    methods: frozenset[str] = SEND_METHODS  # lower-case method names


class RateWindows:
    """The moments of accepted sends, overall and per chat, that a ``RateLimit`` is measured against."""

    def __init__(self) -> None:
        self._all: deque[float] = deque()
        self._chat: defaultdict[int, deque[float]] = defaultdict(deque)
        self._group: defaultdict[int, deque[float]] = defaultdict(deque)
        self._chat_tat: dict[int, float] = {}  # with a chat burst: each chat's theoretical arrival time

    def clear(self) -> None:
        self._all.clear()
        self._chat.clear()
        self._group.clear()
        self._chat_tat.clear()

    def retry_after(self, limit: RateLimit, chat_id: int, now: float) -> int:
        """Seconds until a send to ``chat_id`` fits all sliding windows (0: it fits now)."""
        wait = 0.0
        windows = [(self._all, limit.overall, limit.window)]
        if limit.chat_burst > 1:
            interval = limit.window / limit.per_chat
            earliest = self._chat_tat.get(chat_id, now) - (limit.chat_burst - 1) * interval
            wait = max(0.0, earliest - now)
        else:
            windows.append((self._chat[chat_id], limit.per_chat, limit.window))
        if chat_id < 0 and limit.group_per_minute:
            windows.append((self._group[chat_id], limit.group_per_minute, 60.0))
        for times, allowed, window in windows:
            while times and times[0] <= now - window:
                times.popleft()
            if len(times) >= allowed:
                wait = max(wait, times[len(times) - allowed] + window - now)
        return max(1, math.ceil(wait)) if wait > 0 else 0

    def commit(self, limit: RateLimit, chat_id: int, now: float) -> None:
        """Count an accepted send to ``chat_id``."""
        self._all.append(now)
        if limit.chat_burst > 1:
            tat = self._chat_tat.get(chat_id, now)
            self._chat_tat[chat_id] = max(tat, now) + limit.window / limit.per_chat
        else:
            self._chat[chat_id].append(now)
        if chat_id < 0:
            self._group[chat_id].append(now)
