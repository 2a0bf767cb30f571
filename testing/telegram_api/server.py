"""The fake Bot API server: its HTTP routes, the Bot API methods it serves, and what tests inject and read."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import mimetypes
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from . import profile
from .bot_state import BotState
from .faults import Faults
from .files import FileStore
from .limits import SEND_METHODS, RateWindows
from .messages import Messages
from .protocol import (
    DEFAULT_BOT_USERNAME,
    DEFAULT_TOKEN,
    TOKEN_RE,
    ApiError,
    Params,
    error_response,
    json_response,
    maybe_int,
)
from .records import (
    AnsweredCallback,
    ChatAction,
    EditRecord,
    RetryAfterRecord,
    SentMessage,
    Stats,
    WebhookAttempt,
)
from .user import FakeUser
from .webhook import Webhooks

Handler = Callable[[BotState, Params], Any]


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
        self._bots: dict[str, BotState] = {}
        self._files = FileStore()
        self._rate_windows = RateWindows()
        self._messages = Messages(self, self._files, self._rate_windows)
        self._webhooks = Webhooks(self)
        self._query_seq = itertools.count(4_000_000_000_000_000_001)
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.add_bot(token, username=bot_username)
        self._handlers: dict[str, tuple[str, str, Handler, bool]] = {}
        messages, webhooks = self._messages, self._webhooks
        for name, handler in (
            ("getMe", profile.get_me),
            ("getUpdates", self._get_updates),
            ("setWebhook", webhooks.set_webhook),
            ("deleteWebhook", webhooks.delete_webhook),
            ("getWebhookInfo", webhooks.get_webhook_info),
            ("sendMessage", messages.send_message),
            ("sendPhoto", messages.send_photo),
            ("sendDocument", messages.send_document),
            ("editMessageText", messages.edit_message_text),
            ("editMessageReplyMarkup", messages.edit_message_reply_markup),
            ("deleteMessage", messages.delete_message),
            ("answerCallbackQuery", messages.answer_callback_query),
            ("sendChatAction", messages.send_chat_action),
            ("getFile", self._files.get_file),
            ("setMyCommands", profile.set_my_commands),
            ("getMyCommands", profile.get_my_commands),
            ("deleteMyCommands", profile.delete_my_commands),
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
        self._webhooks.start()

    async def close(self) -> None:
        """Stop webhook delivery, release long polls and shut the server down."""
        self._closing = True
        for state in self._bots.values():
            state.webhook_generation += 1
            state.notify()
        await self._webhooks.close()
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
        self._webhooks.cancel()
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
        self._messages.clear()
        self._files.clear()
        self._rate_windows.clear()

    # -- configuration and injection ----------------------------------------------------------------------

    def add_bot(self, token: str, username: str | None = None, first_name: str = "CivicBot Test") -> None:
        """Register another bot token (unknown well-formed tokens are auto-registered by default)."""
        if not TOKEN_RE.match(token):
            raise ValueError(f"malformed bot token {token!r}")
        bot_id = token.split(":", 1)[0]
        self._bots[token] = BotState(token, username or f"bot{bot_id}_bot", first_name)

    def add_chat(self, chat_id: int, chat_type: str = "group", title: str = "Test group") -> None:
        """Make a group or channel chat known (needed with ``strict_chats``)."""
        self._messages.chats[chat_id] = {"id": chat_id, "type": chat_type, "title": title}

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
        self._messages.chats[user_id] = user.chat
        return user

    def inject_raw(self, update: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        """Queue any update dict as is; ``update_id`` is assigned when missing."""
        return self._enqueue(token or self.default_token, dict(update))

    # -- inspection ---------------------------------------------------------------------------------------

    def messages_to(self, chat_id: int) -> list[SentMessage]:
        return self._messages.sent_to(chat_id)

    async def wait_for_messages(self, chat_id: int, n: int = 1, timeout: float = 5.0) -> list[SentMessage]:
        """Wait until the bot has sent at least ``n`` messages to ``chat_id``; TimeoutError otherwise."""
        return await self._messages.wait_for(chat_id, n, timeout)

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
        return state.commands.get((profile.scope_key(scope), language_code))

    def webhook_url(self, token: str | None = None) -> str | None:
        return self._state(token or self.default_token).webhook_url

    def file_bytes(self, file_id: str) -> bytes:
        return self._files.data(file_id)

    # -- HTTP ---------------------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        state = self._bots.get(token)
        if state is None:
            if not TOKEN_RE.match(token):
                return error_response(ApiError(404, "Not Found"))
            if not self.auto_register_bots:
                return error_response(ApiError(401, "Unauthorized"))
            self.add_bot(token)
            state = self._bots[token]
        entry = self._handlers.get(request.match_info["method"].lower())
        if entry is None:
            self.stats.statuses[404] += 1
            return error_response(ApiError(404, "Not Found"))
        name, key, handler, is_async = entry
        self.stats.requests[name] += 1
        try:
            params = await Params.read(request)
            attempt_index = self._record_attempt(params) if key in SEND_METHODS else None
            if self.faults.active:
                fault_response = await self._apply_faults(request, name, key, params, attempt_index)
                if fault_response is not None:
                    return fault_response
            result = (await handler(state, params)) if is_async else handler(state, params)
        except ApiError as error:
            self.stats.statuses[error.status] += 1
            return error_response(error)
        except web.HTTPRequestEntityTooLarge:
            self.stats.statuses[413] += 1
            return error_response(ApiError(413, "Request Entity Too Large"))
        self.stats.statuses[200] += 1
        if isinstance(result, tuple):  # (result, description)
            return json_response(200, {"ok": True, "result": result[0], "description": result[1]})
        return json_response(200, {"ok": True, "result": result})

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        stored = self._files.by_path.get(request.match_info["path"])
        if request.match_info["token"] not in self._bots or stored is None:
            return error_response(ApiError(404, "Not Found"))
        content_type = mimetypes.guess_type(stored.file_path)[0] or "application/octet-stream"
        return web.Response(body=stored.data, content_type=content_type)

    def _record_attempt(self, params: Params) -> int | None:
        """Note the arrival of a send; its index in ``stats.attempts[chat_id]``."""
        chat_id = maybe_int(params.values.get("chat_id"))
        if chat_id is None:
            return None
        attempts = self.stats.attempts[chat_id]
        attempts.append(self.clock())
        return len(attempts) - 1

    async def _apply_faults(
        self, request: web.Request, name: str, key: str, params: Params, attempt_index: int | None
    ) -> web.StreamResponse | None:
        faults = self.faults
        delay = faults.latency_for(name)
        if delay > 0:
            await asyncio.sleep(delay)
        chat_id = maybe_int(params.values.get("chat_id"))
        now = self.clock()
        fault = faults.for_request(key, chat_id, self._rate_windows, now)
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
        return error_response(ApiError(fault.status, fault.description, parameters))

    # -- updates ------------------------------------------------------------------------------------------

    def _state(self, token: str) -> BotState:
        state = self._bots.get(token)
        if state is None:
            self.add_bot(token)
            state = self._bots[token]
        return state

    def _enqueue(self, token: str, update: dict[str, Any]) -> dict[str, Any]:
        return self._state(token).enqueue(update)

    async def _get_updates(self, state: BotState, params: Params) -> list[dict[str, Any]]:
        return await state.get_updates(params, lambda: self._closing)
