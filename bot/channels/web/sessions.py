"""Who a request is: the session cookie (opaque key, HttpOnly, SameSite=Lax, Secure on https, rolling
180 days) and the language of a first visit (``Accept-Language``)."""

from __future__ import annotations

from aiohttp import web

from dialogs import i18n
from store.web_sessions import SESSION_DAYS

COOKIE = "civicbot_session"


def accept_language(header: str | None, default: str) -> str:
    """The first of our languages the browser asks for, by quality (``zh-TW`` → zh-Hant)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        locale = i18n.normalize_locale(tag.strip())
        if locale is not None and quality > 0:
            ranked.append((-quality, position, locale))
    return min(ranked)[2] if ranked else default


def set_cookie(response: web.StreamResponse, key: str, secure: bool) -> None:
    response.set_cookie(COOKIE, key, max_age=SESSION_DAYS * 86400, path="/", httponly=True, samesite="Lax",
                        secure=secure)


def clear_cookie(response: web.StreamResponse, secure: bool) -> None:
    response.del_cookie(COOKIE, path="/", secure=secure, httponly=True, samesite="Lax")
