"""The fake Telegram Bot API server, exercised through the real aiogram client over HTTP."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
)
from aiohttp import web
from PIL import Image

from testing.telegram_api import (
    DEFAULT_TOKEN,
    FakeTelegram,
    Fault,
    ManualClock,
    RateLimit,
    make_bot,
    parse_html,
)

USER_ID = 501


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=text, callback_data=data)] for text, data in pairs]
    )


async def until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    """Yield to the loop until ``condition`` holds (for a request to be in flight on the server)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def tg(clock: ManualClock) -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(clock=clock, webhook_retry_delay=0.01) as fake:
        yield fake


@pytest.fixture(params=["json", "form"])
async def bot(tg: FakeTelegram, request: pytest.FixtureRequest) -> AsyncIterator[Bot]:
    """civicbot's session (JSON bodies) and aiogram's own (forms): Telegram takes both, so the fake does."""
    client = make_bot(tg.base_url, bare=request.param == "form")
    yield client
    await client.session.close()


async def raw_call(tg: FakeTelegram, method: str, **fields: Any) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{tg.base_url}/bot{DEFAULT_TOKEN}/{method}", data=fields) as response,
    ):
        return response.status, await response.json()


async def test_get_me_returns_the_test_bot(bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123456, "civicbot_test_bot", True)


async def test_send_message_with_inline_keyboard_is_recorded(
    tg: FakeTelegram, bot: Bot, clock: ManualClock
) -> None:
    sent = await bot.send_message(
        USER_ID, "<b>申请</b> &lt;1&gt;", parse_mode="HTML", reply_markup=keyboard(("确认", "app:ok"))
    )

    assert sent.text == "申请 <1>"
    assert sent.entities is not None and sent.entities[0].type == "bold"
    assert sent.reply_markup is not None and sent.reply_markup.inline_keyboard[0][0].callback_data == "app:ok"
    [record] = tg.messages_to(USER_ID)
    assert record.method == "sendMessage"
    assert record.text == "<b>申请</b> &lt;1&gt;"
    assert record.plain_text == "申请 <1>"
    assert record.parse_mode == "HTML"
    assert record.reply_markup == {"inline_keyboard": [[{"text": "确认", "callback_data": "app:ok"}]]}
    assert record.button("确认")["callback_data"] == "app:ok"
    assert record.message_id == sent.message_id
    assert record.at == clock.now
    assert tg.sent == [record]


async def test_text_limit_counts_characters_after_html_parsing(tg: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(USER_ID, "<b>" + "字" * 4096 + "</b>", parse_mode="HTML")

    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER_ID, "a" * 4097)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(USER_ID, "<b> </b>", parse_mode="HTML")
    assert len(tg.sent) == 1


@pytest.mark.parametrize(
    "text",
    ["<b>unclosed", "<foo>x</foo>", "a < b", "AT&T", "<b>x</i>", "x</b>", '<span class="x">s</span>'],
)
async def test_invalid_html_is_rejected(tg: FakeTelegram, bot: Bot, text: str) -> None:
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(USER_ID, text, parse_mode="HTML")
    assert tg.sent == []


def test_html_parser_accepts_every_allowed_tag() -> None:
    source = (
        "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s><strike>k</strike><del>d</del>"
        '<a href="https://x.org/?a=1&amp;b=2">a</a><code>c</code><pre><code class="language-py">p</code></pre>'
        '<tg-spoiler>t</tg-spoiler><span class="tg-spoiler">p</span><blockquote>q</blockquote>&#128512;&quot;'
    )
    plain, entities = parse_html(source)
    assert plain == 'bsieunskdacptpq😀"'
    assert {"type": "text_link", "offset": 9, "length": 1, "url": "https://x.org/?a=1&b=2"} in entities
    assert {"type": "pre", "offset": 11, "length": 1, "language": "py"} in entities
    assert len(entities) == 15


