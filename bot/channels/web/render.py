"""Replies as the JSON the page renders: text (the page inserts it as text, never HTML), button rows,
and files kept in the media store under unguessable addresses that only the recipient's session may open
(whichever web process the browser's request reaches)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mimetypes
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from dialogs import i18n
from dialogs.types import Attachment, Reply
from store.media import KEY, MediaStore, MediaUnavailable

log = logging.getLogger(__name__)

SAFE_SCHEMES = ("http://", "https://")
PREFIX = "reply-"
TOKEN = re.compile(r"[0-9a-f]{32}(\.[a-z0-9]{1,8})?")
SUFFIX = re.compile(r"\.[a-z0-9]{1,8}")


class Files:
    """Images and documents of replies (QR codes, charts, XLSX), kept ``ttl`` seconds in the media store
    under ``reply-<identity>-<token><suffix>``: the identity in the key is the access check."""

    def __init__(self, media: MediaStore, ttl: float = 6 * 3600, *, prune_every: float = 600,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.media = media
        self.ttl = ttl
        self.prune_every = prune_every
        self.clock = clock
        self._pruned = 0.0
        self._pruning: asyncio.Task[None] | None = None

    async def put(self, identity_id: int, attachment: Attachment) -> str:
        suffix = "." + attachment.filename.rpartition(".")[2].lower() if "." in attachment.filename else ""
        token = secrets.token_hex(16) + (suffix if SUFFIX.fullmatch(suffix) else "")
        await self.media.put(f"{PREFIX}{identity_id}-{token}", attachment.content, mime=attachment.mime)
        self._prune_now_and_then()
        return f"/f/{token}/{quote(attachment.filename)}"

    def open(self, token: str, identity_id: int) -> tuple[str, AsyncIterator[bytes]] | None:
        """The file's type and its bytes, if ``token`` names a file of this identity (``MediaMissing`` when
        reading starts if it has gone: older than the ttl)."""
        key = f"{PREFIX}{identity_id}-{token}"
        if not TOKEN.fullmatch(token) or not KEY.fullmatch(key):
            return None
        mime = mimetypes.guess_type(key)[0] or "application/octet-stream"
        return mime, self.media.open(key)

    async def close(self) -> None:
        """Stop a removal of old files in progress (the next process's first reply file starts another)."""
        if self._pruning is not None and not self._pruning.done():
            self._pruning.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruning

    def _prune_now_and_then(self) -> None:
        if time.monotonic() - self._pruned < self.prune_every or (self._pruning and not self._pruning.done()):
            return
        self._pruned = time.monotonic()
        self._pruning = asyncio.create_task(self._prune())

    async def _prune(self) -> None:
        try:
            removed = await self.media.prune(PREFIX, self.clock() - timedelta(seconds=self.ttl))
        except Exception as exc:
            log.warning("old reply files not removed: %s", exc)
            return
        if removed:
            log.info("%d reply files older than %d s removed", removed, self.ttl)


def _button(label: str, data: str | None, url: str | None) -> dict[str, Any]:
    if url:
        return {"label": label, "url": url if url.startswith(SAFE_SCHEMES) else None}
    return {"label": label, "data": data}


async def render(reply: Reply, identity_id: int, files: Files, locale: str) -> dict[str, Any]:
    """One message for the page; its buttons send back ``data`` (urls open in a new tab). A file that
    cannot be stored just now is left out, and the message says so."""
    message: dict[str, Any] = {"text": reply.text or ""}
    if reply.buttons:
        message["buttons"] = [[_button(b.label, b.data, b.url) for b in row] for row in reply.buttons]
    for kind, attachment in (("image", reply.image), ("document", reply.document)):
        if attachment is None:
            continue
        try:
            message[kind] = {"url": await files.put(identity_id, attachment), "name": attachment.filename}
        except MediaUnavailable as exc:
            log.error("%s %s for identity %s not stored: %s", kind, attachment.filename, identity_id, exc)
            message["text"] += "\n" + i18n.t(locale, "common.media_unshown")
    return message
