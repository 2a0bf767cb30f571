"""The conversation over WebSockets: a page's messages become turns of the engine, replies go back to
every open page of the identity (or wait in memory for its next connection), and outbox notices to web
identities are pushed to their open pages.

A notice is pushed by the process that holds a page of its recipient, whichever process queued it: the
pump wakes on this process's commits and, on PostgreSQL, on every process's (``bot.dispatching.wakeup_for``:
LISTEN/NOTIFY, no other broker). The outbox row is the guarantee of once: a pump claims it (one claimer
wins a race), pushes it with a stable frame number (``o<row id>``, which the page de-duplicates), and marks
it ``sent`` only when a page confirms it has shown it (``seen``). A row whose pages all close first goes
back to ``pending``, so the next visit shows it — on whichever process the page reconnects to."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import WSCloseCode, WSMsgType, web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.web.limits import Limits, RateLimit
from bot.channels.web.render import Files, render
from bot.dispatching import Wakeup
from bot.gate import Gate
from bot.outbox import Ready, completed
from dialogs import i18n
from dialogs.engine import Engine
from dialogs.notices import render_notice
from dialogs.types import Incoming, Media, Reply
from store import outbox
from store.db import transaction
from store.media import MediaUnavailable, new_key
from store.notices import UnreadableNotice
from store.web_sessions import CHANNEL, claim_waiting, identity_locale, waiting_recipients

log = logging.getLogger(__name__)

CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
START_PAYLOAD = re.compile(r"[sb][A-Za-z0-9_-]{1,63}")
UNCONFIRMED_MAX = 50  # frames kept for an identity whose pages have not confirmed them (the newest win)
UNCONFIRMED_IDENTITIES = 10_000
BUTTON_DATA_MAX = 512
NOTICE_LEASE = timedelta(minutes=5)  # a claimed notice waits this long for a page's confirmation
RECOVER_EVERY = 60.0  # seconds between looks for notices left claimed by a web process that died
WORKING_AFTER = 0.3  # seconds a turn runs before its page hears it was taken (and shows "typing…")
STALE = "stale: the milestone was done or re-dated before this could be sent"


def utcnow() -> datetime:
    return datetime.now(UTC)


def upload_key(identity_id: int) -> str:
    """A fresh media key for a photo ``identity_id`` uploads (always re-encoded as JPEG)."""
    return new_key(f"web-{identity_id}", ".jpg")


def upload_of(ref: str, identity_id: int) -> bool:
    """Whether ``ref`` is a key ``upload_key`` made for ``identity_id``."""
    return re.fullmatch(rf"web-{identity_id}-[0-9a-f]{{32}}\.jpg", ref) is not None


def quick(incoming: Incoming) -> bool:
    """Whether a turn is let in before free text (bot/gate.py): a command or a button press runs no NLU,
    while free text may be a question (a parse and a public answer, ten times a menu's work)."""
    return incoming.text is None or incoming.command is not None


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
    """The web chat's side of the channel contract (``bot.channels.contract``): a page's frame becomes an
    ``Incoming`` (``_incoming``), a turn of the engine, the replies go to the person's pages (``deliver``)."""

    name = CHANNEL

    def __init__(
        self,
        engine: Engine,
        sessions: async_sessionmaker[AsyncSession],
        files: Files,
        *,
        zone: ZoneInfo,
        gate: Gate,
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
        # notices pushed to an identity's pages and not yet confirmed: identity → frame number → outbox row
        self.awaiting: dict[int, dict[str, int]] = {}
        self.wakeup: Wakeup | None = None  # set when the pump starts (``bot.dispatching.wakeup_for``)
        self._recovered_at = float("-inf")
        self._telling: set[asyncio.Task[None]] = set()
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
            if not self.pages.get(page.identity_id):
                # shielded: aiohttp cancels the handler of a connection that is gone
                await asyncio.shield(self._give_back(page.identity_id))

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
            await self._seen(page.identity_id, message.get("n"))
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
        await self._run_turn(page, incoming, cid)

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
            await self._run_turn(page, incoming, cid, ack=False)
        self.wake()  # notices waiting for this person

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

    async def _run_turn(self, page: Page, incoming: Incoming, cid: str, *, ack: bool = True) -> None:
        """The turn of a page's message. Only a turn still running after ``WORKING_AFTER`` is acknowledged to
        the page (which then shows "typing…", as the identity's other pages do): the reply settles the message
        too. Why (a fast path): two socket writes of a quick turn's three, for an indicator that flashed for
        a few milliseconds."""
        # shielded: a page that goes away mid-turn does not stop the turn; its replies wait for it
        turn = asyncio.ensure_future(self._turn(page.identity_id, incoming, cid))
        later = asyncio.get_running_loop().call_later(WORKING_AFTER, self._working, page, cid if ack else None, turn)
        try:
            await asyncio.shield(turn)
        finally:
            later.cancel()

    def _working(self, page: Page, cid: str | None, turn: asyncio.Future[None]) -> None:
        task = asyncio.get_running_loop().create_task(self._tell_working(page, cid, turn))
        self._telling.add(task)
        task.add_done_callback(self._telling.discard)

    async def _tell_working(self, page: Page, cid: str | None, turn: asyncio.Future[None]) -> None:
        for other in list(self.pages.get(page.identity_id, ())):
            if turn.done():  # replied meanwhile: "typing" now would stay on the page
                return
            await self._send(other, {"type": "ack", "id": cid} if other is page and cid else {"type": "typing"})

    async def _turn(self, identity_id: int, incoming: Incoming, cid: str) -> None:
        # on SQLite every transaction takes the write lock: queue here, not in its busy wait
        async with self.gate(quick=quick(incoming)):
            replies = await self.engine.handle(incoming)
            # the language changes only by choice (or with a new identity): read it again only then
            changed = bool(replies) and _may_change_language(incoming)
            locale = await self._locale(identity_id, incoming.locale) if changed else None
        await self.deliver(identity_id, replies, cid=cid, lang=locale or incoming.locale)

    async def deliver(self, to: int, replies: Iterable[Reply], *, cid: str | None = None,
                      lang: str | None = None) -> None:
        """The replies (``render``) in one frame to every open page of identity ``to``, kept for its next
        page until one confirms it; ``cid`` is the message they answer."""
        locale = lang or self.engine.settings.default_locale
        frame = {"type": "reply", "id": cid, "lang": lang,
                 "messages": [await render(r, to, self.files, locale) for r in replies]}
        await self._to_identity(to, frame)

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
        if self.wakeup is not None:
            self.wakeup.wake()

    async def pump(self, wakeup: Wakeup, interval: float) -> None:
        """Push outbox notices to open pages: when ``wakeup`` says something was queued (by any process on
        PostgreSQL) or a page opened, and every ``interval`` seconds in case a wake-up was missed."""
        self.wakeup = wakeup
        while True:
            await wakeup.wait(interval)
            try:
                await self._recover()
                if self.pages:
                    await self.push_notices()
            except Exception:
                log.exception("pushing notices to web pages failed: trying again")

    async def _recover(self) -> None:
        """Notices a dead web process had claimed go back to the queue once their lease has run out (a
        deployment without a Telegram worker has no other dispatcher to do it)."""
        moment = asyncio.get_running_loop().time()
        if moment - self._recovered_at < RECOVER_EVERY:
            return
        self._recovered_at = moment
        async with self.gate, transaction(self.sessions) as session:
            await outbox.recover_stuck(session, self.clock())

    async def push_notices(self) -> int:
        """Deliver what waits for the identities with a page open; returns how many were pushed."""
        shown = 0
        while self.pages:
            now = self.clock()
            async with self.gate, transaction(self.sessions) as session:
                wanted = await waiting_recipients(session) & self.pages.keys()
                batch = await claim_waiting(session, wanted, now, now + NOTICE_LEASE, self.claimer) if wanted else []
                ready = await completed(session, batch, self.zone, now) if batch else {}
            if not batch:
                return shown
            for message in batch:
                shown += await self._notice(message, ready[message.id])
        return shown

    async def _notice(self, message: outbox.Claimed, notice: Ready) -> int:
        if notice is None:
            await self._settle(outbox.mark_cancelled, message.id, STALE, by=self.claimer)
            return 0
        if isinstance(notice, UnreadableNotice):
            await self._settle(outbox.mark_dead, message.id, f"cannot be read: {notice}", by=self.claimer)
            return 0
        locale = message.locale or self.engine.settings.default_locale
        try:
            reply: Reply = render_notice(notice, locale, self.zone)
        except (KeyError, ValueError, IndexError, TypeError) as exc:
            await self._settle(outbox.mark_dead, message.id, f"cannot be rendered: {exc!r}", by=self.claimer)
            return 0
        n = f"o{message.id}"  # the same number each time the row is pushed: a page shows it once
        frame = {"type": "notice", "n": n, "lang": locale,
                 "messages": [await render(reply, message.identity_id, self.files, locale)]}
        # awaited before it is pushed: a page that confirms, or closes, at once finds it
        self.awaiting.setdefault(message.identity_id, {})[n] = message.id
        if await self._to_identity(message.identity_id, frame, keep=False):
            return 1
        waiting = self.awaiting.get(message.identity_id, {})
        if waiting.pop(n, None) is not None:  # no page took it: the row waits for the next visit
            await self._release(message.identity_id, [message.id])
        return 0

    async def _seen(self, identity_id: int, n: object) -> None:
        """A page has shown frame ``n``: a notice's row is sent; a reply is no longer kept."""
        if not isinstance(n, str):
            return
        waiting = self.awaiting.get(identity_id)
        message_id = waiting.pop(n, None) if waiting is not None else None
        if message_id is not None:
            if not waiting:
                del self.awaiting[identity_id]
            await asyncio.shield(self._settle(outbox.mark_sent, message_id, self.clock(), by=self.claimer))
            return
        frames = self.unconfirmed.get(identity_id, [])
        frames[:] = [f for f in frames if f["n"] != n]

    async def _give_back(self, identity_id: int) -> None:
        """The identity's last page here closed: notices it did not confirm go back to the queue, due now."""
        waiting = self.awaiting.pop(identity_id, None)
        if waiting:
            await self._release(identity_id, list(waiting.values()))

    async def _release(self, identity_id: int, message_ids: list[int]) -> None:
        try:
            async with self.gate, transaction(self.sessions) as session:
                await outbox.release(session, message_ids, self.clock(), by=self.claimer)
        except Exception:  # the lease runs out instead, and the row is recovered then
            log.exception("could not give back the notices %s of identity %s", message_ids, identity_id)

    async def _settle(self, fn: Any, *args: object, by: str) -> None:
        async with self.gate, transaction(self.sessions) as session:
            await fn(session, *args, by=by)
