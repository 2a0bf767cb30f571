"""What every part of the surveys shares: item kinds and the standard items, invitation tokens, the error."""

from __future__ import annotations

import hashlib
import secrets
from zoneinfo import ZoneInfo

TOKEN_PREFIX = "s"  # /start payloads of survey invitations; binding codes use "b"
TOKEN_BYTES = 16  # 128 random bits, 22 URL-safe characters
MAX_TOKEN_LENGTH = 64  # Telegram's /start payload limit
MAX_INVITATIONS = 1000  # per call, so a typo cannot flood the table
DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")

SCALE5, SCALE10, SINGLE, MULTI, TEXT, NUMBER = "scale5", "scale10", "single", "multi", "text", "number"
KINDS = (SCALE5, SCALE10, SINGLE, MULTI, TEXT, NUMBER)
OVERALL, RECOMMEND = "overall", "recommend"
# Item codes of the standard template and their kinds, fixed by the import format (survey_responses.csv).
STANDARD_ITEMS: dict[str, str] = {
    "needs_met": SCALE5, "attitude": SCALE5, "skill": SCALE5, "convenience": SCALE5,
    "helpfulness": SCALE5, "responsiveness": SCALE5, OVERALL: SCALE5, RECOMMEND: SCALE10,
    "suggestion": TEXT, "age_group": SINGLE, "sessions": NUMBER, "what_went_wrong": TEXT,
}
TOP_TWO = (4, 5)  # 满意 and 非常满意
PROMOTER_MIN, DETRACTOR_MAX = 9, 6
Z_95 = 1.96
LIST_SEPARATOR = ";"  # a multiple-choice answer is stored as its codes joined, as in the import format

Answer = int | str | list[str]


class SurveyError(Exception):
    """A survey action that cannot be done as asked (the message says why)."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
