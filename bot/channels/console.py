"""The console channel: chat with civicbot in a terminal, buttons shown as numbered options.

Type a button's key or its label to press it, or text as in any messenger. Keys are numbers, except
where the buttons are themselves numbers (a rating 1–5, a 0–10 scale): there a typed number is that
value, as in every other channel, and the other buttons get letters. ``:photo PATH`` sends a picture,
``:as ROLE`` switches identity (resident, org:USCC, staff:DEPT, expert:CODE), ``:quit`` leaves.
Messages the outbox has for console identities (a ticket's news, a decision) are shown as they come;
replies a crash left unsent are shown when the chat starts, before the first turn.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import string
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TextIO

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.outbox import Dispatcher
from dialogs import i18n
from dialogs.engine import Engine, utcnow
from dialogs.types import Button, Incoming, Media, Reply
from store.conversations import ensure_identity, mark_replies_sent, unsent_replies
from store.db import transaction
from store.invites import set_binding
from store.media import MediaUnavailable, new_key

log = logging.getLogger(__name__)

CHANNEL = "console"
NOTICE_POLL_SECONDS = 2.0
_VALUE_LABEL = re.compile(r"(\d{1,3})(?:\s|$)")  # "5 非常满意", "8": the button stands for that number


def parse_role(spec: str) -> tuple[str, str | None]:
    """``resident`` | ``org:USCC`` | ``staff:DEPT`` | ``expert:CODE`` → (role, ref)."""
    role, _, ref = spec.partition(":")
    role = role.strip().lower()
    if role == "resident" and not ref:
        return "resident", None
    if role in ("org", "staff", "expert") and ref.strip():
        return role, ref.strip()
    raise ValueError(f"unknown identity {spec!r}: use resident, org:USCC, staff:DEPT_CODE or expert:CODE")


async def act_as(sessions: async_sessionmaker[AsyncSession], spec: str) -> str:
    """The console user id for ``spec``, bound accordingly (the console is the operator's own)."""
    role, ref = parse_role(spec)
    user_id = spec if ref else "resident"
    async with sessions() as session, session.begin():
        identity = await ensure_identity(session, CHANNEL, user_id, utcnow())
        await set_binding(session, identity, role, ref)
    return user_id


def render(replies: list[Reply], taken: Mapping[str, Button] | None = None) -> tuple[str, dict[str, Button]]:
    """Replies as terminal text, and the buttons by the key that presses them.

    Buttons are numbered in reading order; when some stand for numbers (a rating), those keep their
    number as key and the others are lettered, so a typed number always means the same thing.
    Keys in ``taken`` (the buttons still on screen) are not given again.
    """
    taken = taken or {}
    every = [button for reply in replies for row in reply.buttons for button in row if button.data]
    valued = {button.data: match[1] for button in every if (match := _VALUE_LABEL.match(button.label))}
    lettered = bool(valued) or any(key.isalpha() for key in taken)
    fresh = (key for key in (string.ascii_lowercase if lettered else map(str, itertools.count(1))) if key not in taken)
    keyed: dict[str, Button] = {}
    lines: list[str] = []
    for reply in replies:
        lines.append(reply.text)
        for row in reply.buttons:
            cells = []
            for button in row:
                if button.url or not button.data:
                    cells.append(f"{button.label} → {button.url}" if button.url else button.label)
                    continue
                if valued and button.data in valued:
                    key, label = valued[button.data], button.label[len(valued[button.data]):].strip()
                else:
                    key, label = next(fresh, ""), button.label
                if key and key not in keyed and key not in taken:
                    keyed[key] = button
                    cells.append(f"[{key}] {label}".rstrip())
                else:
                    cells.append(button.label)
            lines.append("   ".join(cells))
        for attachment in (reply.image, reply.document):
            if attachment is not None:
                lines.append(f"📎 {attachment.filename} ({len(attachment.content)} bytes)")
        lines.append("")
    return "\n".join(lines), keyed


class ConsoleSender:
    """The outbox's way into the console: what it sends to a console identity is printed."""

    channels = frozenset({CHANNEL})

    def __init__(self) -> None:
        self.received: list[Reply] = []

    async def send(self, identity_channel: str, external_id: str, reply: Reply) -> None:
        self.received.append(reply)


class ConsoleChat:
    """The console's side of the channel contract (``bot.channels.contract``): a typed line becomes an
    ``Incoming`` (``to_incoming``), a turn of the engine, the replies shown (``deliver``) and marked sent."""

    name = CHANNEL

    def __init__(
        self,
        engine: Engine,
        sessions: async_sessionmaker[AsyncSession],
        user_id: str,
        *,
        locale: str | None = None,
        out: TextIO = sys.stdout,
        read_line: Callable[[], str] | None = None,
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.user_id = user_id
        self.locale = locale
        self.out = out
        self.read_line = read_line or (lambda: input("› "))
        self.buttons: dict[str, Button] = {}
        self.shown = ""  # the text last shown
        self._ids = itertools.count(1)
        self._session = uuid.uuid4().hex[:8]
        self._notices = ConsoleSender()
        settings = engine.settings if engine is not None else None
        self._dispatcher = Dispatcher(
            sessions, self._notices, zone=settings.zone, default_locale=settings.default_locale,
        ) if settings is not None and sessions is not None else None

    def _incoming(self, **fields: object) -> Incoming:
        return Incoming(CHANNEL, self.user_id, f"{self._session}-{next(self._ids)}", locale=self.locale,
                        **fields)  # type: ignore[arg-type]  # the caller names Incoming's own fields

    def to_incoming(self, line: str) -> Incoming | None:
        text = line.strip()
        if text in self.buttons:
            return self._incoming(button=self.buttons[text].data)
        for button in self.buttons.values():
            if button.data and text and text == button.label.strip():
                return self._incoming(button=button.data)
        message = Incoming.from_text(CHANNEL, self.user_id, f"{self._session}-{next(self._ids)}", line,
                                     locale=self.locale)
        return message

    async def deliver(self, to: str, replies: Iterable[Reply]) -> None:
        """Replies on the terminal, their buttons given keys (``to``: the console has one person at a time)."""
        self.shown, self.buttons = render(list(replies))
        self.out.write(self.shown + "\n")
        self.out.flush()

    async def _sent(self, reply_ids: list[int]) -> None:
        async with transaction(self.sessions) as session:
            await mark_replies_sent(session, reply_ids)

    async def catch_up(self) -> str:
        """Show the replies of this user's turns that a crash left unshown, in order."""
        async with self.sessions() as session:
            kept = await unsent_replies(session, CHANNEL, self.user_id)
        if not kept:
            return ""
        await self.deliver(self.user_id, [Reply.from_json(reply) for item in kept for reply in item.replies])
        await self._sent([item.id for item in kept])
        return self.shown

    async def photo(self, path: str) -> Incoming | None:
        """``:photo PATH``: the file, put in the media store like any channel's photo."""
        source = Path(path.strip()).expanduser()
        if not source.is_file():
            self.out.write(f"(no such file: {source})\n")
            return None
        suffix = source.suffix.lower() if re.fullmatch(r"\.[a-z0-9]{1,8}", source.suffix.lower()) else ""
        try:
            ref = await self.engine.media.put(new_key("console", suffix), source)
        except MediaUnavailable as exc:
            log.error("photo not stored: %s", exc)
            self.out.write(i18n.t(self.locale or self.engine.settings.default_locale, "common.media_unavailable") + "\n")
            return None
        return self._incoming(media=Media("photo", ref, source.name))

    async def send(self, line: str) -> str:
        stripped = line.strip()
        incoming = await self.photo(stripped[7:]) if stripped.startswith(":photo ") else self.to_incoming(line)
        if incoming is None:
            return ""
        turn = await self.engine.turn(incoming)
        await self.deliver(self.user_id, turn.replies + await self.notices())
        if turn.reply_id is not None:
            await self._sent([turn.reply_id])
        return self.shown

    async def notices(self) -> list[Reply]:
        """What the outbox has for console identities now (sent, so it is shown once)."""
        if self._dispatcher is None:
            return []
        await self._dispatcher.dispatch(self.engine.clock())
        received, self._notices.received = self._notices.received, []
        return received

    async def _watch_notices(self) -> None:
        """While the chat waits for a line, print what the outbox sends here; its buttons get keys of
        their own next to those on screen."""
        while True:
            await asyncio.sleep(NOTICE_POLL_SECONDS)
            try:
                arrived = await self.notices()
            except Exception:  # a database hiccup must not end the chat; the next poll tries again
                log.exception("could not fetch the console's notices")
                continue
            if arrived:
                text, keyed = render(arrived, self.buttons)
                self.buttons.update(keyed)  # a notice's buttons can be pressed as well as the screen's
                self.out.write(f"\n🔔 {text}\n")
                self.out.flush()

    async def run(self, first: str = "/start") -> None:
        await self.catch_up()
        watcher = asyncio.create_task(self._watch_notices())
        try:
            await self._chat(first)
        finally:
            watcher.cancel()

    async def _chat(self, first: str) -> None:
        await self.send(first)
        loop = asyncio.get_running_loop()
        while True:
            try:
                line = await loop.run_in_executor(None, self.read_line)
            except (EOFError, KeyboardInterrupt):
                self.out.write("\n")
                return
            if line.strip() in (":quit", ":q", ":exit"):
                return
            if line.strip().startswith(":as "):
                try:
                    self.user_id = await act_as(self.sessions, line.strip()[4:])
                except (ValueError, LookupError) as exc:
                    self.out.write(f"({exc})\n")
                    continue
                await self.catch_up()
                await self.send("/menu")
                continue
            if line.strip():
                await self.send(line)
