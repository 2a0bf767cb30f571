"""What a Bot API request costs (bot/channels/telegram/session.py): requests as one JSON body, uploads multipart;
sends read back for the message id only."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.methods import SendMessage, SendPhoto
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup
from aiohttp import FormData

from bot.channels.telegram.rendering import Outgoing, send
from bot.channels.telegram.session import JsonSession, SendMessageForId, SentId
from dialogs.types import Attachment
from testing.telegram_api import FakeTelegram, make_bot

USER_ID = 777
MARKUP = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="确认 <ok>", callback_data="app:ok")],
                                               [InlineKeyboardButton(text="取消", callback_data="app:no")]])


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


def body(form: FormData) -> tuple[str, object]:
    payload = form()
    return payload.content_type, json.loads(payload._value)


def test_a_message_with_a_keyboard_is_one_json_body_with_the_keyboard_an_object() -> None:
    session = JsonSession()
    bot = Bot("1:TOKEN", session=session, default=DefaultBotProperties(parse_mode="HTML"))
    form = session.build_form_data(bot, SendMessage(chat_id=USER_ID, text="请选择", reply_markup=MARKUP))

    content_type, sent = body(form)
    assert content_type == "application/json"
    assert sent == {  # the bot's default parse mode filled in; unset fields left out; the keyboard nested
        "chat_id": USER_ID, "text": "请选择", "parse_mode": "HTML",
        "reply_markup": {"inline_keyboard": [[{"text": "确认 <ok>", "callback_data": "app:ok"}],
                                             [{"text": "取消", "callback_data": "app:no"}]]},
    }


def test_an_upload_stays_a_multipart_form() -> None:
    session = JsonSession()
    bot = Bot("1:TOKEN", session=session)
    form = session.build_form_data(bot, SendPhoto(chat_id=USER_ID, photo=BufferedInputFile(b"\xff\xd8jpeg", "a.jpg"),
                                                  caption="照片", reply_markup=MARKUP))

    assert form.is_multipart
    assert form().content_type.startswith("multipart/form-data")


async def test_the_bot_api_takes_both_and_shows_the_keyboards(tg: FakeTelegram) -> None:
    bot = make_bot(tg.base_url)  # civicbot's session
    assert isinstance(bot.session, JsonSession)
    try:
        sent = await bot.send_message(USER_ID, "<b>申请</b>", parse_mode="HTML", reply_markup=MARKUP)
        await bot.send_photo(USER_ID, BufferedInputFile(b"\x89PNG bytes", "chart.png"), caption="月报",
                             reply_markup=MARKUP)
    finally:
        await bot.session.close()

    assert sent.text == "申请" and sent.reply_markup is not None  # the answer read back as aiogram reads it
    assert sent.reply_markup.model_dump() == MARKUP.model_dump()
    message, photo = tg.messages_to(USER_ID)
    assert (message.method, message.plain_text) == ("sendMessage", "申请")
    assert (photo.method, photo.media, photo.plain_text) == ("sendPhoto", b"\x89PNG bytes", "月报")
    for record in (message, photo):
        assert record.reply_markup is not None
        assert [[b["callback_data"] for b in row] for row in record.reply_markup["inline_keyboard"]] == [["app:ok"], ["app:no"]]


async def test_a_reply_sent_is_read_back_for_its_id_only(tg: FakeTelegram) -> None:
    bot = make_bot(tg.base_url)
    try:
        with_keyboard = await send(bot, USER_ID, Outgoing("请选择", MARKUP))
        photo = await send(bot, USER_ID, Outgoing("月报", MARKUP, Attachment("chart.png", b"\x89PNG bytes", "image/png"), True))
        document = await send(bot, USER_ID, Outgoing(None, None, Attachment("a.pdf", b"%PDF-1.4", "application/pdf"), False))
        sent = await bot(SendMessageForId(chat_id=USER_ID, text="x"))
    finally:
        await bot.session.close()

    records = tg.messages_to(USER_ID)
    assert [r.method for r in records] == ["sendMessage", "sendPhoto", "sendDocument", "sendMessage"]
    assert [with_keyboard, photo, document, sent.message_id] == [r.message_id for r in records]
    assert isinstance(sent, SentId)  # not aiogram's whole Message: the keyboard and the rest are left unread
