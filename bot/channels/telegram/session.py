"""What a request to the Bot API costs civicbot, kept low in one place: the HTTP session every civicbot
``Bot`` talks through, and the send methods whose answer is read for the message id only.

Why (fast paths, measured with bench/telegram.py, where aiogram's request and answer handling is most of
what an update costs):

- ``JsonSession`` sends each request's parameters as one JSON body, which the Bot API takes for every
  method (application/json); a request that uploads a file stays multipart, as aiogram sends it. aiogram
  sends a form, percent-encoding every field and JSON-encoding each object in it on its own: for a reply
  with a keyboard a tenth of an update's cost; one ``json.dumps`` of the request is a fraction of that.
- ``SendMessageForId`` and its kin: Telegram answers a send with the whole message, keyboard included, which
  aiogram validates into a ``Message`` (~150 µs for a menu) that nobody reads; these validate its id (~20 µs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.methods import SendDocument, SendMessage, SendPhoto, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InputFile
from aiohttp import BytesPayload, FormData
from aiohttp.payload import Payload
from pydantic import BaseModel, ConfigDict


class _JsonBody(FormData):
    """Parameters as a JSON body. A ``FormData`` because that is what aiogram's session posts: aiohttp sends
    what calling it returns."""

    def __init__(self, text: str) -> None:
        super().__init__()
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
        return _JsonBody(self.json_dumps(values))


class SentId(BaseModel):
    """What is read back of a message civicbot sent: its id (the rest of Telegram's answer is left unread)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    message_id: int


# aiogram's send methods, the same requests, answered with the sent message's id only (see the module's docstring)
class SendMessageForId(SendMessage):
    __returning__ = SentId  # type: ignore[assignment]  # the same answer, read as less than a Message

    if TYPE_CHECKING:  # aiogram's own method spells its parameters out for type checkers; these take the same
        def __init__(self, **fields: Any) -> None: ...


class SendPhotoForId(SendPhoto):
    __returning__ = SentId  # type: ignore[assignment]  # the same answer, read as less than a Message

    if TYPE_CHECKING:  # aiogram's own method spells its parameters out for type checkers; these take the same
        def __init__(self, **fields: Any) -> None: ...


class SendDocumentForId(SendDocument):
    __returning__ = SentId  # type: ignore[assignment]  # the same answer, read as less than a Message

    if TYPE_CHECKING:  # aiogram's own method spells its parameters out for type checkers; these take the same
        def __init__(self, **fields: Any) -> None: ...
