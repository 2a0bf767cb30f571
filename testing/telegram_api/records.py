"""What the fake recorded: the messages, edits and answers the bot sent, webhook posts, and counters."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from .protocol import DEFAULT_TOKEN


@dataclass
class SentMessage:
    """One message the bot sent (sendMessage, sendPhoto, sendDocument), as Telegram accepted it."""

    chat_id: int
    text: str | None  # text, or caption for media, exactly as the bot sent it (markup included)
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    method: str
    message_id: int
    media: bytes | None = None
    filename: str | None = None
    at: float = 0.0  # the fake's clock
    plain_text: str | None = None  # text after entity parsing: what the user reads
    token: str = DEFAULT_TOKEN
    params: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """All inline keyboard buttons, row by row, flattened."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]

    def button(self, text: str) -> dict[str, Any]:
        """The first inline button whose label contains ``text``."""
        for button in self.buttons:
            if text in button.get("text", ""):
                return button
        raise KeyError(f"no button containing {text!r}; buttons: {[b.get('text') for b in self.buttons]}")


@dataclass
class EditRecord:
    """One successful editMessageText / editMessageReplyMarkup."""

    chat_id: int
    message_id: int
    method: str
    text: str | None
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    at: float
    plain_text: str | None = None
    token: str = DEFAULT_TOKEN


@dataclass
class AnsweredCallback:
    """One accepted answerCallbackQuery."""

    query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    at: float
    token: str = DEFAULT_TOKEN


@dataclass
class ChatAction:
    """One sendChatAction."""

    chat_id: int
    action: str
    at: float


@dataclass
class WebhookAttempt:
    """One POST of an update to the webhook; ``status`` is None when the connection failed."""

    update_id: int
    url: str
    status: int | None
    error: str | None
    secret_token: str | None
    at: float


@dataclass(frozen=True)
class RetryAfterRecord:
    """One 429 served; ``attempt_index`` points into ``Stats.attempts[chat_id]``."""

    method: str
    chat_id: int | None
    retry_after: int
    at: float
    attempt_index: int | None


@dataclass(frozen=True)
class EarlyRetry:
    """A send to a chat that came before the retry_after of an earlier 429 had elapsed."""

    chat_id: int
    rejected_at: float
    retry_after: int
    retried_at: float


@dataclass
class Stats:
    """Counters for assertions and benchmarks (times are the fake's clock)."""

    requests: Counter[str] = field(default_factory=Counter)  # per method, as Telegram names it
    statuses: Counter[int] = field(default_factory=Counter)  # HTTP status codes served by faults/errors/ok
    retry_afters: list[RetryAfterRecord] = field(default_factory=list)
    attempts: defaultdict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    sent_at: list[float] = field(default_factory=list)

    @property
    def served_429(self) -> int:
        return len(self.retry_afters)

    def early_retries(self) -> list[EarlyRetry]:
        """Sends to a chat made before a 429's retry_after elapsed (should be empty for a polite client)."""
        early = []
        for record in self.retry_afters:
            if record.chat_id is None or record.attempt_index is None:
                continue
            times = self.attempts[record.chat_id]
            following = record.attempt_index + 1
            if following < len(times) and times[following] < record.at + record.retry_after:
                early.append(EarlyRetry(record.chat_id, record.at, record.retry_after, times[following]))
        return early