async def test_callback_data_limit_is_64_utf8_bytes(tg: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(USER_ID, "ok", reply_markup=keyboard(("a", "确" * 21 + "x")))  # 64 bytes

    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(USER_ID, "too long", reply_markup=keyboard(("a", "确" * 21 + "xy")))
    assert len(tg.sent) == 1


async def test_inline_keyboard_buttons_are_validated(tg: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="BUTTON_TEXT_INVALID"):
        await bot.send_message(USER_ID, "x", reply_markup=keyboard(("", "data")))
    bare = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="no action")]])
    with pytest.raises(TelegramBadRequest, match="Text buttons are unallowed"):
        await bot.send_message(USER_ID, "x", reply_markup=bare)

    status, body = await raw_call(
        tg, "sendMessage", chat_id="1", text="x", reply_markup='{"inline_keyboard": [{"text": "a"}]}'
    )
    assert status == 400 and "Array of Arrays" in body["description"]
    status, body = await raw_call(
        tg,
        "sendMessage",
        chat_id="1",
        text="x",
        reply_markup='{"inline_keyboard": [[{"text": "a", "callback_data": "d", "url": "https://x.org"}]]}',
    )
    assert status == 400 and "exactly one" in body["description"]
    assert tg.sent == []


async def test_scheduled_429_raises_retry_after(tg: FakeTelegram, bot: Bot) -> None:
    tg.faults.fail_next("sendMessage", Fault.too_many_requests(7))

    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(USER_ID, "first")
    await bot.send_message(USER_ID, "second")

    assert caught.value.retry_after == 7
    assert tg.stats.served_429 == 1
    assert tg.stats.retry_afters[0].retry_after == 7
    assert [m.text for m in tg.sent] == ["second"]
    assert tg.stats.requests["sendMessage"] == 2


async def test_blocked_chat_raises_forbidden(tg: FakeTelegram, bot: Bot) -> None:
    tg.faults.blocked_chats.add(USER_ID)

    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(USER_ID, "hello")
    await bot.send_message(USER_ID + 1, "someone else")
    assert [m.chat_id for m in tg.sent] == [USER_ID + 1]


async def test_server_errors_and_dropped_connections(tg: FakeTelegram, bot: Bot) -> None:
    tg.faults.fail_next("sendMessage", Fault.server_error(502))
    tg.faults.fail_next("sendMessage", Fault.server_error(500))
    tg.faults.fail_next("sendMessage", Fault.disconnect())

    with pytest.raises(ClientDecodeError):  # nginx's HTML page, as the real front end answers
        await bot.send_message(USER_ID, "a")
    with pytest.raises(TelegramServerError):
        await bot.send_message(USER_ID, "b")
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(USER_ID, "c")
    assert tg.sent == []


async def test_random_faults_are_reproducible_with_a_seed(tg: FakeTelegram, bot: Bot) -> None:
    tg.faults.fail_randomly("*", 0.5, Fault.server_error(500))
    outcomes = []
    for _ in range(20):
        try:
            await bot.get_me()
            outcomes.append(True)
        except TelegramServerError:
            outcomes.append(False)
    assert 0 < outcomes.count(False) < 20


async def test_long_poll_receives_injected_message_and_offset_confirms_it(tg: FakeTelegram, bot: Bot) -> None:
    user = tg.user(USER_ID, first_name="王芳", username="wangfang")
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await until(lambda: tg.stats.requests["getUpdates"] == 1)

    await user.send_text("/start ref_42")
    [update] = await asyncio.wait_for(poll, 5)

    message = update.message
    assert message is not None and message.text == "/start ref_42"
    assert message.from_user is not None and message.from_user.language_code == "zh-hans"
    assert message.entities is not None and (message.entities[0].type, message.entities[0].length) == (
        "bot_command",
        6,
    )
    again = await bot.get_updates(timeout=0)  # not confirmed yet: delivered again
    assert [u.update_id for u in again] == [update.update_id]
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == []
    assert tg.pending_updates() == []
    assert await bot.get_updates(timeout=0) == []


