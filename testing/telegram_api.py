"""A fake Telegram Bot API server on 127.0.0.1 that the real aiogram talks to over HTTP.

Used by tests and benchmarks: it validates requests like Telegram, records what the bot sent, injects
user updates (long polling or webhook), and injects faults (429, 5xx, 403, latency, Telegram's rate limits).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import mimetypes
import random
import re
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import ClientError, ClientSession, ClientTimeout, web

DEFAULT_TOKEN = "123456:TEST"
DEFAULT_BOT_USERNAME = "civicbot_test_bot"

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024

# Lower-case method names (Telegram matches method names case-insensitively).
SEND_METHODS = frozenset({"sendmessage", "sendphoto", "senddocument"})

_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_LANGUAGE_RE = re.compile(r"^[a-z]{2}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
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
_SCOPE_TYPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)
_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
# Telegram leaves these out unless allowed_updates names them explicitly.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
_QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
_NGINX_PAGE = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n"
)


class ApiError(Exception):
    """A Telegram error reply: HTTP status, description and optional ``parameters``."""

    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


# ---------------------------------------------------------------------------------------------------------
# Telegram's HTML parse mode


_SPECIAL = re.compile(r"[<&]")
_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_ATTRIBUTE = re.compile(r"""\s*([A-Za-z_][-A-Za-z0-9_]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")
_ENTITY_IN_ATTRIBUTE = re.compile(r"&([#A-Za-z0-9]{1,10});")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
}


def _utf16_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def _decode_entity(name: str) -> str | None:
    if name.startswith(("#x", "#X")):
        digits, base = name[2:], 16
    elif name.startswith("#"):
        digits, base = name[1:], 10
    else:
        return _NAMED_ENTITIES.get(name)
    try:
        code = int(digits, base)
        return chr(code) if 0 < code <= 0x10FFFF else None
    except ValueError:
        return None


def _unescape_attribute(value: str) -> str:
    return _ENTITY_IN_ATTRIBUTE.sub(lambda m: _decode_entity(m.group(1)) or m.group(0), value)


@dataclass
class _OpenTag:
    name: str
    start: int
    attributes: dict[str, str]


def _entities_error(source: str, index: int, what: str) -> ApiError:
    offset = len(source[:index].encode("utf-8"))
    return _bad(f"can't parse entities: {what.format(offset=offset)}")


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram-flavoured HTML into (plain text, entities); raise ApiError (400) on bad markup.

    Stricter than Telegram in one way: a bare ``&`` that starts no entity is rejected, so unescaped
    user input fails in tests instead of rendering by luck.
    """
    parts: list[str] = []
    position = 0  # in UTF-16 code units, like entity offsets
    stack: list[_OpenTag] = []
    entities: list[dict[str, Any]] = []
    i = 0
    while True:
        special = _SPECIAL.search(source, i)
        end = special.start() if special else len(source)
        if end > i:
            chunk = source[i:end]
            parts.append(chunk)
            position += _utf16_len(chunk)
        if special is None:
            break
        if source[end] == "&":
            semicolon = source.find(";", end + 1, end + 12)
            char = _decode_entity(source[end + 1 : semicolon]) if semicolon != -1 else None
            if char is None:
                raise _entities_error(
                    source, end, 'Unsupported HTML entity or unescaped "&" at byte offset {offset}'
                )
            parts.append(char)
            position += _utf16_len(char)
            i = semicolon + 1
        elif source.startswith("</", end):
            i = _close_tag(source, end, stack, position, entities)
        else:
            i = _open_tag(source, end, stack, position)
    if stack:
        raise _bad(
            f"can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1].name}\""
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(parts), entities


def _open_tag(source: str, start: int, stack: list[_OpenTag], position: int) -> int:
    name_match = _TAG_NAME.match(source, start + 1)
    name = name_match.group(0).lower() if name_match else ""
    if name not in _HTML_ENTITY_TYPES:
        raise _entities_error(source, start, f'Unsupported start tag "{name}" at byte offset {{offset}}')
    attributes: dict[str, str] = {}
    i = name_match.end() if name_match else start + 1
    while True:
        while i < len(source) and source[i].isspace():
            i += 1
        if i >= len(source):
            raise _entities_error(source, start, "Unclosed start tag at byte offset {offset}")
        if source[i] == ">":
            break
        attribute = _ATTRIBUTE.match(source, i)
        if attribute is None or attribute.end() == i:
            raise _entities_error(source, start, "Unclosed start tag at byte offset {offset}")
        value = next((v for v in attribute.group(2, 3, 4) if v is not None), "")
        attributes[attribute.group(1).lower()] = _unescape_attribute(value)
        i = attribute.end()
    if name == "span" and attributes.get("class") != "tg-spoiler":
        raise _entities_error(
            source, start, 'Tag "span" must have class "tg-spoiler" at byte offset {offset}'
        )
    stack.append(_OpenTag(name, position, attributes))
    return i + 1


def _close_tag(
    source: str, start: int, stack: list[_OpenTag], position: int, entities: list[dict[str, Any]]
) -> int:
    close = source.find(">", start)
    if close == -1:
        raise _entities_error(source, start, "Unclosed end tag at byte offset {offset}")
    name = source[start + 2 : close].strip().lower()
    if not stack:
        raise _entities_error(source, start, "Unexpected end tag at byte offset {offset}")
    tag = stack.pop()
    if name != tag.name:
        raise _entities_error(
            source,
            start,
            f'Unmatched end tag at byte offset {{offset}}, expected "</{tag.name}>", found "</{name}>"',
        )
    length = position - tag.start
    language = tag.attributes.get("class", "")
    if tag.name == "code" and stack and stack[-1].name == "pre" and language.startswith("language-"):
        # <pre><code class="language-x"> is one pre entity with a language, not two entities.
        stack[-1].attributes["language"] = language.removeprefix("language-")
        return close + 1
    if length == 0 or (tag.name == "a" and "href" not in tag.attributes):
        return close + 1
    entity: dict[str, Any] = {"type": _HTML_ENTITY_TYPES[tag.name], "offset": tag.start, "length": length}
    if tag.name == "a":
        entity["url"] = tag.attributes["href"]
    elif tag.name == "pre" and "language" in tag.attributes:
        entity["language"] = tag.attributes["language"]
    elif tag.name == "blockquote" and "expandable" in tag.attributes:
        entity["type"] = "expandable_blockquote"
    entities.append(entity)
    return close + 1


# ---------------------------------------------------------------------------------------------------------
# Public records


@dataclass
class SentMessage:
    """One message the bot sent (sendMessage, sendPhoto, sendDocument), as Telegram accepted it."""

    chat_id: int
    text: str | None  # text, or caption for media, exactly as the bot sent it (markup included)
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    method: str
    message_id: int
    media: bytes | None = None
    filename: str | None = None
    at: float = 0.0  # the fake's clock
    plain_text: str | None = None  # text after entity parsing: what the user reads
    token: str = DEFAULT_TOKEN
    params: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """All inline keyboard buttons, row by row, flattened."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]

    def button(self, text: str) -> dict[str, Any]:
        """The first inline button whose label contains ``text``."""
        for button in self.buttons:
            if text in button.get("text", ""):
                return button
        raise KeyError(f"no button containing {text!r}; buttons: {[b.get('text') for b in self.buttons]}")


