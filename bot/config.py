"""Settings from ``CIVICBOT_*`` environment variables or a ``.env`` file, read once at start-up."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dialogs.i18n import LOCALES

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _parse_hhmm(value: str, name: str) -> time:
    match = _HHMM.match(value.strip())
    if not match:
        raise ValueError(f"{name} must be a local time HH:MM, got {value!r}")
    return time(int(match.group(1)), int(match.group(2)))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CIVICBOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = "sqlite+aiosqlite:///./civicbot.db"
    telegram_token: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_webhook_listen: str = "127.0.0.1:8081"
    telegram_username: str | None = None
    timezone: str = "Asia/Shanghai"
    default_locale: str = "zh-Hans"
    hant_region: str = "tw"
    project_code_prefix: str | None = None
    admins: str = ""
    media_dir: Path = Path("./media")
    # an S3-compatible bucket (MinIO…) instead of the folder, when a bucket is named
    media_s3_bucket: str | None = None
    media_s3_url: str | None = None  # the endpoint, e.g. http://minio:9000; unset: AWS S3 itself
    media_s3_region: str = "us-east-1"
    media_s3_access_key: str | None = None
    media_s3_secret_key: str | None = None
    redis_url: str | None = None
    telegram_messages_per_second: int = Field(default=30, ge=1)
    heartbeat_file: Path | None = None
    send_hour: str = "09:00"
    quiet_hours: str = "21:00-08:00"
    reminder_days: str = "14,7,3,1,0"
    overdue_every_days: int = Field(default=3, ge=1)
    overdue_max: int = Field(default=5, ge=0)
    invite_ttl_days: int = Field(default=7, ge=1)
    disclosure_min_responses: int = Field(default=5, ge=1)
    admin_share_max: float = Field(default=0.15, ge=0, le=1)
    submissions_per_day: int = Field(default=5, ge=1)
    holidays_file: Path | None = None
    review_answer_hours: int = Field(default=48, ge=1)
    review_weight: float = Field(default=0.8, ge=0, le=1)
    notice_days: int = Field(default=5, ge=1, le=30)
    handled_retention_days: int = Field(default=30, ge=1)
    review_rubrics: Path | None = None
    survey_templates: Path | None = None
    nlu_cache: Path | None = None
    web_listen: str | None = None
    web_url: str | None = None
    web_session_per_minute: int = Field(default=60, ge=1)
    web_address_per_minute: int = Field(default=600, ge=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)") from exc
        return value

    @field_validator("default_locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        if value not in LOCALES:
            raise ValueError(f"unknown locale {value!r}; use one of {', '.join(LOCALES)}")
        return value

    @field_validator("hant_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in ("tw", "hk"):
            raise ValueError(f"CIVICBOT_HANT_REGION must be tw or hk, got {value!r}")
        return value

    @field_validator("project_code_prefix")
    @classmethod
    def _code_prefix(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not re.fullmatch(r"[A-Z][A-Z0-9]{0,9}", value):
            raise ValueError(f"CIVICBOT_PROJECT_CODE_PREFIX must be 1-10 capital letters or digits (e.g. LJ), got {value!r}")
        return value

    @field_validator("send_hour")
    @classmethod
    def _send_hour(cls, value: str) -> str:
        _parse_hhmm(value, "CIVICBOT_SEND_HOUR")
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        if value.strip() == "":
            return ""
        parts = value.split("-")
        if len(parts) != 2:
            raise ValueError(f"CIVICBOT_QUIET_HOURS must look like 21:00-08:00, got {value!r}")
        for part in parts:
            _parse_hhmm(part, "CIVICBOT_QUIET_HOURS")
        return value

    @field_validator("reminder_days")
    @classmethod
    def _reminder_days(cls, value: str) -> str:
        try:
            days = [int(v) for v in value.split(",") if v.strip()]
        except ValueError as exc:
            raise ValueError(f"CIVICBOT_REMINDER_DAYS must be whole days like 14,7,3,1,0, got {value!r}") from exc
        if any(d < 0 for d in days):
            raise ValueError("CIVICBOT_REMINDER_DAYS cannot be negative")
        return value

    @field_validator("web_url")
    @classmethod
    def _web_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+(/\S*)?$", value):
            raise ValueError(f"CIVICBOT_WEB_URL must be an http(s) base URL like https://bot.example.gov.cn, got {value!r}")
        return value

    @field_validator("media_s3_bucket", "media_s3_url", "media_s3_access_key", "media_s3_secret_key")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("media_s3_url")
    @classmethod
    def _s3_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+/?$", value):
            raise ValueError(f"CIVICBOT_MEDIA_S3_URL must be an endpoint like http://minio:9000, got {value!r}")
        return value

    @model_validator(mode="after")
    def _s3_complete(self) -> Settings:
        if self.media_s3_bucket is None and (self.media_s3_url or self.media_s3_access_key):
            raise ValueError("CIVICBOT_MEDIA_S3_URL or _ACCESS_KEY is set but CIVICBOT_MEDIA_S3_BUCKET is not: "
                             "name the bucket (or unset them to keep media in CIVICBOT_MEDIA_DIR)")
        if (self.media_s3_access_key is None) != (self.media_s3_secret_key is None):
            raise ValueError("set both CIVICBOT_MEDIA_S3_ACCESS_KEY and CIVICBOT_MEDIA_S3_SECRET_KEY, or neither")
        return self

    @field_validator("web_listen")
    @classmethod
    def _web_listen(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        port = value.strip().rpartition(":")[2]
        if not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError(f"CIVICBOT_WEB_LISTEN must look like 0.0.0.0:8080, got {value!r}")
        return value.strip()

    @field_validator("admins")
    @classmethod
    def _admins(cls, value: str) -> str:
        for entry in filter(None, (v.strip() for v in value.split(","))):
            if ":" not in entry:
                raise ValueError(f"CIVICBOT_ADMINS entries look like telegram:12345, got {entry!r}")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def send_time(self) -> time:
        return _parse_hhmm(self.send_hour, "CIVICBOT_SEND_HOUR")

    @property
    def quiet_window(self) -> tuple[time, time] | None:
        if not self.quiet_hours:
            return None
        start, end = self.quiet_hours.split("-")
        return _parse_hhmm(start, "quiet"), _parse_hhmm(end, "quiet")

    @property
    def reminder_offsets(self) -> tuple[int, ...]:
        return tuple(sorted({int(v) for v in self.reminder_days.split(",") if v.strip()}, reverse=True))

    @property
    def admin_identities(self) -> frozenset[tuple[str, str]]:
        pairs = []
        for entry in filter(None, (v.strip() for v in self.admins.split(","))):
            channel, _, external_id = entry.partition(":")
            pairs.append((channel.strip(), external_id.strip()))
        return frozenset(pairs)


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]  # pydantic validates each value at run time