async def test_a_second_poller_ends_the_first_with_conflict(tg: FakeTelegram, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await until(lambda: tg.stats.requests["getUpdates"] == 1)
    second = asyncio.create_task(bot.get_updates(timeout=5))

    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await asyncio.wait_for(first, 5)
    await tg.user(USER_ID).send_text("hi")
    assert len(await asyncio.wait_for(second, 5)) == 1


async def test_callback_query_can_be_answered_once(tg: FakeTelegram, bot: Bot) -> None:
    user = tg.user(USER_ID)
    await bot.send_message(USER_ID, "选择", reply_markup=keyboard(("是", "yes"), ("否", "no")))
    [sent] = tg.messages_to(USER_ID)

    with pytest.raises(ValueError, match="no button"):
        await user.press(sent, "maybe")
    update = await user.press(sent, sent.button("是")["callback_data"])
    query = update["callback_query"]
    assert query["data"] == "yes" and query["message"]["message_id"] == sent.message_id

    assert await bot.answer_callback_query(query["id"], text="已收到") is True
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query["id"])
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query("123")
    assert [(a.query_id, a.text) for a in tg.answered_callbacks] == [(query["id"], "已收到")]


async def test_callback_query_expires(tg: FakeTelegram, bot: Bot, clock: ManualClock) -> None:
    await bot.send_message(USER_ID, "x", reply_markup=keyboard(("a", "a")))
    update = await tg.user(USER_ID).press(tg.sent[0], "a")
    clock.advance(tg.callback_query_ttl + 1)

    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(update["callback_query"]["id"])


async def test_edits_update_the_message_and_its_keyboard(tg: FakeTelegram, bot: Bot) -> None:
    user = tg.user(USER_ID)
    sent = await bot.send_message(USER_ID, "v1", reply_markup=keyboard(("old", "old")))

    edited = await bot.edit_message_text(
        "<i>v2</i>",
        chat_id=USER_ID,
        message_id=sent.message_id,
        parse_mode="HTML",
        reply_markup=keyboard(("new", "new")),
    )
    assert not isinstance(edited, bool) and edited.text == "v2"
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(
            chat_id=USER_ID, message_id=sent.message_id, reply_markup=keyboard(("new", "new"))
        )
    with pytest.raises(ValueError, match="no button"):
        await user.press(sent.message_id, "old")  # the client shows the edited keyboard only
    await bot.edit_message_reply_markup(chat_id=USER_ID, message_id=sent.message_id)

    current = tg.message(USER_ID, sent.message_id)
    assert current is not None and current["text"] == "v2" and "reply_markup" not in current
    assert [(e.method, e.plain_text) for e in tg.edits] == [
        ("editMessageText", "v2"),
        ("editMessageReplyMarkup", None),
    ]
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER_ID, message_id=999)


async def test_delete_message_and_chat_action(tg: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(USER_ID, "bye")
    await bot.send_chat_action(USER_ID, "typing")
    assert await bot.delete_message(USER_ID, sent.message_id) is True

    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(USER_ID, sent.message_id)
    assert tg.deleted == [(USER_ID, sent.message_id)]
    assert [(a.chat_id, a.action) for a in tg.chat_actions] == [(USER_ID, "typing")]
    assert tg.message(USER_ID, sent.message_id) is None


async def test_user_photo_can_be_fetched_and_downloaded(tg: FakeTelegram, bot: Bot) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 300), "red").save(buffer, format="PNG")
    photo = buffer.getvalue()

    update = await tg.user(USER_ID).send_photo(photo, caption="发票")
    sizes = update["message"]["photo"]
    assert [(s["width"], s["height"]) for s in sizes] == [(90, 68), (320, 240), (400, 300)]

    file = await bot.get_file(sizes[-1]["file_id"])
    assert file.file_path is not None and file.file_size == len(photo)
    downloaded = await bot.download(sizes[-1]["file_id"])
    assert downloaded is not None and downloaded.read() == photo
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")


