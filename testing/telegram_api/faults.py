"""Faults a test injects: error replies (429, 5xx, 403, dropped connections), latency and rate limits."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .limits import RateLimit, RateWindows

_NGINX_PAGE = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass(frozen=True)
class Fault:
    """An error reply the fake serves instead of handling a request."""

    status: int
    description: str = ""
    retry_after: int | None = None
    body: str | None = None  # a raw non-JSON body (e.g. nginx's HTML page)
    drop_connection: bool = False

    @classmethod
    def too_many_requests(cls, retry_after: int = 3) -> Fault:
        return cls(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        """500 is Telegram's JSON error; 502/503/504 are nginx HTML pages, as the real front end serves."""
        if status == 500:
            return cls(500, "Internal Server Error")
        reasons = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}
        reason = reasons.get(status, "Error")
        return cls(status, reason, body=_NGINX_PAGE.format(code=status, reason=reason))

    @classmethod
    def blocked(cls) -> Fault:
        return cls(403, "Forbidden: bot was blocked by the user")

    @classmethod
    def bad_request(cls, description: str) -> Fault:
        return cls(400, f"Bad Request: {description}")

    @classmethod
    def disconnect(cls) -> Fault:
        """Close the connection without answering (the client sees a network error)."""
        return cls(0, "connection dropped", drop_connection=True)


@dataclass
class _Scheduled:
    method: str
    fault: Fault
    remaining: int
    chat_id: int | None


class Faults:
    """What goes wrong, and when. Method names are Telegram's (any case); ``"*"`` matches every method."""

    def __init__(self, seed: int = 0) -> None:
        self.latency: float = 0.0
        self.latency_by_method: dict[str, float] = {}
        self.blocked_chats: set[int] = set()
        self.rate_limit: RateLimit | None = None
        self._scheduled: list[_Scheduled] = []
        self._random: list[tuple[str, float, Fault]] = []
        self._rng = random.Random(seed)

    def fail_next(self, method: str, fault: Fault, times: int = 1, chat_id: int | None = None) -> None:
        """Serve ``fault`` for the next ``times`` calls of ``method`` (optionally only for ``chat_id``)."""
        self._scheduled.append(_Scheduled(method.lower(), fault, times, chat_id))

    def fail_randomly(self, method: str, probability: float, fault: Fault) -> None:
        """Serve ``fault`` for each call of ``method`` with ``probability`` (seeded, reproducible)."""
        self._random.append((method.lower(), probability, fault))

    def clear(self) -> None:
        self.latency = 0.0
        self.latency_by_method.clear()
        self.blocked_chats.clear()
        self.rate_limit = None
        self._scheduled.clear()
        self._random.clear()

    @property
    def active(self) -> bool:
        return bool(
            self.latency
            or self.latency_by_method
            or self.blocked_chats
            or self.rate_limit
            or self._scheduled
            or self._random
        )

    def _pick(self, method: str, chat_id: int | None) -> Fault | None:
        for item in self._scheduled:
            if item.remaining > 0 and item.method in (method, "*") and item.chat_id in (None, chat_id):
                item.remaining -= 1
                if item.remaining == 0:
                    self._scheduled.remove(item)
                return item.fault
        for name, probability, fault in self._random:
            if name in (method, "*") and self._rng.random() < probability:
                return fault
        return None

    def for_request(self, method: str, chat_id: int | None, windows: RateWindows, now: float) -> Fault | None:
        """The fault a call of ``method`` (lower case) for ``chat_id`` gets now, if any."""
        fault = self._pick(method, chat_id)
        if fault is None and chat_id is not None and chat_id in self.blocked_chats:
            fault = Fault.blocked()
        limit = self.rate_limit
        if fault is None and limit is not None and method in limit.methods and chat_id is not None:
            retry_after = windows.retry_after(limit, chat_id, now)
            if retry_after:
                fault = Fault.too_many_requests(retry_after)
        return fault

    def latency_for(self, method: str) -> float:
        return self.latency_by_method.get(method, self.latency_by_method.get(method.lower(), self.latency))
