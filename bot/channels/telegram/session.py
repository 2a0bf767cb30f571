"""The HTTP session every civicbot ``Bot`` talks to the Bot API through: aiogram's aiohttp session, sending
each request's parameters as one JSON body, which the Bot API takes for every method (application/json);
a request that uploads a file stays multipart, as aiogram sends it.

Why (a fast path): aiogram sends a form, percent-encoding every field and JSON-encoding each object in it on
its own — for a reply with a keyboard a tenth of what the Telegram pipeline spends on one update (measured
with bench/telegram.py); one ``json.dumps`` of the whole request is a fraction of that.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InputFile
from aiohttp import BytesPayload, FormData
from aiohttp.payload import Payload


class _JsonBody(FormData):
    """Parameters as a JSON body. A ``FormData`` because that is what aiogram's session posts: aiohttp sends
    what calling it returns."""

    def __init__(self, values: dict[str, Any], text: str) -> None:
        super().__init__()
        self.values = values  # what is sent, for a test to read
        self._text = text

    def __call__(self) -> Payload:
        return BytesPayload(self._text.encode(), content_type="application/json")


class JsonSession(AiohttpSession):
    """aiogram's ``AiohttpSession`` with JSON request bodies (see the module's docstring)."""

    def build_form_data(self, bot: Bot, method: TelegramMethod[TelegramType]) -> FormData:
        files: dict[str, InputFile] = {}
        values: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            # objects stay objects (a form would carry each as a JSON string); defaults resolved, as aiogram does
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is not None and prepared != "":  # what aiogram leaves out of a form
                values[key] = prepared
        if files:  # an upload: multipart, as aiogram builds it
            return super().build_form_data(bot, method)
        return _JsonBody(values, self.json_dumps(values))
