"""Replies as the JSON the page renders: text (the page inserts it as text, never HTML), button rows,
and files served from memory under unguessable addresses that only the recipient's session may open."""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from dialogs.types import Attachment, Reply

SAFE_SCHEMES = ("http://", "https://")


@dataclass(frozen=True)
class StoredFile:
    identity_id: int
    attachment: Attachment
    stored_at: float


class Files:
    """Images and documents of recent replies (QR codes, charts, XLSX), kept a while for their page."""

    def __init__(self, capacity: int = 500, ttl: float = 6 * 3600) -> None:
        self.capacity = capacity
        self.ttl = ttl
        self._files: OrderedDict[str, StoredFile] = OrderedDict()

    def put(self, identity_id: int, attachment: Attachment) -> str:
        key = secrets.token_urlsafe(16)
        self._files[key] = StoredFile(identity_id, attachment, time.monotonic())
        while len(self._files) > self.capacity:
            self._files.popitem(last=False)
        return f"/f/{key}/{quote(attachment.filename)}"

    def get(self, key: str, identity_id: int) -> Attachment | None:
        stored = self._files.get(key)
        if stored is None or stored.identity_id != identity_id or time.monotonic() - stored.stored_at > self.ttl:
            return None
        return stored.attachment


def _button(label: str, data: str | None, url: str | None) -> dict[str, Any]:
    if url:
        return {"label": label, "url": url if url.startswith(SAFE_SCHEMES) else None}
    return {"label": label, "data": data}


def render(reply: Reply, identity_id: int, files: Files) -> dict[str, Any]:
    """One message for the page; its buttons send back ``data`` (urls open in a new tab)."""
    message: dict[str, Any] = {"text": reply.text or ""}
    if reply.buttons:
        message["buttons"] = [[_button(b.label, b.data, b.url) for b in row] for row in reply.buttons]
    if reply.image is not None:
        message["image"] = {"url": files.put(identity_id, reply.image), "name": reply.image.filename}
    if reply.document is not None:
        message["document"] = {"url": files.put(identity_id, reply.document), "name": reply.document.filename}
    return message