async def test_user_document_is_downloadable(tg: FakeTelegram, bot: Bot) -> None:
    update = await tg.user(USER_ID).send_document(b"a,b\n1,2\n", "budget.csv")
    document = update["message"]["document"]
    assert (document["file_name"], document["mime_type"]) == ("budget.csv", "text/csv")

    downloaded = await bot.download(document["file_id"])
    assert downloaded is not None and downloaded.read() == b"a,b\n1,2\n"


async def test_send_photo_and_document_uploads_are_stored(tg: FakeTelegram, bot: Bot) -> None:
    image = b"\x89PNG fake bytes"
    message = await bot.send_photo(
        USER_ID, BufferedInputFile(image, "chart.png"), caption="<b>月报</b>", parse_mode="HTML"
    )
    await bot.send_document(USER_ID, BufferedInputFile(b"%PDF-1.4", "report.pdf"))

    photo, document = tg.messages_to(USER_ID)
    assert (photo.method, photo.media, photo.filename, photo.plain_text) == (
        "sendPhoto",
        image,
        "chart.png",
        "月报",
    )
    assert (document.method, document.media, document.filename) == ("sendDocument", b"%PDF-1.4", "report.pdf")
    assert message.photo is not None and tg.file_bytes(message.photo[-1].file_id) == image
    with pytest.raises(TelegramBadRequest, match="caption is too long"):
        await bot.send_photo(USER_ID, BufferedInputFile(image, "x.png"), caption="长" * 1025)


@pytest.fixture
async def webhook_endpoint() -> AsyncIterator[tuple[str, list[tuple[str | None, dict[str, Any]]]]]:
    """A tiny webhook receiver: answers 500 to the first POST and 200 afterwards."""
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def endpoint(request: web.Request) -> web.Response:
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.Response(status=500 if len(received) == 1 else 200)

    app = web.Application()
    app.router.add_post("/hook", endpoint)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook", received
    await runner.cleanup()


async def test_webhook_posts_with_secret_and_redelivers_after_500(
    tg: FakeTelegram, bot: Bot, webhook_endpoint: tuple[str, list[tuple[str | None, dict[str, Any]]]]
) -> None:
    url, received = webhook_endpoint
    assert await bot.set_webhook(url, secret_token="s3cret_token") is True
    with pytest.raises(TelegramConflictError):
        await bot.get_updates(timeout=0)

    user = tg.user(USER_ID)
    first = await user.send_text("你好")
    second = await user.send_text("在吗")
    await tg.wait_confirmed(timeout=5)

    assert {secret for secret, _ in received} == {"s3cret_token"}
    # the same chat's next update waits until the first one is accepted
    assert [body["update_id"] for _, body in received] == [first["update_id"]] * 2 + [second["update_id"]]
    assert [a.status for a in tg.webhook_attempts] == [500, 200, 200]
    info = await bot.get_webhook_info()
    assert info.url == url and info.pending_update_count == 0
    assert info.last_error_message is not None and "500" in info.last_error_message


async def test_webhook_keeps_updates_while_the_endpoint_is_unreachable(
    tg: FakeTelegram, bot: Bot, webhook_endpoint: tuple[str, list[tuple[str | None, dict[str, Any]]]]
) -> None:
    url, received = webhook_endpoint
    await bot.set_webhook("http://127.0.0.1:9/unreachable")
    update = await tg.user(USER_ID).send_text("hi")
    await until(lambda: len(tg.webhook_attempts) >= 2)
    assert all(a.status is None and a.error for a in tg.webhook_attempts)
    assert tg.pending_updates() == [update]

    await bot.set_webhook(url)
    await tg.wait_confirmed(timeout=5)
    assert [body["update_id"] for _, body in received] == [update["update_id"]] * 2  # a 500, then a 200


