"""The conversation over WebSockets: a page's messages become turns of the engine, replies go back to
every open page of the identity (or wait in memory for its next connection), and outbox notices to web
identities are pushed to their open pages."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import WSCloseCode, WSMsgType, web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.web.limits import Limits, RateLimit
from bot.channels.web.render import Files, render
from dialogs import i18n
from dialogs.engine import Engine
from dialogs.notices import render_notice
from dialogs.reminders import complete_notices
from dialogs.types import Incoming, Media, Reply
from store import outbox
from store.db import transaction
from store.media import MediaUnavailable, new_key
from store.web_sessions import CHANNEL, claim_waiting, identity_locale, waiting_recipients

log = logging.getLogger(__name__)

CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
START_PAYLOAD = re.compile(r"[sb][A-Za-z0-9_-]{1,63}")
UNCONFIRMED_MAX = 50  # frames kept for an identity whose pages have not confirmed them (the newest win)
UNCONFIRMED_IDENTITIES = 10_000
BUTTON_DATA_MAX = 512
NOTICE_LEASE = timedelta(minutes=5)
STALE = "stale: the milestone was done or re-dated before this could be sent"


def utcnow() -> datetime:
    return datetime.now(UTC)


def upload_key(identity_id: int) -> str:
    """A fresh media key for a photo ``identity_id`` uploads (always re-encoded as JPEG)."""
    return new_key(f"web-{identity_id}", ".jpg")


def upload_of(ref: str, identity_id: int) -> bool:
    """Whether ``ref`` is a key ``upload_key`` made for ``identity_id``."""
    return re.fullmatch(rf"web-{identity_id}-[0-9a-f]{{32}}\.jpg", ref) is not None


def _may_change_language(incoming: Incoming) -> bool:
    return incoming.command == "lang" or (incoming.button or "").startswith("g:lang")


@dataclass(eq=False)
class Page:
    """One open page: its socket and who and where it is."""

    socket: web.WebSocketResponse
    identity_id: int
    external_id: str
    locale: str
    address: str


class Hub:
    def __init__(
        self,
        engine: Engine,
        sessions: async_sessionmaker[AsyncSession],
        files: Files,
        *,
        zone: ZoneInfo,
        gate: asyncio.Semaphore,
        limits: Limits | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.files = files
        self.zone = zone
        self.gate = gate
        self.limits = limits or Limits()
        self.per_session = RateLimit(self.limits.per_session_minute, self.limits.session_burst)
        self.per_address = RateLimit(self.limits.per_address_minute, self.limits.address_burst)
        self.clock = clock
        self.pages: dict[int, set[Page]] = {}
        # replies and notices not yet confirmed by a page: sent again when a page of the identity connects
        self.unconfirmed: dict[int, list[dict[str, Any]]] = {}
        self._wake = asyncio.Event()
        # who holds the outbox rows this process claims (a lease: rows of a process gone are recovered)
        self.claimer = f"web:{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    # -- pages ----------------------------------------------------------------------------------------

    async def serve(self, page: Page, fresh_identity: bool) -> None:
        """Read the page's messages until it goes; a turn in progress completes even if it goes."""
        self.pages.setdefault(page.identity_id, set()).add(page)
        try:
            async for frame in page.socket:
                if frame.type != WSMsgType.TEXT:
                    if frame.type == WSMsgType.BINARY:
                        await self._send(page, {"type": "error", "text": i18n.t(page.locale, "web.bad_message")})
                    continue
                await self._on_frame(page, frame.data, fresh_identity)
        finally:
            pages = self.pages.get(page.identity_id)
            if pages is not None:
                pages.discard(page)
                if not pages:
                    del self.pages[page.identity_id]

    async def _on_frame(self, page: Page, data: str, fresh_identity: bool) -> None:
        try:
            message = json.loads(data)
            kind = message["type"]
        except (ValueError, KeyError, TypeError):
            await self._send(page, {"type": "error", "text": i18n.t(page.locale, "web.bad_message")})
            return
        if kind == "hello":
            await self._hello(page, message, fresh_identity)
            return
        if kind == "seen":
            frames = self.unconfirmed.get(page.identity_id, [])
            frames[:] = [f for f in frames if f["n"] != message.get("n")]
            return
        cid = message.get("id")
        if not isinstance(cid, str) or not CLIENT_ID.fullmatch(cid) or kind not in ("text", "button", "photo"):
            await self._send(page, {"type": "error", "text": i18n.t(page.locale, "web.bad_message")})
            return
        if not await self._within_limits(page, cid):
            return
        try:
            incoming = await self._incoming(page, kind, cid, message)
        except MediaUnavailable as exc:
            log.error("photo of identity %s not checked: %s", page.identity_id, exc)
            await self._send(page, {"type": "refused", "id": cid, "text": i18n.t(page.locale, "common.media_unavailable")})
            return
        if incoming is None:
            await self._send(page, {"type": "refused", "id": cid, "text": self._why_refused(page, kind, message)})
            return
        await self._send(page, {"type": "ack", "id": cid})
        # shielded: a page that goes away mid-turn does not stop the turn; its replies wait for it
        await asyncio.shield(self._turn(page.identity_id, incoming, cid))

    async def _within_limits(self, page: Page, cid: str) -> bool:
        wait = max(self.per_session.take(str(page.identity_id)), self.per_address.take(page.address))
        if wait > 0:
            await self._send(page, {"type": "limit", "id": cid, "retry": round(wait + 0.5, 1),
                                    "text": i18n.t(page.locale, "web.slow_down")})
        return wait <= 0

    async def _incoming(self, page: Page, kind: str, cid: str, message: dict[str, Any]) -> Incoming | None:
        """The engine's Incoming for a well-formed message within the limits, else None."""
        common: dict[str, Any] = {"locale": page.locale}
        incoming_id = f"{page.identity_id}-{cid}"
        if kind == "text":
            text = message.get("text")
            if not isinstance(text, str) or not text.strip() or len(text) > self.limits.text_chars:
                return None
            return Incoming.from_text(CHANNEL, page.external_id, incoming_id, text, **common)
        if kind == "button":
            data = message.get("data")
            if not isinstance(data, str) or not data or len(data) > BUTTON_DATA_MAX:
                return None
            return Incoming(CHANNEL, page.external_id, incoming_id, button=data, **common)
        ref = message.get("ref")
        # the upload's key names who uploaded it (any web process may have stored it): only theirs is taken
        if not isinstance(ref, str) or not upload_of(ref, page.identity_id) or not await self.engine.media.exists(ref):
            return None
        caption = message.get("text")
        caption = caption[: self.limits.text_chars] if isinstance(caption, str) and caption.strip() else None
        media = Media("photo", ref, None)
        return Incoming(CHANNEL, page.external_id, incoming_id, text=caption, media=media, **common)

    def _why_refused(self, page: Page, kind: str, message: dict[str, Any]) -> str:
        text = message.get("text")
        if kind == "text" and isinstance(text, str) and len(text) > self.limits.text_chars:
            return i18n.t(page.locale, "web.too_long", max=self.limits.text_chars)
        if kind == "photo":
            return i18n.t(page.locale, "web.upload_lost")
        return i18n.t(page.locale, "web.bad_message")

    async def _hello(self, page: Page, message: dict[str, Any], fresh_identity: bool) -> None:
        for frame in list(self.unconfirmed.get(page.identity_id, ())):
            await self._send(page, frame)
        start = message.get("start")
        cid = message.get("id")
        command, payload = None, None
        if isinstance(start, str) and START_PAYLOAD.fullmatch(start):
            command, payload = "start", start  # a survey or binding link, as /start <payload>
        elif message.get("fresh") is True:
            command = "start" if fresh_identity else "menu"  # a page with nothing on it yet
        if command and isinstance(cid, str) and CLIENT_ID.fullmatch(cid) and await self._within_limits(page, cid):
            incoming = Incoming(CHANNEL, page.external_id, f"{page.identity_id}-{cid}", locale=page.locale,
                                command=command, payload=payload)
            await asyncio.shield(self._turn(page.identity_id, incoming, cid))
        self._wake.set()  # notices waiting for this person

    async def close_pages(self, identity_id: int) -> None:
        """The device was forgotten: its pages close (and open afresh, as a new visitor)."""
        self.unconfirmed.pop(identity_id, None)
        for page in list(self.pages.get(identity_id, ())):
            await self._send(page, {"type": "session"})
            await page.socket.close(code=4401, message=b"forgotten")

    async def close_all(self) -> None:
        pages = [page for pages in self.pages.values() for page in pages]
        await asyncio.gather(*(page.socket.close(code=WSCloseCode.GOING_AWAY, message=b"restarting")
                               for page in pages), return_exceptions=True)

    # -- turns ----------------------------------------------------------------------------------------

    async def _turn(self, identity_id: int, incoming: Incoming, cid: str) -> None:
        await self._to_identity(identity_id, {"type": "typing"}, keep=False)
        async with self.gate:  # on SQLite every transaction takes the write lock: queue here, not in its busy wait
            replies = await self.engine.handle(incoming)
            # the language changes only by choice (or with a new identity): read it again only then
            changed = bool(replies) and _may_change_language(incoming)
            locale = await self._locale(identity_id, incoming.locale) if changed else None
        frame = {"type": "reply", "id": cid, "lang": locale or incoming.locale,
                 "messages": [await render(r, identity_id, self.files, locale or incoming.locale or
                                           self.engine.settings.default_locale) for r in replies]}
        await self._to_identity(identity_id, frame)

    async def _locale(self, identity_id: int, asked: str | None) -> str:
        async with self.sessions() as session:
            chosen = await identity_locale(session, identity_id)
        return chosen or i18n.normalize_locale(asked) or self.engine.settings.default_locale

    async def _to_identity(self, identity_id: int, frame: dict[str, Any], *, keep: bool = True) -> int:
        """Send ``frame`` to the identity's open pages; kept (``keep``) until a page confirms it has shown
        it — a socket that is closing still takes a frame the page never sees."""
        if keep:
            frame["n"] = secrets.token_hex(8)
            queue = self.unconfirmed.pop(identity_id, [])  # re-inserted: the dict stays oldest first
            self.unconfirmed[identity_id] = queue
            queue.append(frame)
            del queue[:-UNCONFIRMED_MAX]
            while len(self.unconfirmed) > UNCONFIRMED_IDENTITIES:  # those away longest lose theirs first
                del self.unconfirmed[next(iter(self.unconfirmed))]
        delivered = 0
        for page in list(self.pages.get(identity_id, ())):
            if await self._send(page, frame):
                delivered += 1
                if frame.get("lang"):
                    page.locale = frame["lang"]
        return delivered

    async def _send(self, page: Page, frame: dict[str, Any]) -> bool:
        if page.socket.closed:
            return False
        try:
            await page.socket.send_str(json.dumps(frame, ensure_ascii=False))
            return True
        except (ConnectionError, RuntimeError) as exc:
            log.info("page of identity %s went away: %s", page.identity_id, exc)
            return False

    # -- outbox notices -------------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    async def pump(self, interval: float = 1.0) -> None:
        """Push outbox notices to open pages: at once when a page opens, else every ``interval``."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            self._wake.clear()
            if not self.pages:
                continue
            try:
                await self.push_notices()
            except Exception:
                log.exception("pushing notices to web pages failed: trying again")

    async def push_notices(self) -> int:
        """Deliver what waits for the identities with a page open; returns how many were shown."""
        shown = 0
        while self.pages:
            now = self.clock()
            async with self.gate, transaction(self.sessions) as session:
                wanted = await waiting_recipients(session) & self.pages.keys()
                batch = await claim_waiting(session, wanted, now, now + NOTICE_LEASE, self.claimer) if wanted else []
                payloads = await complete_notices(session, [m.payload for m in batch], self.zone, now) \
                    if batch else []
            if not batch:
                return shown
            for message, payload in zip(batch, payloads, strict=True):
                shown += await self._notice(message, payload)
        return shown

    async def _notice(self, message: outbox.Claimed, payload: dict[str, Any] | None) -> int:
        if payload is None:
            await self._settle(outbox.mark_cancelled, message.id, STALE, by=self.claimer)
            return 0
        locale = message.locale or self.engine.settings.default_locale
        try:
            reply: Reply = render_notice(payload, locale, self.zone)
        except (KeyError, ValueError, IndexError, TypeError) as exc:
            await self._settle(outbox.mark_dead, message.id, f"cannot be rendered: {exc!r}", by=self.claimer)
            return 0
        frame = {"type": "notice", "lang": locale, "messages": [await render(reply, message.identity_id, self.files, locale)]}
        if self.pages.get(message.identity_id):
            if await self._to_identity(message.identity_id, frame):
                await self._settle(outbox.mark_sent, message.id, self.clock(), by=self.claimer)
                return 1
            kept = self.unconfirmed.get(message.identity_id, [])
            kept[:] = [f for f in kept if f is not frame]  # the row itself waits: not twice
        async with self.gate, transaction(self.sessions) as session:  # the page closed: it waits for the next
            await outbox.release(session, [message.id], self.clock(), by=self.claimer)
        return 0

    async def _settle(self, fn: Any, *args: object, by: str) -> None:
        async with self.gate, transaction(self.sessions) as session:
            await fn(session, *args, by=by)