@dataclass
class EditRecord:
    """One successful editMessageText / editMessageReplyMarkup."""

    chat_id: int
    message_id: int
    method: str
    text: str | None
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    at: float
    plain_text: str | None = None
    token: str = DEFAULT_TOKEN


@dataclass
class AnsweredCallback:
    """One accepted answerCallbackQuery."""

    query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    at: float
    token: str = DEFAULT_TOKEN


@dataclass
class ChatAction:
    """One sendChatAction."""

    chat_id: int
    action: str
    at: float


@dataclass
class WebhookAttempt:
    """One POST of an update to the webhook; ``status`` is None when the connection failed."""

    update_id: int
    url: str
    status: int | None
    error: str | None
    secret_token: str | None
    at: float


@dataclass(frozen=True)
class RetryAfterRecord:
    """One 429 served; ``attempt_index`` points into ``Stats.attempts[chat_id]``."""

    method: str
    chat_id: int | None
    retry_after: int
    at: float
    attempt_index: int | None


@dataclass(frozen=True)
class EarlyRetry:
    """A send to a chat that came before the retry_after of an earlier 429 had elapsed."""

    chat_id: int
    rejected_at: float
    retry_after: int
    retried_at: float


@dataclass
class Stats:
    """Counters for assertions and benchmarks (times are the fake's clock)."""

    requests: Counter[str] = field(default_factory=Counter)  # per method, as Telegram names it
    statuses: Counter[int] = field(default_factory=Counter)  # HTTP status codes served by faults/errors/ok
    retry_afters: list[RetryAfterRecord] = field(default_factory=list)
    attempts: defaultdict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    sent_at: list[float] = field(default_factory=list)

    @property
    def served_429(self) -> int:
        return len(self.retry_afters)

    def early_retries(self) -> list[EarlyRetry]:
        """Sends to a chat made before a 429's retry_after elapsed (should be empty for a polite client)."""
        early = []
        for record in self.retry_afters:
            if record.chat_id is None or record.attempt_index is None:
                continue
            times = self.attempts[record.chat_id]
            following = record.attempt_index + 1
            if following < len(times) and times[following] < record.at + record.retry_after:
                early.append(EarlyRetry(record.chat_id, record.at, record.retry_after, times[following]))
        return early


# ---------------------------------------------------------------------------------------------------------
# Faults


@dataclass(frozen=True)
class Fault:
    """An error reply the fake serves instead of handling a request."""

    status: int
    description: str = ""
    retry_after: int | None = None
    body: str | None = None  # a raw non-JSON body (e.g. nginx's HTML page)
    drop_connection: bool = False

    @classmethod
    def too_many_requests(cls, retry_after: int = 3) -> Fault:
        return cls(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        """500 is Telegram's JSON error; 502/503/504 are nginx HTML pages, as the real front end serves."""
        if status == 500:
            return cls(500, "Internal Server Error")
        reasons = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}
        reason = reasons.get(status, "Error")
        return cls(status, reason, body=_NGINX_PAGE.format(code=status, reason=reason))

    @classmethod
    def blocked(cls) -> Fault:
        return cls(403, "Forbidden: bot was blocked by the user")

    @classmethod
    def bad_request(cls, description: str) -> Fault:
        return cls(400, f"Bad Request: {description}")

    @classmethod
    def disconnect(cls) -> Fault:
        """Close the connection without answering (the client sees a network error)."""
        return cls(0, "connection dropped", drop_connection=True)


@dataclass
class RateLimit:
    """Telegram's flood limits as a sliding window over accepted sends.

    ``chat_burst`` above 1 allows a chat the short bursts Telegram tolerates ("We may allow short bursts
    that go over this limit", Bots FAQ): then a chat takes ``per_chat`` messages per ``window`` on average
    and up to ``chat_burst`` at once (a GCRA bucket over the moments sends arrive) instead of a strict
    sliding window."""

    per_chat: int = 1
    overall: int = 30
    window: float = 1.0
    chat_burst: int = 1
    group_per_minute: int | None = 20  # chats with a negative id
    methods: frozenset[str] = SEND_METHODS  # lower-case method names


@dataclass
class _Scheduled:
    method: str
    fault: Fault
    remaining: int
    chat_id: int | None


class Faults:
    """What goes wrong, and when. Method names are Telegram's (any case); ``"*"`` matches every method."""

    def __init__(self, seed: int = 0) -> None:
        self.latency: float = 0.0
        self.latency_by_method: dict[str, float] = {}
        self.blocked_chats: set[int] = set()
        self.rate_limit: RateLimit | None = None
        self._scheduled: list[_Scheduled] = []
        self._random: list[tuple[str, float, Fault]] = []
        self._rng = random.Random(seed)

    def fail_next(self, method: str, fault: Fault, times: int = 1, chat_id: int | None = None) -> None:
        """Serve ``fault`` for the next ``times`` calls of ``method`` (optionally only for ``chat_id``)."""
        self._scheduled.append(_Scheduled(method.lower(), fault, times, chat_id))

    def fail_randomly(self, method: str, probability: float, fault: Fault) -> None:
        """Serve ``fault`` for each call of ``method`` with ``probability`` (seeded, reproducible)."""
        self._random.append((method.lower(), probability, fault))

    def clear(self) -> None:
        self.latency = 0.0
        self.latency_by_method.clear()
        self.blocked_chats.clear()
        self.rate_limit = None
        self._scheduled.clear()
        self._random.clear()

    @property
    def active(self) -> bool:
        return bool(
            self.latency
            or self.latency_by_method
            or self.blocked_chats
            or self.rate_limit
            or self._scheduled
            or self._random
        )

    def _pick(self, method: str, chat_id: int | None) -> Fault | None:
        for item in self._scheduled:
            if item.remaining > 0 and item.method in (method, "*") and item.chat_id in (None, chat_id):
                item.remaining -= 1
                if item.remaining == 0:
                    self._scheduled.remove(item)
                return item.fault
        for name, probability, fault in self._random:
            if name in (method, "*") and self._rng.random() < probability:
                return fault
        return None

    def _latency_for(self, method: str) -> float:
        return self.latency_by_method.get(method, self.latency_by_method.get(method.lower(), self.latency))


