"""What suggesting a need and reporting a problem share: contact details, the daily limit and
double sends, and "did you mean" suggestions for names typed with mistakes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from rapidfuzz import fuzz, process

from dialogs.context import Context
from dialogs.fields import Problem, Values
from nlu.normalize import fold, normalize
from store.submissions import Verdict, register_submission, submission_digest, submissions_on

MOBILE = re.compile(r"^(?:\+?86)?(1[3-9]\d{9})$")
LANDLINE = re.compile(r"^(0\d{2,3})-?(\d{7,8})$")
WECHAT_ID = re.compile(r"^[a-z][-_a-z0-9]{5,19}$", re.IGNORECASE)
CONTACT_LABEL = re.compile(r"^(?:微信号?|wechat(?:\s*id)?|wx|电话|手机号?|phone|tel|mobile)\s*[:：]?\s*", re.IGNORECASE)
CONTACT_MAX = 60
SUGGEST_CUTOFF = 50.0  # below this a name is not offered as "did you mean"
ACCEPT_SCORE = 85.0  # a typed name this close to exactly one known name is taken as that name
ACCEPT_MARGIN = 10.0


# --- contact details ---------------------------------------------------------------------

def normalize_contact(text: str) -> str | None:
    """``tel:13800138000``, ``tel:0755-12345678`` or ``wechat:ID`` from what a person typed; None if
    it is neither a mainland phone number nor a WeChat ID."""
    typed = normalize(text)
    for candidate in dict.fromkeys((typed, CONTACT_LABEL.sub("", typed).strip())):
        compact = re.sub(r"[\s()\-]", "", candidate)
        if match := MOBILE.match(compact):
            return f"tel:{match.group(1)}"
        if match := LANDLINE.match(re.sub(r"[\s()]", "", candidate)):
            return f"tel:{match.group(1)}-{match.group(2)}"
        if WECHAT_ID.match(candidate):
            return f"wechat:{candidate}"
    return None


async def check_contact(ctx: Context, value: str, values: Values) -> Problem | None:
    return None if normalize_contact(value) else Problem.of("voice.error.contact")


def show_contact(ctx: Context, stored: str | None) -> str:
    if not stored:
        return ctx.t("voice.no_contact")
    kind, _, value = stored.partition(":")
    return ctx.t("voice.contact_wechat" if kind == "wechat" else "voice.contact_phone", value=value)


# --- the daily limit and double sends ----------------------------------------------------

async def may_start(ctx: Context) -> bool:
    """False (and a polite word) when the person has used up today's submissions."""
    used = await submissions_on(ctx.session, ctx.identity.id, ctx.today)
    if used >= ctx.settings.submissions_per_day:
        ctx.tell("voice.limit_reached", limit=ctx.settings.submissions_per_day)
        return False
    return True


async def admit(ctx: Context, kind: str, content: dict[str, Any]) -> bool:
    """Count this submission; False (and why) when it repeats the last one or exceeds the limit."""
    digest = submission_digest(ctx.identity.id, kind, content)
    verdict = await register_submission(
        ctx.session, ctx.identity.id, ctx.today, digest, ctx.now, ctx.settings.submissions_per_day
    )
    if verdict is Verdict.DUPLICATE:
        ctx.tell("voice.duplicate")
    elif verdict is Verdict.LIMIT:
        ctx.tell("voice.limit_reached", limit=ctx.settings.submissions_per_day)
    return verdict is Verdict.ACCEPTED


# --- names typed with mistakes -----------------------------------------------------------

def suggest_names(text: str, names: Sequence[str], limit: int = 3) -> list[tuple[str, float]]:
    """Known names closest to ``text`` (Traditional, full-width and case folded away), best first."""
    query = fold(text)
    if not query or not names:
        return []
    found = process.extract(query, {name: fold(name) for name in names}, scorer=fuzz.WRatio, limit=limit,
                            score_cutoff=SUGGEST_CUTOFF)
    return [(key, score) for _, score, key in found]


def suggest_known(ctx: Context, kind: str, text: str, names: Sequence[str], limit: int = 3) -> list[tuple[str, float]]:
    """Like ``suggest_names``, through the NLU's name index when the engine has one (its names may
    lag behind the database by a little: only those in ``names`` count)."""
    if ctx.understand is not None:
        known = set(names)
        found = [(value, float(score)) for value, _, score in ctx.understand.suggest(kind, text, limit) if value in known]
        if found:
            return found
    return suggest_names(text, names, limit)


def confident(found: Sequence[tuple[Any, float]]) -> Any | None:
    """The one suggestion good enough to take without asking, if there is one."""
    if not found or found[0][1] < ACCEPT_SCORE:
        return None
    if len(found) > 1 and found[1][1] > found[0][1] - ACCEPT_MARGIN:
        return None
    return found[0][0]