async def test_rate_limiter_allows_one_message_per_chat_per_second(
    tg: FakeTelegram, bot: Bot, clock: ManualClock
) -> None:
    tg.faults.rate_limit = RateLimit()

    await bot.send_message(USER_ID, "1")
    clock.now = 1000.5
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(USER_ID, "2")
    await bot.send_message(USER_ID + 1, "other chat is not limited")
    clock.now = 1000.75  # retrying before retry_after elapsed
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(USER_ID, "2")
    clock.now = 1001.75
    await bot.send_message(USER_ID, "2")

    assert caught.value.retry_after == 1
    assert [m.text for m in tg.messages_to(USER_ID)] == ["1", "2"]
    [early] = tg.stats.early_retries()
    assert (early.chat_id, early.rejected_at, early.retried_at) == (USER_ID, 1000.5, 1000.75)
    assert tg.stats.attempts[USER_ID] == [1000.0, 1000.5, 1000.75, 1001.75]


async def test_rate_limiter_caps_overall_sends(tg: FakeTelegram, bot: Bot, clock: ManualClock) -> None:
    tg.faults.rate_limit = RateLimit(overall=3)
    for chat_id in (1, 2, 3):
        await bot.send_message(chat_id, "x")

    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(4, "x")
    clock.advance(1.0)
    await bot.send_message(4, "x")
    assert len(tg.sent) == 4 and tg.stats.sent_at == [1000.0, 1000.0, 1000.0, 1001.0]


async def test_commands_are_stored_per_scope_and_language(tg: FakeTelegram, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand(command="start", description="开始")], language_code="zh")
    await bot.set_my_commands(
        [BotCommand(command="apply", description="申請")], scope=BotCommandScopeChat(chat_id=USER_ID)
    )

    assert [c.command for c in await bot.get_my_commands(language_code="zh")] == ["start"]
    assert await bot.get_my_commands() == []
    assert tg.commands({"type": "chat", "chat_id": USER_ID}) == [{"command": "apply", "description": "申請"}]
    assert await bot.delete_my_commands(language_code="zh") is True
    assert tg.commands(language_code="zh") is None

    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Start", description="x")])
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_DESCRIPTION_INVALID"):
        await bot.set_my_commands([BotCommand(command="start", description="x" * 257)])
    with pytest.raises(TelegramBadRequest, match="LANG_CODE_INVALID"):
        await bot.set_my_commands([BotCommand(command="start", description="x")], language_code="zh-hant")


async def test_strict_chats_reject_unknown_chat(bot: Bot, tg: FakeTelegram) -> None:
    tg.strict_chats = True
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(USER_ID, "x")
    tg.user(USER_ID)
    await bot.send_message(USER_ID, "x")


async def test_unknown_method_is_404(tg: FakeTelegram) -> None:
    status, body = await raw_call(tg, "sendTelepathy", chat_id="1")
    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})


async def test_wait_for_messages_waits_and_times_out(tg: FakeTelegram, bot: Bot) -> None:
    waiting = asyncio.create_task(tg.wait_for_messages(USER_ID, 2, timeout=5))
    await bot.send_message(USER_ID, "a")
    await bot.send_message(USER_ID, "b")
    assert [m.text for m in await waiting] == ["a", "b"]

    with pytest.raises(TimeoutError, match="expected 3 messages"):
        await tg.wait_for_messages(USER_ID, 3, timeout=0.05)


async def test_reset_forgets_everything_but_keeps_serving(tg: FakeTelegram, bot: Bot) -> None:
    tg.faults.blocked_chats.add(1)
    await bot.send_message(USER_ID, "x")
    await tg.user(USER_ID).send_text("hi")

    tg.reset()

    assert tg.sent == [] and tg.pending_updates() == [] and tg.stats.requests == {}
    await bot.send_message(1, "not blocked any more")
    assert len(tg.sent) == 1
