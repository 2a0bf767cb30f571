"""What a channel hands to the dialogs (Incoming) and what it gets back (Reply)."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

_COMMAND = re.compile(r"^/([A-Za-z][A-Za-z0-9_]{0,31})(?:@\w+)?(?:\s+(.*))?$", re.DOTALL)


@dataclass(frozen=True)
class Media:
    """A photo or document a person sent, already put in the media store by the channel."""

    kind: str  # "photo" | "document"
    ref: str  # its reference in the media store (``store.media``), as kept in the database
    filename: str | None = None


@dataclass(frozen=True)
class Incoming:
    """One thing a person did: typed text, pressed a button, sent a command or a file."""

    channel: str
    user_id: str
    id: str
    locale: str | None = None
    text: str | None = None
    button: str | None = None
    command: str | None = None
    payload: str | None = None
    media: Media | None = None
    display_name: str | None = None
    other: str | None = None  # what was sent when it is neither text nor a file: "contact", "location"…

    @classmethod
    def from_text(cls, channel: str, user_id: str, id: str, text: str, **extra: object) -> Incoming:
        """Text as typed; a leading ``/command [payload]`` becomes a command."""
        match = _COMMAND.match(text.strip())
        if match:
            payload = (match.group(2) or "").strip() or None
            return cls(channel, user_id, id, command=match.group(1).lower(), payload=payload,
                       **extra)  # type: ignore[arg-type]  # extra names Incoming's own optional fields
        return cls(channel, user_id, id, text=text, **extra)  # type: ignore[arg-type]  # as above


@dataclass(frozen=True)
class Button:
    label: str
    data: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mime: str

    def to_json(self) -> dict[str, str]:
        return {"filename": self.filename, "content": base64.b64encode(self.content).decode(), "mime": self.mime}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Attachment:
        return cls(data["filename"], base64.b64decode(data["content"]), data["mime"])


@dataclass
class Reply:
    """One message to show: text (plain; the channel escapes it), button rows, an optional file."""

    text: str
    buttons: list[list[Button]] = field(default_factory=list)
    image: Attachment | None = None
    document: Attachment | None = None

    def to_json(self) -> dict[str, Any]:
        """The reply as JSON values, to be kept in the database until it is sent (``from_json`` reads it)."""
        data: dict[str, Any] = {"text": self.text}
        if self.buttons:
            data["buttons"] = [[_button_json(b) for b in row] for row in self.buttons]
        if self.image is not None:
            data["image"] = self.image.to_json()
        if self.document is not None:
            data["document"] = self.document.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        return cls(
            data["text"],
            [[Button(b["label"], b.get("data"), b.get("url")) for b in row] for row in data.get("buttons", ())],
            image=Attachment.from_json(data["image"]) if "image" in data else None,
            document=Attachment.from_json(data["document"]) if "document" in data else None,
        )


def _button_json(button: Button) -> dict[str, str]:
    data = {"label": button.label}
    if button.data is not None:
        data["data"] = button.data
    if button.url is not None:
        data["url"] = button.url
    return data
