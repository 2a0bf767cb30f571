"""What the Telegram channel is told (``TelegramOptions``, from the settings) and the Bot API facts it relies on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot.config import Settings

CHANNEL = "telegram"  # ``Identity.channel`` of Telegram users (a private chat's id is its user's)
ALLOWED_UPDATES = ["message", "callback_query"]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HEALTH_PATH = "/healthz"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TelegramOptions:
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_listen: str = "127.0.0.1:8081"
    default_locale: str = "zh-Hans"
    admins: frozenset[tuple[str, str]] = frozenset()
    concurrency: int = 32  # updates handled at once (each of a different user)
    backlog: int = 1000  # polling pauses while this many updates wait
    poll_timeout: int = 25
    handle_attempts: int = 3  # a polled update that keeps failing is given up after this many tries

    @classmethod
    def from_settings(cls, settings: Settings) -> TelegramOptions:
        return cls(
            webhook_url=settings.telegram_webhook_url, webhook_secret=settings.telegram_webhook_secret,
            webhook_listen=settings.telegram_webhook_listen,
            default_locale=settings.default_locale, admins=settings.admin_identities,
        )
