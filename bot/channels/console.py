"""The console channel: chat with civicbot in a terminal, buttons shown as numbered options.

Type a number or a button's label to press it, or text as in any messenger. ``:photo PATH`` sends
a picture, ``:as ROLE`` switches identity (resident, org:USCC, staff:DEPT, expert:CODE), ``:quit``
leaves. Replies a crash left unsent are shown when the chat starts, before the first turn.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.engine import Engine, utcnow
from dialogs.types import Button, Incoming, Media, Reply
from store.conversations import ensure_identity, mark_replies_sent, unsent_replies
from store.db import transaction
from store.invites import set_binding

CHANNEL = "console"


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


def render(replies: list[Reply]) -> tuple[str, list[Button]]:
    """Replies as terminal text; buttons numbered in reading order."""
    lines: list[str] = []
    buttons: list[Button] = []
    for reply in replies:
        lines.append(reply.text)
        for row in reply.buttons:
            cells = []
            for button in row:
                buttons.append(button)
                target = f" → {button.url}" if button.url else ""
                cells.append(f"[{len(buttons)}] {button.label}{target}")
            lines.append("   ".join(cells))
        for attachment in (reply.image, reply.document):
            if attachment is not None:
                lines.append(f"📎 {attachment.filename} ({len(attachment.content)} bytes)")
        lines.append("")
    return "\n".join(lines), buttons


class ConsoleChat:
    def __init__(
        self,
        engine: Engine,
        sessions: async_sessionmaker[AsyncSession],
        user_id: str,
        *,
        locale: str | None = None,
        media_dir: Path = Path("media"),
        out: TextIO = sys.stdout,
        read_line: Callable[[], str] | None = None,
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.user_id = user_id
        self.locale = locale
        self.media_dir = media_dir
        self.out = out
        self.read_line = read_line or (lambda: input("› "))
        self.buttons: list[Button] = []
        self._ids = itertools.count(1)
        self._session = uuid.uuid4().hex[:8]

    def _incoming(self, **fields: object) -> Incoming:
        return Incoming(CHANNEL, self.user_id, f"{self._session}-{next(self._ids)}", locale=self.locale, **fields)  # type: ignore[arg-type]

    def to_incoming(self, line: str) -> Incoming | None:
        text = line.strip()
        if text.isdigit() and 1 <= int(text) <= len(self.buttons):
            button = self.buttons[int(text) - 1]
            return self._incoming(button=button.data) if button.data else None
        for button in self.buttons:
            if button.data and text and text == button.label.strip():
                return self._incoming(button=button.data)
        if text.startswith(":photo "):
            source = Path(text[7:].strip()).expanduser()
            if not source.is_file():
                self.out.write(f"(no such file: {source})\n")
                return None
            self.media_dir.mkdir(parents=True, exist_ok=True)
            target = self.media_dir / f"console-{uuid.uuid4().hex}{source.suffix}"
            shutil.copyfile(source, target)
            return self._incoming(media=Media("photo", str(target), source.name))
        message = Incoming.from_text(CHANNEL, self.user_id, f"{self._session}-{next(self._ids)}", line,
                                     locale=self.locale)
        return message

    def _show(self, replies: list[Reply]) -> str:
        text, self.buttons = render(replies)
        self.out.write(text + "\n")
        self.out.flush()
        return text

    async def _sent(self, reply_ids: list[int]) -> None:
        async with transaction(self.sessions) as session:
            await mark_replies_sent(session, reply_ids)

    async def catch_up(self) -> str:
        """Show the replies of this user's turns that a crash left unshown, in order."""
        async with self.sessions() as session:
            kept = await unsent_replies(session, CHANNEL, self.user_id)
        if not kept:
            return ""
        text = self._show([Reply.from_json(reply) for item in kept for reply in item.replies])
        await self._sent([item.id for item in kept])
        return text

    async def send(self, line: str) -> str:
        incoming = self.to_incoming(line)
        if incoming is None:
            return ""
        turn = await self.engine.turn(incoming)
        text = self._show(turn.replies)
        if turn.reply_id is not None:
            await self._sent([turn.reply_id])
        return text

    async def run(self, first: str = "/start") -> None:
        await self.catch_up()
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
