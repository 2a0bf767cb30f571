"""Drive whole conversations through the engine, as a person would, without any channel."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from dialogs.engine import Engine
from dialogs.types import Button, Incoming, Media, Reply

_ids = itertools.count(1)


@dataclass
class Person:
    engine: Engine
    user_id: str
    channel: str = "test"
    locale: str | None = "zh-Hans"
    last: list[Reply] = field(default_factory=list)

    async def _send(self, incoming: Incoming) -> list[Reply]:
        self.last = await self.engine.handle(incoming)
        return self.last

    async def say(self, text: str) -> list[Reply]:
        return await self._send(
            Incoming.from_text(self.channel, self.user_id, f"m{next(_ids)}", text, locale=self.locale)
        )

    async def press_data(self, data: str) -> list[Reply]:
        return await self._send(Incoming(self.channel, self.user_id, f"b{next(_ids)}", locale=self.locale, button=data))

    async def press(self, label: str) -> list[Reply]:
        """Press the button of the last replies whose label contains ``label``."""
        return await self.press_data(self.button(label).data or "")

    async def send_photo(self, path: str, caption: str | None = None) -> list[Reply]:
        media = Media("photo", path, "photo.jpg")
        return await self._send(
            Incoming(self.channel, self.user_id, f"p{next(_ids)}", locale=self.locale, text=caption, media=media)
        )

    async def send_other(self, kind: str) -> list[Reply]:
        """Something that is neither text nor a file (a contact card, a location), as a channel reports it."""
        return await self._send(Incoming(self.channel, self.user_id, f"o{next(_ids)}", locale=self.locale, other=kind))

    def buttons(self) -> list[Button]:
        return [b for reply in self.last for row in reply.buttons for b in row]

    def button(self, label: str) -> Button:
        matches = [b for b in self.buttons() if label in b.label]
        if not matches:
            raise AssertionError(f"no button {label!r} in {[b.label for b in self.buttons()]}")
        return matches[0]

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.last)