# ---------------------------------------------------------------------------------------------------------
# Internal state


@dataclass
class _Upload:
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes


class _Params:
    """Request parameters as Telegram reads them: form fields, query string or JSON body."""

    __slots__ = ("files", "values")

    def __init__(self, values: dict[str, Any], files: dict[str, _Upload]) -> None:
        self.values = values
        self.files = files

    def text(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None or isinstance(value, str):
            return value
        return str(value)

    def integer(self, name: str, empty: str | None = None) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            if empty is not None:
                raise _bad(empty)
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise _bad(f"invalid {name} specified") from None

    def flag(self, name: str) -> bool:
        return self.values.get(name) in (True, "true", "True", "1", 1)

    def json(self, name: str, what: str) -> Any:
        value = self.values.get(name)
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError:
            raise _bad(f"can't parse {what} JSON object") from None

    def upload(self, name: str) -> _Upload | str | None:
        """The uploaded file for ``name`` (``attach://key`` or a part named ``name``), else its string value."""
        value = self.values.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = self.files.get(value.removeprefix("attach://"))
            if upload is None:
                raise _bad(f'can\'t find attached file "{value}"')
            return upload
        if value is None and name in self.files:
            return self.files[name]
        return self.text(name)


class _BotState:
    def __init__(self, token: str, username: str, first_name: str) -> None:
        self.token = token
        self.id = int(token.split(":", 1)[0])
        self.username = username
        self.first_name = first_name
        self.changed = asyncio.Event()
        # Monotonic across reset(): a running poller's offset and ticket must stay meaningful.
        self.next_update_id = 100_000_001
        self.poll_seq = 0
        self.webhook_generation = 0
        self.clear()

    def clear(self) -> None:
        self.updates: deque[dict[str, Any]] = deque()
        self.allowed_updates: list[str] | None = None
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_max_connections = 40
        self.last_error_date: int | None = None
        self.last_error_message: str | None = None
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.next_message_id: defaultdict[int, int] = defaultdict(lambda: 1)
        self.callback_queries: dict[str, float] = {}
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.restart_webhook_queues()
        self.notify()

    def notify(self) -> None:
        """Wake everyone waiting for a change of the update queue (pollers, webhook loop, drains)."""
        event, self.changed = self.changed, asyncio.Event()
        event.set()

    def queue_for_webhook(self, update: dict[str, Any]) -> None:
        key = _chat_key(update)
        queue = self.webhook_queues.get(key)
        if queue is None:
            self.webhook_queues[key] = deque([update])
            self.webhook_ready.append(key)
        else:
            queue.append(update)  # its chat is ready or in flight already

    def restart_webhook_queues(self) -> None:
        """Start webhook delivery afresh from the update queue (deliveries of older generations are ignored)."""
        self.webhook_generation += 1
        # Webhook delivery: one queue per chat, and the chats whose next update may be posted now.
        self.webhook_queues: dict[Any, deque[dict[str, Any]]] = {}
        self.webhook_ready: deque[Any] = deque()
        self.inflight = 0
        if self.webhook_url:
            for update in self.updates:
                self.queue_for_webhook(update)

    def take_message_id(self, chat_id: int) -> int:
        message_id = self.next_message_id[chat_id]
        self.next_message_id[chat_id] = message_id + 1
        return message_id

    def bot_user(self) -> dict[str, Any]:
        return {"id": self.id, "is_bot": True, "first_name": self.first_name, "username": self.username}


def _chat_key(update: dict[str, Any]) -> Any:
    for kind in ("message", "edited_message", "callback_query"):
        body = update.get(kind)
        if isinstance(body, dict):
            chat = body.get("chat") or (body.get("message") or {}).get("chat") or body.get("from") or {}
            if "id" in chat:
                return chat["id"]
    return ("update", update.get("update_id"))


def _maybe_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _json_response(status: int, payload: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=json.dumps(payload).encode(), content_type="application/json")


def _error_response(error: ApiError) -> web.Response:
    payload: dict[str, Any] = {"ok": False, "error_code": error.status, "description": error.description}
    if error.parameters:
        payload["parameters"] = error.parameters
    return _json_response(error.status, payload)


def _image_size(data: bytes) -> tuple[int, int]:
    try:
        from PIL import Image

        with Image.open(BytesIO(data)) as image:
            return image.size
    except Exception:  # not an image Pillow knows: Telegram would reject it; a test stub is fine
        return 1280, 960


# ---------------------------------------------------------------------------------------------------------
# Helpers for tests


class ManualClock:
    """A monotonic clock moved by hand: pass it as ``FakeTelegram(clock=...)`` (and to the code under test)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class LocalAiohttpSession(AiohttpSession):
    """aiogram's session without the 250 ms pause on close meant for TLS shutdown (plain HTTP here)."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def make_bot(base_url: str, token: str = DEFAULT_TOKEN, **bot_kwargs: Any) -> Bot:
    """A real aiogram Bot talking to the fake at ``base_url``; close it with ``await bot.session.close()``."""
    session = LocalAiohttpSession(api=TelegramAPIServer.from_base(base_url))
    return Bot(token, session=session, **bot_kwargs)


# ---------------------------------------------------------------------------------------------------------
# The fake user


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
            message["entities"] = [{"offset": 0, "length": _utf16_len(command), "type": "bot_command"}]
        return self.tg._enqueue(self.token, {"message": message})

    async def send_photo(self, data: bytes, caption: str | None = None) -> dict[str, Any]:
        """Send a photo; getFile and the download endpoint then serve ``data`` for every size."""
        message = self._new_message()
        message["photo"] = self.tg._register_photo(data)
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
        message["document"] = self.tg._register_document(data, filename, mime_type)
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
        message = {
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


# ---------------------------------------------------------------------------------------------------------
# The server


Handler = Callable[[_BotState, _Params], Any]


class FakeTelegram:
    """The fake Bot API server: ``async with FakeTelegram() as tg:`` then point aiogram at ``tg.base_url``."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_username: str = DEFAULT_BOT_USERNAME,
        host: str = "127.0.0.1",
        port: int = 0,
        strict_chats: bool = False,
        auto_register_bots: bool = True,
        clock: Callable[[], float] = time.monotonic,
        webhook_retry_delay: float = 0.05,
        webhook_timeout: float = 10.0,
        callback_query_ttl: float = 15.0,
        seed: int = 0,
    ) -> None:
        self.default_token = token
        self.host = host
        self.port = port
        self.strict_chats = strict_chats
        self.auto_register_bots = auto_register_bots
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_timeout = webhook_timeout
        self.callback_query_ttl = callback_query_ttl
        self.clock = clock
        self.faults = Faults(seed)
        self.stats = Stats()
        self.sent: list[SentMessage] = []
        self.edits: list[EditRecord] = []
        self.answered_callbacks: list[AnsweredCallback] = []
        self.chat_actions: list[ChatAction] = []
        self.deleted: list[tuple[int, int]] = []
        self.webhook_attempts: list[WebhookAttempt] = []
        self._bots: dict[str, _BotState] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._files: dict[str, _StoredFile] = {}
        self._files_by_path: dict[str, _StoredFile] = {}
        self._sent_by_chat: defaultdict[int, list[SentMessage]] = defaultdict(list)
        self._message_waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._file_seq = itertools.count(1)
        self._query_seq = itertools.count(4_000_000_000_000_000_001)
        self._rate_all: deque[float] = deque()
        self._rate_chat: defaultdict[int, deque[float]] = defaultdict(deque)
        self._rate_group: defaultdict[int, deque[float]] = defaultdict(deque)
        self._rate_chat_tat: dict[int, float] = {}  # with a chat burst: each chat's theoretical arrival time
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._http: ClientSession | None = None
        self.base_url = ""
        self.add_bot(token, username=bot_username)
        self._handlers: dict[str, tuple[str, str, Handler, bool]] = {}
        for name, handler in (
            ("getMe", self._get_me),
            ("getUpdates", self._get_updates),
            ("setWebhook", self._set_webhook),
            ("deleteWebhook", self._delete_webhook),
            ("getWebhookInfo", self._get_webhook_info),
            ("sendMessage", self._send_message),
            ("sendPhoto", self._send_photo),
            ("sendDocument", self._send_document),
            ("editMessageText", self._edit_message_text),
            ("editMessageReplyMarkup", self._edit_message_reply_markup),
            ("deleteMessage", self._delete_message),
            ("answerCallbackQuery", self._answer_callback_query),
            ("sendChatAction", self._send_chat_action),
            ("getFile", self._get_file),
            ("setMyCommands", self._set_my_commands),
            ("getMyCommands", self._get_my_commands),
            ("deleteMyCommands", self._delete_my_commands),
        ):
            self._handlers[name.lower()] = (name, name.lower(), handler, asyncio.iscoroutinefunction(handler))

    # -- lifecycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_download)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0, handler_cancellation=True
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.base_url = f"http://{self.host}:{self.port}"
        self._http = ClientSession()

    async def close(self) -> None:
        """Stop webhook delivery, release long polls and shut the server down."""
        self._closing = True
        for state in self._bots.values():
            state.webhook_generation += 1
            state.notify()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def reset(self) -> None:
        """Forget updates, messages, files, webhooks, commands, recordings, stats and faults.

        Bots and users stay registered, and the server keeps its port.
        """
        for task in list(self._tasks):
            task.cancel()
        for state in self._bots.values():
            state.clear()
        self.faults.clear()
        self.stats = Stats()
        for record in (
            self.sent,
            self.edits,
            self.answered_callbacks,
            self.chat_actions,
            self.deleted,
            self.webhook_attempts,
        ):
            record.clear()
        self._sent_by_chat.clear()
        self._files.clear()
        self._files_by_path.clear()
        self._rate_all.clear()
        self._rate_chat.clear()
        self._rate_group.clear()
        self._rate_chat_tat.clear()

    # -- configuration and injection ----------------------------------------------------------------------

    def add_bot(self, token: str, username: str | None = None, first_name: str = "CivicBot Test") -> None:
        """Register another bot token (unknown well-formed tokens are auto-registered by default)."""
        if not _TOKEN_RE.match(token):
            raise ValueError(f"malformed bot token {token!r}")
        bot_id = token.split(":", 1)[0]
        self._bots[token] = _BotState(token, username or f"bot{bot_id}_bot", first_name)

    def add_chat(self, chat_id: int, chat_type: str = "group", title: str = "Test group") -> None:
        """Make a group or channel chat known (needed with ``strict_chats``)."""
        self._chats[chat_id] = {"id": chat_id, "type": chat_type, "title": title}

    def user(
        self,
        user_id: int,
        first_name: str = "测试用户",
        language_code: str | None = "zh-hans",
        username: str | None = None,
        token: str | None = None,
    ) -> FakeUser:
        """A user who talks to the bot ``token`` (default bot if None); the private chat becomes known."""
        token = token or self.default_token
        self._state(token)
        user = FakeUser(self, user_id, first_name, language_code, username, token)
        self._chats[user_id] = user.chat
        return user

    def inject_raw(self, update: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        """Queue any update dict as is; ``update_id`` is assigned when missing."""
        return self._enqueue(token or self.default_token, dict(update))

    # -- inspection ---------------------------------------------------------------------------------------

    def messages_to(self, chat_id: int) -> list[SentMessage]:
        return list(self._sent_by_chat.get(chat_id, ()))

    async def wait_for_messages(self, chat_id: int, n: int = 1, timeout: float = 5.0) -> list[SentMessage]:
        """Wait until the bot has sent at least ``n`` messages to ``chat_id``; TimeoutError otherwise."""
        if len(self._sent_by_chat.get(chat_id, ())) >= n:
            return self.messages_to(chat_id)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (chat_id, n, waiter)
        self._message_waiters.append(entry)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            got = [m.plain_text for m in self.messages_to(chat_id)]
            raise TimeoutError(
                f"expected {n} messages to chat {chat_id} within {timeout}s, got {got}"
            ) from None
        finally:
            if entry in self._message_waiters:
                self._message_waiters.remove(entry)
        return self.messages_to(chat_id)

    async def wait_confirmed(self, timeout: float = 5.0, token: str | None = None) -> None:
        """Wait until every queued update is confirmed (getUpdates offset moved past it, or webhook 2xx)."""
        state = self._state(token or self.default_token)
        deadline = asyncio.get_running_loop().time() + timeout
        while state.updates:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"{len(state.updates)} updates still unconfirmed after {timeout}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.changed.wait(), remaining)

    def pending_updates(self, token: str | None = None) -> list[dict[str, Any]]:
        """Updates queued and not yet confirmed."""
        return list(self._state(token or self.default_token).updates)

    def message(self, chat_id: int, message_id: int, token: str | None = None) -> dict[str, Any] | None:
        """The current state of a message (after edits) as Telegram would return it; None if deleted."""
        return self._state(token or self.default_token).messages.get((chat_id, message_id))

    def commands(
        self, scope: dict[str, Any] | None = None, language_code: str = "", token: str | None = None
    ) -> list[dict[str, str]] | None:
        """Commands set for ``scope`` (default scope if None) and ``language_code``; None if never set."""
        state = self._state(token or self.default_token)
        return state.commands.get((self._scope_key(scope), language_code))

    def webhook_url(self, token: str | None = None) -> str | None:
        return self._state(token or self.default_token).webhook_url

    def file_bytes(self, file_id: str) -> bytes:
        return self._files[file_id].data

    # -- HTTP ---------------------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        state = self._bots.get(token)
        if state is None:
            if not _TOKEN_RE.match(token):
                return _error_response(ApiError(404, "Not Found"))
            if not self.auto_register_bots:
                return _error_response(ApiError(401, "Unauthorized"))
            self.add_bot(token)
            state = self._bots[token]
        entry = self._handlers.get(request.match_info["method"].lower())
        if entry is None:
            self.stats.statuses[404] += 1
            return _error_response(ApiError(404, "Not Found"))
        name, key, handler, is_async = entry
        self.stats.requests[name] += 1
        try:
            params = await self._read_params(request)
            attempt_index = self._record_attempt(params) if key in SEND_METHODS else None
            if self.faults.active:
                fault_response = await self._apply_faults(request, name, key, params, attempt_index)
                if fault_response is not None:
                    return fault_response
            result = (await handler(state, params)) if is_async else handler(state, params)
        except ApiError as error:
            self.stats.statuses[error.status] += 1
            return _error_response(error)
        except web.HTTPRequestEntityTooLarge:
            self.stats.statuses[413] += 1
            return _error_response(ApiError(413, "Request Entity Too Large"))
        self.stats.statuses[200] += 1
        if isinstance(result, tuple):  # (result, description)
            return _json_response(200, {"ok": True, "result": result[0], "description": result[1]})
        return _json_response(200, {"ok": True, "result": result})

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        stored = self._files_by_path.get(request.match_info["path"])
        if request.match_info["token"] not in self._bots or stored is None:
            return _error_response(ApiError(404, "Not Found"))
        content_type = mimetypes.guess_type(stored.file_path)[0] or "application/octet-stream"
        return web.Response(body=stored.data, content_type=content_type)

    async def _read_params(self, request: web.Request) -> _Params:
        values: dict[str, Any] = dict(request.query)
        files: dict[str, _Upload] = {}
        if request.method == "POST":
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    values.update(body)
            else:
                for key, value in (await request.post()).items():
                    if isinstance(value, web.FileField):
                        files[key] = _Upload(value.filename, value.content_type, value.file.read())
                    else:
                        values[key] = value
        return _Params(values, files)

    def _record_attempt(self, params: _Params) -> int | None:
        """Note the arrival of a send; its index in ``stats.attempts[chat_id]``."""
        chat_id = _maybe_int(params.values.get("chat_id"))
        if chat_id is None:
            return None
        attempts = self.stats.attempts[chat_id]
        attempts.append(self.clock())
        return len(attempts) - 1

    async def _apply_faults(
        self, request: web.Request, name: str, key: str, params: _Params, attempt_index: int | None
    ) -> web.StreamResponse | None:
        faults = self.faults
        delay = faults._latency_for(name)
        if delay > 0:
            await asyncio.sleep(delay)
        chat_id = _maybe_int(params.values.get("chat_id"))
        now = self.clock()
        fault = faults._pick(key, chat_id)
        if fault is None and chat_id is not None and chat_id in faults.blocked_chats:
            fault = Fault.blocked()
        limit = faults.rate_limit
        if fault is None and limit is not None and key in limit.methods and chat_id is not None:
            retry_after = self._rate_retry_after(limit, chat_id, now)
            if retry_after:
                fault = Fault.too_many_requests(retry_after)
        if fault is None:
            return None
        if fault.retry_after is not None:
            self.stats.retry_afters.append(
                RetryAfterRecord(name, chat_id, fault.retry_after, now, attempt_index)
            )
        if fault.drop_connection:
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError  # the handler ends without a reply on a closed connection
        self.stats.statuses[fault.status] += 1
        if fault.body is not None:
            return web.Response(status=fault.status, text=fault.body, content_type="text/html")
        parameters = {"retry_after": fault.retry_after} if fault.retry_after is not None else None
        return _error_response(ApiError(fault.status, fault.description, parameters))

    # -- rate limiter -------------------------------------------------------------------------------------

    def _rate_retry_after(self, limit: RateLimit, chat_id: int, now: float) -> int:
        """Seconds until a send to ``chat_id`` fits all sliding windows (0: it fits now)."""
        wait = 0.0
        windows = [(self._rate_all, limit.overall, limit.window)]
        if limit.chat_burst > 1:
            interval = limit.window / limit.per_chat
            earliest = self._rate_chat_tat.get(chat_id, now) - (limit.chat_burst - 1) * interval
            wait = max(0.0, earliest - now)
        else:
            windows.append((self._rate_chat[chat_id], limit.per_chat, limit.window))
        if chat_id < 0 and limit.group_per_minute:
            windows.append((self._rate_group[chat_id], limit.group_per_minute, 60.0))
        for times, allowed, window in windows:
            while times and times[0] <= now - window:
                times.popleft()
            if len(times) >= allowed:
                wait = max(wait, times[len(times) - allowed] + window - now)
        return max(1, math.ceil(wait)) if wait > 0 else 0

    def _rate_commit(self, chat_id: int, now: float) -> None:
        self._rate_all.append(now)
        limit = self.faults.rate_limit
        if limit is not None and limit.chat_burst > 1:
            tat = self._rate_chat_tat.get(chat_id, now)
            self._rate_chat_tat[chat_id] = max(tat, now) + limit.window / limit.per_chat
        else:
            self._rate_chat[chat_id].append(now)
        if chat_id < 0:
            self._rate_group[chat_id].append(now)

    # -- updates ------------------------------------------------------------------------------------------

    def _state(self, token: str) -> _BotState:
        state = self._bots.get(token)
        if state is None:
            self.add_bot(token)
            state = self._bots[token]
        return state

    def _enqueue(self, token: str, update: dict[str, Any]) -> dict[str, Any]:
        state = self._state(token)
        if "update_id" in update:
            state.next_update_id = max(state.next_update_id, int(update["update_id"]) + 1)
        else:
            update = {"update_id": state.next_update_id, **update}
            state.next_update_id += 1
        kinds = update.keys() - {"update_id"}
        # Like Telegram, allowed_updates decides which updates are queued from now on.
        wanted = (
            bool(kinds & set(state.allowed_updates)) if state.allowed_updates else not kinds & _OPT_IN_UPDATES
        )
        if wanted:
            state.updates.append(update)
            if state.webhook_url:
                state.queue_for_webhook(update)
            state.notify()
        return update

    async def _get_updates(self, state: _BotState, params: _Params) -> list[dict[str, Any]]:
        if state.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
                "the webhook first",
            )
        offset = params.integer("offset") or 0
        limit = min(max(params.integer("limit") or 100, 1), 100)
        timeout = max(params.integer("timeout") or 0, 0)
        allowed = params.json("allowed_updates", "allowed updates")
        if isinstance(allowed, list):
            state.allowed_updates = allowed
        state.poll_seq += 1
        ticket = state.poll_seq
        if offset > 0:
            while state.updates and state.updates[0]["update_id"] < offset:
                state.updates.popleft()
        elif offset < 0:
            while len(state.updates) > -offset:
                state.updates.popleft()
        state.notify()  # ends an older long poll (409) and wakes drains
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if ticket != state.poll_seq:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
                    "is running",
                )
            if state.updates or self._closing:
                return list(itertools.islice(state.updates, limit))
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.changed.wait(), remaining)

    # -- webhook ------------------------------------------------------------------------------------------

    def _set_webhook(self, state: _BotState, params: _Params) -> tuple[bool, str]:
        url = params.text("url") or ""
        if not url:
            return self._delete_webhook(state, params)
        if not url.startswith(("http://", "https://")):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.text("secret_token")
        if secret is not None and not _SECRET_RE.match(secret):
            raise _bad("secret token contains unallowed characters")
        max_connections = params.integer("max_connections") or 40
        if not 1 <= max_connections <= 100:
            raise _bad("bad webhook: max_connections must be between 1 and 100")
        allowed = params.json("allowed_updates", "allowed updates")
        if isinstance(allowed, list):
            state.allowed_updates = allowed
        if params.flag("drop_pending_updates"):
            state.updates.clear()
        state.webhook_url = url
        state.webhook_secret = secret
        state.webhook_max_connections = max_connections
        state.restart_webhook_queues()
        state.notify()
        task = asyncio.create_task(self._webhook_loop(state, state.webhook_generation))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True, "Webhook was set"

    def _delete_webhook(self, state: _BotState, params: _Params) -> tuple[bool, str]:
        if params.flag("drop_pending_updates"):
            state.updates.clear()
        was_set = state.webhook_url is not None
        state.webhook_url = None
        state.webhook_secret = None
        state.restart_webhook_queues()
        state.notify()
        return True, "Webhook was deleted" if was_set else "Webhook is already deleted"

    def _get_webhook_info(self, state: _BotState, params: _Params) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": state.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(state.updates),
        }
        if state.webhook_url:
            info["max_connections"] = state.webhook_max_connections
            if state.allowed_updates:
                info["allowed_updates"] = state.allowed_updates
        if state.last_error_date is not None:
            info["last_error_date"] = state.last_error_date
            info["last_error_message"] = state.last_error_message
        return info

    async def _webhook_loop(self, state: _BotState, generation: int) -> None:
        # One delivery in flight per chat keeps each user's updates in order, like Telegram.
        while state.webhook_generation == generation and not self._closing:
            changed = state.changed
            while state.webhook_ready and state.inflight < state.webhook_max_connections:
                key = state.webhook_ready.popleft()
                state.inflight += 1
                task = asyncio.create_task(
                    self._deliver(state, generation, key, state.webhook_queues[key][0])
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            await changed.wait()

    async def _deliver(self, state: _BotState, generation: int, key: Any, update: dict[str, Any]) -> None:
        url, secret = state.webhook_url, state.webhook_secret
        delivered = False
        try:
            if url is None or self._http is None:
                return
            error = await self._post_update(self._http, url, secret, update)
            delivered = error is None
            if not delivered:
                state.last_error_date = int(time.time())
                state.last_error_message = error
                await asyncio.sleep(self.webhook_retry_delay)
        finally:
            if delivered and update in state.updates:
                state.updates.remove(update)
            if state.webhook_generation == generation:
                state.inflight -= 1
                queue = state.webhook_queues[key]
                if delivered:
                    queue.popleft()
                if queue:
                    state.webhook_ready.append(key)
                else:
                    del state.webhook_queues[key]
            state.notify()

    async def _post_update(
        self, http: ClientSession, url: str, secret: str | None, update: dict[str, Any]
    ) -> str | None:
        """POST one update to the webhook; the error Telegram would report, or None on a 2xx."""
        headers = {"Content-Type": "application/json"}
        if secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        status: int | None = None
        error: str | None = None
        try:
            async with http.post(
                url,
                data=json.dumps(update).encode(),
                headers=headers,
                timeout=ClientTimeout(total=self.webhook_timeout),
            ) as response:
                await response.read()
                status = response.status
                if not 200 <= status < 300:
                    error = f"Wrong response from the webhook: {status} {response.reason}"
        except (ClientError, TimeoutError, OSError) as exc:
            error = f"Connection failed: {type(exc).__name__}: {exc}"
        self.webhook_attempts.append(
            WebhookAttempt(update["update_id"], url, status, error, secret, self.clock())
        )
        return error

    # -- sending ------------------------------------------------------------------------------------------

    def _chat_id(self, params: _Params) -> int:
        raw = params.values.get("chat_id")
        if raw is None or raw == "":
            raise _bad("chat_id is empty")
        chat_id = _maybe_int(raw)
        if chat_id is None or (self.strict_chats and chat_id not in self._chats):
            raise _bad("chat not found")
        return chat_id

    def _chat(self, chat_id: int) -> dict[str, Any]:
        chat = self._chats.get(chat_id)
        if chat is not None:
            return chat
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "User"}
        return {"id": chat_id, "type": "group", "title": "Group"}

    @staticmethod
    def _formatted(
        text: str, parse_mode: str | None, limit: int, what: str
    ) -> tuple[str, list[dict[str, Any]]]:
        """Parse ``text`` per ``parse_mode`` and apply Telegram's length rules (``what``: text or caption)."""
        mode = (parse_mode or "").lower()
        if mode == "html":
            plain, entities = parse_html(text)
        elif mode in ("", "markdown", "markdownv2"):
            plain, entities = text, []
        else:
            raise _bad(f"unsupported parse_mode {parse_mode}")
        if what == "text" and not plain.strip():
            raise _bad("message text is empty")
        if len(plain) > limit:
            raise _bad("message is too long" if what == "text" else "message caption is too long")
        return plain, entities

    @staticmethod
    def _reply_markup(params: _Params) -> dict[str, Any] | None:
        markup = params.json("reply_markup", "reply keyboard markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            _check_inline_keyboard(markup["inline_keyboard"])
        elif "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                raise _bad('field "keyboard" of the ReplyKeyboardMarkup must be an Array of Arrays')
        elif not ({"remove_keyboard", "force_reply"} & set(markup)):
            raise _bad("can't parse reply keyboard markup JSON object")
        return markup

    def _reply_to(self, state: _BotState, chat_id: int, params: _Params) -> dict[str, Any] | None:
        reply = params.json("reply_parameters", "reply parameters")
        message_id = (
            reply.get("message_id") if isinstance(reply, dict) else params.integer("reply_to_message_id")
        )
        if message_id is None:
            return None
        original = state.messages.get((chat_id, int(message_id)))
        allow_missing = isinstance(reply, dict) and reply.get("allow_sending_without_reply")
        if original is None and not allow_missing:
            raise _bad("message to be replied not found")
        return original

    def _store_sent(
        self,
        state: _BotState,
        params: _Params,
        method: str,
        chat_id: int,
        body: dict[str, Any],
        text: str | None,
        plain: str | None,
        media: bytes | None = None,
        filename: str | None = None,
    ) -> dict[str, Any]:
        markup = self._reply_markup(params)
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
        now = self.clock()
        limit = self.faults.rate_limit
        if limit is not None and method.lower() in limit.methods:
            self._rate_commit(chat_id, now)
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
        self.sent.append(record)
        self._sent_by_chat[chat_id].append(record)
        self.stats.sent_at.append(now)
        if self._message_waiters:
            self._wake_message_waiters(chat_id)
        return message

    def _wake_message_waiters(self, chat_id: int) -> None:
        count = len(self._sent_by_chat[chat_id])
        for waited_chat, n, waiter in self._message_waiters:
            if waited_chat == chat_id and count >= n and not waiter.done():
                waiter.set_result(None)

    def _send_message(self, state: _BotState, params: _Params) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        text = params.text("text") or ""
        plain, entities = self._formatted(text, params.text("parse_mode"), MAX_TEXT_LENGTH, "text")
        body: dict[str, Any] = {"text": plain}
        explicit = params.json("entities", "entities")
        if entities or explicit:
            body["entities"] = entities or explicit
        return self._store_sent(state, params, "sendMessage", chat_id, body, text, plain)

    def _caption_body(self, params: _Params) -> tuple[dict[str, Any], str | None, str | None]:
        caption = params.text("caption")
        if not caption:
            return {}, caption, None
        plain, entities = self._formatted(caption, params.text("parse_mode"), MAX_CAPTION_LENGTH, "caption")
        body: dict[str, Any] = {"caption": plain}
        if entities:
            body["caption_entities"] = entities
        return body, caption, plain

    def _media(self, params: _Params, field_name: str) -> tuple[_Upload | _StoredFile | str, bytes | None]:
        value = params.upload(field_name)
        if value is None or value == "":
            raise _bad(f"there is no {field_name} in the request")
        if isinstance(value, _Upload):
            return value, value.data
        if value.startswith(("http://", "https://")):
            return value, None
        stored = self._files.get(value)
        if stored is None:
            raise _bad("wrong file identifier/HTTP URL specified")
        return stored, stored.data

    def _send_photo(self, state: _BotState, params: _Params) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        source, data = self._media(params, "photo")
        body, caption, plain = self._caption_body(params)
        filename = source.filename if isinstance(source, _Upload) else None
        body["photo"] = self._register_photo(data or b"")
        return self._store_sent(state, params, "sendPhoto", chat_id, body, caption, plain, data, filename)

    def _send_document(self, state: _BotState, params: _Params) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        source, data = self._media(params, "document")
        body, caption, plain = self._caption_body(params)
        if isinstance(source, _Upload):
            filename = source.filename or "document"
            body["document"] = self._register_document(source.data, filename, source.content_type)
        else:
            filename = source.file_path.rsplit("/", 1)[-1] if isinstance(source, _StoredFile) else source
            body["document"] = self._register_document(data or b"", filename, None)
        return self._store_sent(state, params, "sendDocument", chat_id, body, caption, plain, data, filename)

    # -- editing ------------------------------------------------------------------------------------------

    def _editable(self, state: _BotState, params: _Params) -> tuple[int, int, dict[str, Any]]:
        if params.text("inline_message_id"):
            raise _bad("MESSAGE_ID_INVALID")  # the fake has no inline messages
        chat_id = self._chat_id(params)
        message_id = params.integer("message_id", empty="message identifier is not specified")
        assert message_id is not None
        message = state.messages.get((chat_id, message_id))
        if message is None:
            raise _bad("message to edit not found")
        if not message.get("from", {}).get("is_bot"):
            raise _bad("message can't be edited")
        return chat_id, message_id, message

    def _record_edit(
        self,
        state: _BotState,
        params: _Params,
        method: str,
        chat_id: int,
        message_id: int,
        text: str | None,
        plain: str | None,
        markup: dict[str, Any] | None,
    ) -> None:
        self.edits.append(
            EditRecord(
                chat_id,
                message_id,
                method,
                text,
                params.text("parse_mode"),
                markup,
                self.clock(),
                plain,
                state.token,
            )
        )

    def _edit_message_text(self, state: _BotState, params: _Params) -> dict[str, Any]:
        chat_id, message_id, message = self._editable(state, params)
        if "text" not in message:
            raise _bad("there is no text in the message to edit")
        text = params.text("text") or ""
        plain, entities = self._formatted(text, params.text("parse_mode"), MAX_TEXT_LENGTH, "text")
        entities = entities or params.json("entities", "entities") or []
        markup = self._reply_markup(params)
        if (
            plain == message["text"]
            and entities == message.get("entities", [])
            and markup == message.get("reply_markup")
        ):
            raise _bad(_NOT_MODIFIED)
        message["text"] = plain
        message.pop("entities", None)
        if entities:
            message["entities"] = entities
        self._set_markup(message, markup)
        message["edit_date"] = int(time.time())
        self._record_edit(state, params, "editMessageText", chat_id, message_id, text, plain, markup)
        return message

    def _edit_message_reply_markup(self, state: _BotState, params: _Params) -> dict[str, Any]:
        chat_id, message_id, message = self._editable(state, params)
        markup = self._reply_markup(params)
        if markup == message.get("reply_markup"):
            raise _bad(_NOT_MODIFIED)
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

    def _delete_message(self, state: _BotState, params: _Params) -> bool:
        chat_id = self._chat_id(params)
        message_id = params.integer("message_id", empty="message identifier is not specified")
        assert message_id is not None
        if state.messages.pop((chat_id, message_id), None) is None:
            raise _bad("message to delete not found")
        self.deleted.append((chat_id, message_id))
        return True

    # -- callbacks, actions, files, commands --------------------------------------------------------------

    def _answer_callback_query(self, state: _BotState, params: _Params) -> bool:
        query_id = params.text("callback_query_id") or ""
        created = state.callback_queries.get(query_id)
        if created is None or self.clock() - created > self.callback_query_ttl:
            state.callback_queries.pop(query_id, None)
            raise _bad(_QUERY_TOO_OLD)
        text = params.text("text")
        if text is not None and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise _bad("MESSAGE_TOO_LONG")
        del state.callback_queries[query_id]
        self.answered_callbacks.append(
            AnsweredCallback(
                query_id, text, params.flag("show_alert"), params.text("url"), self.clock(), state.token
            )
        )
        return True

    def _send_chat_action(self, state: _BotState, params: _Params) -> bool:
        chat_id = self._chat_id(params)
        action = params.text("action") or ""
        if action not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        self.chat_actions.append(ChatAction(chat_id, action, self.clock()))
        return True

    def _get_file(self, state: _BotState, params: _Params) -> dict[str, Any]:
        stored = self._files.get(params.text("file_id") or "")
        if stored is None:
            raise _bad("invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD_SIZE:
            raise _bad("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    def _register_file(self, data: bytes, kind: str, extension: str) -> _StoredFile:
        number = next(self._file_seq)
        prefix = "AgACAgIAAxkBAAI" if kind == "photo" else "BQACAgIAAxkBAAI"
        stored = _StoredFile(
            f"{prefix}{number:08d}", f"AQAD{number:08d}", f"{kind}s/file_{number}{extension}", data
        )
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def _register_photo(self, data: bytes) -> list[dict[str, Any]]:
        """PhotoSize list like Telegram's (thumbnails up to the original); every size serves ``data``."""
        width, height = _image_size(data) if data else (1280, 960)
        sizes: list[dict[str, Any]] = []
        for side in (90, 320, 800, 1280, 2560):
            scale = min(1.0, side / max(width, height))
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            if sizes and (sizes[-1]["width"], sizes[-1]["height"]) == size:
                break
            stored = self._register_file(data, "photo", ".jpg")
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "file_size": len(data),
                    "width": size[0],
                    "height": size[1],
                }
            )
        return sizes

    def _register_document(self, data: bytes, filename: str, mime_type: str | None) -> dict[str, Any]:
        extension = "." + filename.rsplit(".", 1)[-1] if "." in filename else ""
        stored = self._register_file(data, "document", extension)
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": filename,
            "mime_type": mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream",
            "file_size": len(data),
        }

    @staticmethod
    def _scope_key(scope: Any) -> str:
        if scope is None:
            scope = {"type": "default"}
        if not isinstance(scope, dict) or scope.get("type") not in _SCOPE_TYPES:
            raise _bad("can't parse BotCommandScope: unsupported scope type")
        if scope["type"].startswith("chat") and _maybe_int(scope.get("chat_id")) is None:
            raise _bad("can't parse BotCommandScope: chat_id is required")
        normalized = {k: (_maybe_int(v) if k in ("chat_id", "user_id") else v) for k, v in scope.items()}
        return json.dumps(normalized, sort_keys=True)

    @staticmethod
    def _language(params: _Params) -> str:
        language = params.text("language_code") or ""
        if language and not _LANGUAGE_RE.match(language):
            raise _bad("LANG_CODE_INVALID")
        return language

    def _set_my_commands(self, state: _BotState, params: _Params) -> bool:
        commands = params.json("commands", "commands")
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad("too many commands")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_RE.match(str(command.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description") or "")) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        key = (self._scope_key(params.json("scope", "BotCommandScope")), self._language(params))
        if commands:
            state.commands[key] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        else:
            state.commands.pop(key, None)
        return True

    def _get_my_commands(self, state: _BotState, params: _Params) -> list[dict[str, str]]:
        key = (self._scope_key(params.json("scope", "BotCommandScope")), self._language(params))
        return state.commands.get(key, [])

    def _delete_my_commands(self, state: _BotState, params: _Params) -> bool:
        key = (self._scope_key(params.json("scope", "BotCommandScope")), self._language(params))
        state.commands.pop(key, None)
        return True

    def _get_me(self, state: _BotState, params: _Params) -> dict[str, Any]:
        return {
            **state.bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }


def _check_inline_keyboard(rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
    if sum(len(row) for row in rows) > 100:
        raise _bad("REPLY_MARKUP_TOO_LONG")
    for row in rows:
        for button in row:
            if not isinstance(button, dict):
                raise _bad("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
            text = button.get("text")
            if not isinstance(text, str):
                raise _bad("can't parse inline keyboard button: Can't find field \"text\"")
            if not text.strip():
                raise _bad("BUTTON_TEXT_INVALID")
            actions = [name for name in _BUTTON_ACTIONS if name in button]
            if not actions:
                raise _bad(
                    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                )
            if len(actions) > 1:
                raise _bad(
                    "can't parse inline keyboard button: exactly one of the optional fields must be used"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
                    raise _bad("BUTTON_DATA_INVALID")
            if "url" in button:
                url = button["url"]
                if not isinstance(url, str) or not url.startswith(("http://", "https://", "tg://")):
                    raise _bad("BUTTON_URL_INVALID")


__all__ = [
    "DEFAULT_BOT_USERNAME",
    "DEFAULT_TOKEN",
    "SEND_METHODS",
    "AnsweredCallback",
    "ApiError",
    "ChatAction",
    "EarlyRetry",
    "EditRecord",
    "FakeTelegram",
    "FakeUser",
    "Fault",
    "Faults",
    "LocalAiohttpSession",
    "ManualClock",
    "RateLimit",
    "RetryAfterRecord",
    "SentMessage",
    "Stats",
    "WebhookAttempt",
    "make_bot",
    "parse_html",
]
