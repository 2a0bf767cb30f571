"""The user side of the fake: a Telegram user who writes to the bot, sends files and presses its buttons."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .formatting import utf16_len
from .records import SentMessage

if TYPE_CHECKING:
    from .server import FakeTelegram


class FakeUser:
    """A Telegram user who writes to the bot; every action queues an update and returns it."""

    def __init__(
        self,
        tg: FakeTelegram,
        user_id: int,
        first_name: str,
        language_code: str | None,
        username: str | None,
        token: str,
    ) -> None:
        self.tg = tg
        self.id = user_id
        self.first_name = first_name
        self.language_code = language_code
        self.username = username
        self.token = token

    @property
    def user(self) -> dict[str, Any]:
        """The ``User`` object Telegram puts in ``from``."""
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    @property
    def chat(self) -> dict[str, Any]:
        """The private ``Chat`` with the bot."""
        chat: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.username:
            chat["username"] = self.username
        return chat

    async def send_text(self, text: str) -> dict[str, Any]:
        """Send a text message; a leading ``/command`` gets its bot_command entity like Telegram adds."""
        message = self._new_message()
        message["text"] = text
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [{"offset": 0, "length": utf16_len(command), "type": "bot_command"}]
        return self.tg._enqueue(self.token, {"message": message})

    async def send_photo(self, data: bytes, caption: str | None = None) -> dict[str, Any]:
        """Send a photo; getFile and the download endpoint then serve ``data`` for every size."""
        message = self._new_message()
        message["photo"] = self.tg._files.register_photo(data)
        if caption:
            message["caption"] = caption
        return self.tg._enqueue(self.token, {"message": message})

    async def send_contact(self, phone_number: str, first_name: str) -> dict[str, Any]:
        """Share a contact card (the phone book's, or the user's own)."""
        message = self._new_message()
        message["contact"] = {"phone_number": phone_number, "first_name": first_name}
        return self.tg._enqueue(self.token, {"message": message})

    async def send_document(
        self, data: bytes, filename: str, caption: str | None = None, mime_type: str | None = None
    ) -> dict[str, Any]:
        """Send a file as a document."""
        message = self._new_message()
        message["document"] = self.tg._files.register_document(data, filename, mime_type)
        if caption:
            message["caption"] = caption
        return self.tg._enqueue(self.token, {"message": message})

    async def press(self, message: Any, callback_data: str, *, check: bool = True) -> dict[str, Any]:
        """Press an inline button of a bot message (SentMessage, aiogram Message or message id).

        With ``check`` the button must be on the message's current keyboard, as in a real client;
        pass ``check=False`` to forge callback data.
        """
        chat_id, message_id = self._locate(message)
        state = self.tg._state(self.token)
        current = state.messages.get((chat_id, message_id))
        if current is None:
            raise ValueError(f"message {message_id} in chat {chat_id} does not exist (deleted or never sent)")
        if check:
            rows = (current.get("reply_markup") or {}).get("inline_keyboard") or []
            offered = [button.get("callback_data") for row in rows for button in row]
            if callback_data not in offered:
                raise ValueError(
                    f"no button with callback_data {callback_data!r}; current buttons: {offered}"
                )
        query_id = str(next(self.tg._query_seq))
        state.callback_queries[query_id] = self.tg.clock()
        query = {
            "id": query_id,
            "from": self.user,
            "message": dict(current),  # a snapshot: later edits must not change a queued update
            "chat_instance": str(-(abs(chat_id) * 7919 % 10**18)),
            "data": callback_data,
        }
        return self.tg._enqueue(self.token, {"callback_query": query})

    def messages(self) -> list[SentMessage]:
        """What the bot sent to this user so far."""
        return self.tg.messages_to(self.id)

    async def wait_for_messages(self, n: int = 1, timeout: float = 5.0) -> list[SentMessage]:
        return await self.tg.wait_for_messages(self.id, n, timeout)

    def _new_message(self) -> dict[str, Any]:
        state = self.tg._state(self.token)
        message: dict[str, Any] = {
            "message_id": state.take_message_id(self.id),
            "from": self.user,
            "chat": self.chat,
            "date": int(time.time()),
        }
        state.messages[(self.id, message["message_id"])] = message
        return message

    def _locate(self, message: Any) -> tuple[int, int]:
        if isinstance(message, int):
            return self.id, message
        if isinstance(message, SentMessage):
            return message.chat_id, message.message_id
        chat = getattr(message, "chat", None)
        return (chat.id if chat is not None else self.id), message.message_id
