"""The web chat's HTTP server (aiohttp): the page and its routes, the WebSocket, uploads, reply files,
security headers and checks. ``WebChannel`` is what ``civicbot run`` and ``civicbot demo --web`` start."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from aiohttp import web
from PIL import Image, UnidentifiedImageError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import App
from bot.channels.contract import database_slots
from bot.channels.web import sessions as cookies
from bot.channels.web.limits import Limits
from bot.channels.web.render import Files
from bot.channels.web.socket import Hub, Page, upload_key
from bot.config import Settings
from bot.dispatching import Wakeup, wakeup_for
from bot.gate import Gate
from dialogs import i18n
from dialogs.engine import Engine
from store.db import capabilities, transaction
from store.media import MediaMissing, MediaUnavailable
from store.web_sessions import forget, has_conversation, identity_locale, visitor

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
ASSETS = ("app.js", "app.css")
CSP = ("default-src 'self'; img-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
PAGE_STRINGS = (
    "title", "placeholder", "send", "photo", "text_size", "reconnecting", "offline_queued", "typing", "forget",
    "forget_confirm", "forgotten", "menu", "not_sent", "uploading", "messages", "cookies_needed",
)


PG_SLOTS = 16
PG_SLOW_SLOTS = 2  # measured with bench/web.py: 32 slow at once, menu p50 557 ms; 2, 74 ms (on a loaded machine)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class WebOptions:
    url: str | None = None  # the public base URL; None: whatever host the browser used (local demo)
    default_locale: str = "zh-Hans"
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    limits: Limits = field(default_factory=Limits)
    # seconds between looks for notices when no wake-up came; None: 1 s on SQLite (another process on
    # the file, e.g. a command, is heard no other way), 30 s on PostgreSQL (every commit is heard by NOTIFY)
    notice_interval: float | None = None

    @property
    def secure(self) -> bool:
        return bool(self.url and self.url.startswith("https://"))


def _assets() -> dict[str, tuple[str, bytes]]:
    """Static files by content-hashed name (cached for a year: a change makes a new name)."""
    named = {}
    for name in ASSETS:
        content = (STATIC / name).read_bytes()
        stem, _, suffix = name.rpartition(".")
        named[name] = (f"{stem}.{hashlib.sha256(content).hexdigest()[:12]}.{suffix}", content)
    return named


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response, errors and the WebSocket upgrade included."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


class WebChannel:
    def __init__(
        self,
        engine: Engine,
        sessions: async_sessionmaker[AsyncSession],
        options: WebOptions | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.options = options or WebOptions()
        self.clock = clock
        # SQLite: one transaction at a time (each takes the write lock). PostgreSQL: a few slow turns at once,
        # so that a quick one's round trips do not each wait behind slices of many (bot/gate.py)
        self.gate = Gate(database_slots(sessions, PG_SLOTS), slow_slots=PG_SLOW_SLOTS)
        self.files = Files(engine.media)
        self.hub = Hub(engine, sessions, self.files, zone=self.options.zone,
                       gate=self.gate, limits=self.options.limits, clock=clock)
        self.assets = _assets()
        self._static = {hashed: (name, content) for name, (hashed, content) in self.assets.items()}
        self._template = (STATIC / "index.html").read_text("utf-8")
        self._runner: web.AppRunner | None = None
        self._pump: asyncio.Task[None] | None = None
        self._wakeup: Wakeup | None = None
        self.url: str | None = None

    # -- the application ------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.options.limits.upload_bytes)
        app.router.add_get("/", self.page)
        app.router.add_get("/s/{token}", self.page)
        app.router.add_get("/b/{code}", self.page)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/ws", self.socket)
        app.router.add_post("/upload", self.upload)
        app.router.add_post("/forget", self.forget)
        app.router.add_get("/f/{key}/{name}", self.file)
        app.router.add_get("/static/{name}", self.static)
        app.on_response_prepare.append(security_headers)
        app.on_startup.append(self._start_pump)
        app.on_shutdown.append(self._close_pages)
        app.on_cleanup.append(self._stop_pump)
        return app

    async def _start_pump(self, app: web.Application) -> None:
        """Notices are pushed when any process queues one (``wakeup_for``: NOTIFY on PostgreSQL, this
        process's commits on SQLite), and at the latest every ``notice_interval`` seconds."""
        engine = self.sessions.kw["bind"]
        interval = self.options.notice_interval
        if interval is None:
            interval = 30.0 if capabilities(self.sessions).notifications else 1.0
        self._wakeup = await wakeup_for(engine)
        self._pump = asyncio.create_task(self.hub.pump(self._wakeup, interval), name="web-notices")

    async def _close_pages(self, app: web.Application) -> None:
        """Pages are told the server is going away (they reconnect, to this one restarted or another)."""
        await self.hub.close_all()

    async def _stop_pump(self, app: web.Application) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        if self._wakeup is not None:
            self._wakeup.close()
            self._wakeup = None

    async def start(self, listen: str) -> str:
        """Serve on ``listen`` (host:port, port 0 for any free one); returns the address served."""
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, shutdown_timeout=5.0)
        await self._runner.setup()
        host, _, port = listen.rpartition(":")
        site = web.TCPSite(self._runner, host or "127.0.0.1", int(port))
        await site.start()
        bound = self._runner.addresses[0]
        self.url = f"http://{bound[0]}:{bound[1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.files.close()

    # -- checks ---------------------------------------------------------------------------------------

    def _origin_ok(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if not origin:
            return False
        if self.options.url:
            parts = urlsplit(self.options.url)
            return origin == f"{parts.scheme}://{parts.netloc}"
        return origin == f"{request.scheme}://{request.host}"

    def _locale(self, request: web.Request) -> str:
        return cookies.accept_language(request.headers.get("Accept-Language"), self.options.default_locale)

    # -- routes ---------------------------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.Response:
        now = self.clock()
        async with self.gate, transaction(self.sessions) as session:
            seen = await visitor(session, request.cookies.get(cookies.COOKIE), now)
            chosen = None if seen.new_key else await identity_locale(session, seen.identity_id)
        locale = chosen or self._locale(request)
        response = web.Response(text=self._render_page(locale), content_type="text/html", charset="utf-8")
        response.headers["Cache-Control"] = "no-store"
        cookies.set_cookie(response, seen.new_key or request.cookies[cookies.COOKIE], self.options.secure)
        return response

    def _render_page(self, locale: str) -> str:
        strings = {key: i18n.t(locale, f"web.page.{key}") for key in PAGE_STRINGS}
        values = {
            "lang": locale, "title": strings["title"], "placeholder": strings["placeholder"],
            "send": strings["send"], "photo": strings["photo"], "text_size": strings["text_size"],
            "menu": strings["menu"], "forget": strings["forget"], "messages": strings["messages"],
            "strings": json.dumps(strings, ensure_ascii=False),
            "css": f"/static/{self.assets['app.css'][0]}", "js": f"/static/{self.assets['app.js'][0]}",
        }
        page = self._template
        for key, value in values.items():
            page = page.replace("{{" + key + "}}", html.escape(value, quote=True))
        return page

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "pages": sum(len(p) for p in self.hub.pages.values())})

    async def static(self, request: web.Request) -> web.Response:
        found = self._static.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        name, content = found
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        response = web.Response(body=content, content_type=kind, charset="utf-8")
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response

    async def socket(self, request: web.Request) -> web.StreamResponse:
        if not self._origin_ok(request):
            log.info("WebSocket refused: Origin %r", request.headers.get("Origin"))
            raise web.HTTPForbidden(text="cross-site WebSocket refused")
        now = self.clock()
        key = request.cookies.get(cookies.COOKIE)
        seen, chosen, fresh_identity = None, None, False
        if key:
            async with self.gate, transaction(self.sessions) as session:
                seen = await visitor(session, key, now)
                if seen.new_key is not None:
                    seen = None
                    await session.rollback()  # no cookie of ours: the page is reloaded to get one
                else:
                    chosen = await identity_locale(session, seen.identity_id)
                    fresh_identity = not await has_conversation(session, seen.identity_id)
        socket = web.WebSocketResponse(heartbeat=30.0, max_msg_size=self.options.limits.frame_bytes)
        await socket.prepare(request)
        if seen is None:
            await socket.send_json({"type": "session"})
            await socket.close(code=4401, message=b"no session")
            return socket
        locale = chosen or self._locale(request)
        page = Page(socket, seen.identity_id, seen.external_id, locale, request.remote or "?")
        await self.hub.serve(page, fresh_identity)
        return socket

    async def _session_of(self, request: web.Request) -> tuple[int, str] | None:
        key = request.cookies.get(cookies.COOKIE)
        if not key:
            return None
        async with self.gate, transaction(self.sessions) as session:
            seen = await visitor(session, key, self.clock())
            if seen.new_key is not None:
                await session.rollback()
                return None
        return seen.identity_id, self._locale(request)

    async def upload(self, request: web.Request) -> web.Response:
        """A photo from the camera or files: images only, decoded and re-encoded (no script, no EXIF)."""
        if not self._origin_ok(request):
            raise web.HTTPForbidden(text="cross-site upload refused")
        who = await self._session_of(request)
        if who is None:
            raise web.HTTPUnauthorized(text="no session")
        identity_id, locale = who
        limit = self.options.limits.upload_bytes
        if request.content_length is not None and request.content_length > limit:
            return _refused(413, i18n.t(locale, "web.upload_too_big", mb=limit // (1024 * 1024)))
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _refused(413, i18n.t(locale, "web.upload_too_big", mb=limit // (1024 * 1024)))
        try:
            content = await asyncio.to_thread(_reencode, body, self.options.limits.image_pixels)
        except ValueError:
            return _refused(415, i18n.t(locale, "web.upload_not_image"))
        try:
            ref = await self.engine.media.put(upload_key(identity_id), content, mime="image/jpeg")
        except MediaUnavailable as exc:
            log.error("photo of identity %s not stored: %s", identity_id, exc)
            return _refused(503, i18n.t(locale, "common.media_unavailable"))
        return web.json_response({"ref": ref})

    async def forget(self, request: web.Request) -> web.Response:
        if not self._origin_ok(request):
            raise web.HTTPForbidden(text="cross-site request refused")
        who = await self._session_of(request)
        if who is not None:
            async with self.gate, transaction(self.sessions) as session:
                await forget(session, who[0])
            await self.hub.close_pages(who[0])
        response = web.json_response({"ok": True})
        cookies.clear_cookie(response, self.options.secure)
        return response

    async def file(self, request: web.Request) -> web.StreamResponse:
        """A reply's file, from the media store (any web process may have rendered the reply)."""
        who = await self._session_of(request)
        found = self.files.open(request.match_info["key"], who[0]) if who else None
        if found is None:
            raise web.HTTPNotFound()
        mime, chunks = found
        try:
            first = await anext(chunks, b"")
        except MediaMissing:
            raise web.HTTPNotFound() from None
        except MediaUnavailable as exc:
            log.error("reply file not served: %s", exc)
            raise web.HTTPServiceUnavailable(text="the file cannot be read just now") from None
        response = web.StreamResponse(headers={"Content-Type": mime})
        inline = mime in ("image/png", "image/jpeg")
        disposition = "inline" if inline else "attachment"
        response.headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{request.match_info['name']}"
        response.headers["Cache-Control"] = "private, max-age=3600"
        await response.prepare(request)
        try:
            await response.write(first)
            async for chunk in chunks:
                await response.write(chunk)
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]  # an async generator, typed as its iterator
        await response.write_eof()
        return response


def _refused(status: int, text: str) -> web.Response:
    return web.json_response({"error": text}, status=status)


def _reencode(body: bytes, max_pixels: int) -> bytes:
    if not body:
        raise ValueError("empty")
    try:
        with Image.open(io.BytesIO(body)) as probe:
            if probe.format not in ("JPEG", "PNG", "GIF", "WEBP", "BMP", "MPO"):
                raise ValueError(f"not a photo format: {probe.format}")
            if probe.width * probe.height > max_pixels:
                raise ValueError("too many pixels")
            probe.verify()
        with Image.open(io.BytesIO(body)) as image:
            image.load()
            picture = image.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(str(exc)) from None
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=85)
    return out.getvalue()


def options_from(settings: Settings) -> WebOptions:
    limits = Limits(per_session_minute=settings.web_session_per_minute,
                    per_address_minute=settings.web_address_per_minute,
                    address_burst=max(Limits.address_burst, settings.web_address_per_minute // 6))
    return WebOptions(url=settings.web_url, default_locale=settings.default_locale,
                      zone=settings.zone, limits=limits)


async def start_channel(app: App, settings: Settings, listen: str, bot_username: str | None = None) -> WebChannel:
    """The web chat of ``civicbot run`` / ``civicbot demo --web``, serving on ``listen``."""
    channel = WebChannel(app.engine(bot_username), app.sessions, options_from(settings))
    await channel.start(listen)
    return channel
