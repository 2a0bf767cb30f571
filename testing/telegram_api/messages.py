"""What the bot does in chats: sends, edits and deletes messages, shows chat actions, answers button presses.

Each is checked like Telegram checks it and recorded on the ``FakeTelegram`` for tests to read.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from .bot_state import BotState
from .files import FileStore, StoredFile
from .formatting import MAX_CAPTION_LENGTH, MAX_TEXT_LENGTH, formatted
from .limits import RateWindows
from .markup import reply_markup
from .protocol import Params, Upload, bad_request, maybe_int
from .records import AnsweredCallback, ChatAction, EditRecord, SentMessage

if TYPE_CHECKING:
    from .server import FakeTelegram

MAX_CALLBACK_ANSWER_LENGTH = 200

_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
_QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"


class Messages:
    """The Bot API methods that write into chats, with the chats they may write to."""

    def __init__(self, tg: FakeTelegram, files: FileStore, windows: RateWindows) -> None:
        self.tg = tg  # its settings, clock, faults, stats and records are read at each call
        self.chats: dict[int, dict[str, Any]] = {}
        self._files = files
        self._windows = windows
        self._by_chat: defaultdict[int, list[SentMessage]] = defaultdict(list)
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []

    def clear(self) -> None:
        """Forget what was sent (the known chats stay)."""
        self._by_chat.clear()

    def sent_to(self, chat_id: int) -> list[SentMessage]:
        return list(self._by_chat.get(chat_id, ()))

    async def wait_for(self, chat_id: int, n: int = 1, timeout: float = 5.0) -> list[SentMessage]:
        """Wait until the bot has sent at least ``n`` messages to ``chat_id``; TimeoutError otherwise."""
        if len(self._by_chat.get(chat_id, ())) >= n:
            return self.sent_to(chat_id)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (chat_id, n, waiter)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            got = [m.plain_text for m in self.sent_to(chat_id)]
            raise TimeoutError(
                f"expected {n} messages to chat {chat_id} within {timeout}s, got {got}"
            ) from None
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)
        return self.sent_to(chat_id)

    def _chat_id(self, params: Params) -> int:
        raw = params.values.get("chat_id")
        if raw is None or raw == "":
            raise bad_request("chat_id is empty")
        chat_id = maybe_int(raw)
        if chat_id is None or (self.tg.strict_chats and chat_id not in self.chats):
            raise bad_request("chat not found")
        return chat_id

    def _chat(self, chat_id: int) -> dict[str, Any]:
        chat = self.chats.get(chat_id)
        if chat is not None:
            return chat
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "User"}
        return {"id": chat_id, "type": "group", "title": "Group"}

    def _reply_to(self, state: BotState, chat_id: int, params: Params) -> dict[str, Any] | None:
        reply = params.json("reply_parameters", "reply parameters")
        message_id = (
            reply.get("message_id") if isinstance(reply, dict) else params.integer("reply_to_message_id")
        )
        if message_id is None:
            return None
        original = state.messages.get((chat_id, int(message_id)))
        allow_missing = isinstance(reply, dict) and reply.get("allow_sending_without_reply")
        if original is None and not allow_missing:
            raise bad_request("message to be replied not found")
        return original

    def _store_sent(
        self,
        state: BotState,
        params: Params,
        method: str,
        chat_id: int,
        body: dict[str, Any],
        text: str | None,
        plain: str | None,
        media: bytes | None = None,
        filename: str | None = None,
    ) -> dict[str, Any]:
        markup = reply_markup(params)
        reply_to = self._reply_to(state, chat_id, params)
        message: dict[str, Any] = {
            "message_id": state.take_message_id(chat_id),
            "from": state.bot_user(),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
        }
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        message.update(body)
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup  # Telegram echoes only inline keyboards
        state.messages[(chat_id, message["message_id"])] = message
        now = self.tg.clock()
        limit = self.tg.faults.rate_limit
        if limit is not None and method.lower() in limit.methods:
            self._windows.commit(limit, chat_id, now)
        record = SentMessage(
            chat_id=chat_id,
            text=text,
            parse_mode=params.text("parse_mode"),
            reply_markup=markup,
            method=method,
            message_id=message["message_id"],
            media=media,
            filename=filename,
            at=now,
            plain_text=plain,
            token=state.token,
            params=params.values,
        )
        self.tg.sent.append(record)
        self._by_chat[chat_id].append(record)
        self.tg.stats.sent_at.append(now)
        if self._waiters:
            self._wake_message_waiters(chat_id)
        return message

    def _wake_message_waiters(self, chat_id: int) -> None:
        count = len(self._by_chat[chat_id])
        for waited_chat, n, waiter in self._waiters:
            if waited_chat == chat_id and count >= n and not waiter.done():
                waiter.set_result(None)

    def send_message(self, state: BotState, params: Params) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        text = params.text("text") or ""
        plain, entities = formatted(text, params.text("parse_mode"), MAX_TEXT_LENGTH, "text")
        body: dict[str, Any] = {"text": plain}
        explicit = params.json("entities", "entities")
        if entities or explicit:
            body["entities"] = entities or explicit
        return self._store_sent(state, params, "sendMessage", chat_id, body, text, plain)

    def _caption_body(self, params: Params) -> tuple[dict[str, Any], str | None, str | None]:
        caption = params.text("caption")
        if not caption:
            return {}, caption, None
        plain, entities = formatted(caption, params.text("parse_mode"), MAX_CAPTION_LENGTH, "caption")
        body: dict[str, Any] = {"caption": plain}
        if entities:
            body["caption_entities"] = entities
        return body, caption, plain

    def send_photo(self, state: BotState, params: Params) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        source, data = self._files.media(params, "photo")
        body, caption, plain = self._caption_body(params)
        filename = source.filename if isinstance(source, Upload) else None
        body["photo"] = self._files.register_photo(data or b"")
        return self._store_sent(state, params, "sendPhoto", chat_id, body, caption, plain, data, filename)

    def send_document(self, state: BotState, params: Params) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        source, data = self._files.media(params, "document")
        body, caption, plain = self._caption_body(params)
        if isinstance(source, Upload):
            filename = source.filename or "document"
            body["document"] = self._files.register_document(source.data, filename, source.content_type)
        else:
            filename = source.file_path.rsplit("/", 1)[-1] if isinstance(source, StoredFile) else source
            body["document"] = self._files.register_document(data or b"", filename, None)
        return self._store_sent(state, params, "sendDocument", chat_id, body, caption, plain, data, filename)

    def _editable(self, state: BotState, params: Params) -> tuple[int, int, dict[str, Any]]:
        if params.text("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")  # the fake has no inline messages
        chat_id = self._chat_id(params)
        message_id = params.integer("message_id", empty="message identifier is not specified")
        assert message_id is not None
        message = state.messages.get((chat_id, message_id))
        if message is None:
            raise bad_request("message to edit not found")
        if not message.get("from", {}).get("is_bot"):
            raise bad_request("message can't be edited")
        return chat_id, message_id, message

    def _record_edit(
        self,
        state: BotState,
        params: Params,
        method: str,
        chat_id: int,
        message_id: int,
        text: str | None,
        plain: str | None,
        markup: dict[str, Any] | None,
    ) -> None:
        self.tg.edits.append(
            EditRecord(
                chat_id,
                message_id,
                method,
                text,
                params.text("parse_mode"),
                markup,
                self.tg.clock(),
                plain,
                state.token,
            )
        )

    def edit_message_text(self, state: BotState, params: Params) -> dict[str, Any]:
        chat_id, message_id, message = self._editable(state, params)
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        text = params.text("text") or ""
        plain, entities = formatted(text, params.text("parse_mode"), MAX_TEXT_LENGTH, "text")
        entities = entities or params.json("entities", "entities") or []
        markup = reply_markup(params)
        if (
            plain == message["text"]
            and entities == message.get("entities", [])
            and markup == message.get("reply_markup")
        ):
            raise bad_request(_NOT_MODIFIED)
        message["text"] = plain
        message.pop("entities", None)
        if entities:
            message["entities"] = entities
        self._set_markup(message, markup)
        message["edit_date"] = int(time.time())
        self._record_edit(state, params, "editMessageText", chat_id, message_id, text, plain, markup)
        return message

    def edit_message_reply_markup(self, state: BotState, params: Params) -> dict[str, Any]:
        chat_id, message_id, message = self._editable(state, params)
        markup = reply_markup(params)
        if markup == message.get("reply_markup"):
            raise bad_request(_NOT_MODIFIED)
        self._set_markup(message, markup)
        message["edit_date"] = int(time.time())
        self._record_edit(state, params, "editMessageReplyMarkup", chat_id, message_id, None, None, markup)
        return message

    @staticmethod
    def _set_markup(message: dict[str, Any], markup: dict[str, Any] | None) -> None:
        # An edit without reply_markup removes the inline keyboard, as on Telegram.
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)

    def delete_message(self, state: BotState, params: Params) -> bool:
        chat_id = self._chat_id(params)
        message_id = params.integer("message_id", empty="message identifier is not specified")
        assert message_id is not None
        if state.messages.pop((chat_id, message_id), None) is None:
            raise bad_request("message to delete not found")
        self.tg.deleted.append((chat_id, message_id))
        return True

    def answer_callback_query(self, state: BotState, params: Params) -> bool:
        query_id = params.text("callback_query_id") or ""
        created = state.callback_queries.get(query_id)
        if created is None or self.tg.clock() - created > self.tg.callback_query_ttl:
            state.callback_queries.pop(query_id, None)
            raise bad_request(_QUERY_TOO_OLD)
        text = params.text("text")
        if text is not None and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise bad_request("MESSAGE_TOO_LONG")
        del state.callback_queries[query_id]
        self.tg.answered_callbacks.append(
            AnsweredCallback(
                query_id, text, params.flag("show_alert"), params.text("url"), self.tg.clock(), state.token
            )
        )
        return True

    def send_chat_action(self, state: BotState, params: Params) -> bool:
        chat_id = self._chat_id(params)
        action = params.text("action") or ""
        if action not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self.tg.chat_actions.append(ChatAction(chat_id, action, self.tg.clock()))
        return True
