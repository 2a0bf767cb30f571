"""The Telegram channel end to end: the real aiogram client against the in-repo fake Bot API server.

Waits of the channel (rate limiter, retry_after, back-off) run on virtual time, so fault tests take
milliseconds; where the fake must judge those waits, it shares the same manual clock.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import random
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram.types import Update
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.app import open_app
from bot.channels.telegram import CHANNEL, TelegramChannel, TelegramOptions, serve
from bot.channels.telegram.rendering import CALLBACK_LIMIT, TEXT_LIMIT, keyboard, split_text, utf16_len
from bot.channels.telegram.sending import RateLimiter
from bot.cli import cmd_invite
from bot.config import Settings
from bot.outbox import Dispatcher
from bot.sending import Unreachable, configured_sender
from dialogs import i18n
from dialogs.buttons import Payload, on
from dialogs.context import Context, DialogSettings, Parse
from dialogs.engine import Engine, Turn
from dialogs.flow import Flow
from dialogs.notices import queue_notice
from dialogs.registry import all_flows
from dialogs.state import State
from dialogs.types import Button, Incoming, Reply
from store import models as m
from store.db import create_engine, sessionmaker
from store.invites import create_invite
from store.media import DirectoryMedia
from testing.factories import NOW, World, bind_identity, build_world
from testing.ports import free_port
from testing.telegram_api import (
    DEFAULT_BOT_USERNAME,
    DEFAULT_TOKEN,
    FakeTelegram,
    FakeUser,
    Fault,
    ManualClock,
    SentMessage,
    make_bot,
)
from tests.dialogs.test_application import ANSWERS

UID = 7001
LONG_TEXT = "\n\n".join(f"{n:02d} " + "段" * 96 for n in range(50))  # 50 paragraphs, ~5,000 characters


class VirtualTime:
    """The channel's clock and sleep: sleeping moves the clock (shared with the fake when it must judge)."""

    def __init__(self, clock: ManualClock | None = None) -> None:
        self.clock = clock or ManualClock()
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.clock.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.now = max(self.clock.now, self.clock.now + seconds)
        await asyncio.sleep(0)


@dataclass(frozen=True)
class Pick(Payload, action="pick"):
    value: str


@dataclass(frozen=True)
class Ok(Payload, action="ok"):
    pass


class EchoFlow(Flow):
    """A test flow for what the real flows rarely produce: long texts, long button data, echoed input."""

    name = "echo"
    commands = ("echo",)

    async def start(self, ctx: Context, payload: str | None, parse: Parse | None = None) -> None:
        ctx.state.step = "ask"
        ctx.say("echo ready", [
            [self.button("long choice", Pick("x" * 100))],
            [Button("docs", url="https://example.org/?a=1&b=2")],
        ])

    @on(Pick)
    async def picked(self, ctx: Context, press: Pick) -> None:
        ctx.state.clear()
        ctx.say(f"picked {len(press.value)}")

    @on(Ok)
    async def ok(self, ctx: Context, press: Ok) -> None:
        ctx.state.clear()
        ctx.say("ok")

    async def handle(self, ctx: Context, msg: Incoming) -> None:
        if msg.text == "long":
            ctx.say(LONG_TEXT, [[self.button("ok", Ok())]])
        else:
            ctx.say(f"you said: {msg.text}")


class Rig:
    """A channel running against the fake, restartable on the same database."""

    def __init__(self, tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession], media: Path, *,
                 time: VirtualTime | None = None, options: TelegramOptions | None = None) -> None:
        self.tg = tg
        self.sessions = sessions
        self.time = time or VirtualTime()
        self.options = options or TelegramOptions()
        self.media = DirectoryMedia(media)
        self.channel: TelegramChannel | None = None

    def engine(self) -> Engine:
        return Engine(self.sessions, DialogSettings(), [*all_flows(), EchoFlow()], clock=lambda: NOW, media=self.media)

    async def start(self, engine: Any = None) -> TelegramChannel:
        limiter = RateLimiter(clock=self.time, sleep=self.time.sleep)
        self.channel = TelegramChannel(make_bot(self.tg.base_url), engine or self.engine(), self.sessions,
                                       self.options, limiter=limiter, clock=lambda: NOW)
        await self.channel.start()
        return self.channel

    async def stop(self, *, drain: bool = True) -> None:
        if self.channel is not None:
            await self.channel.stop(drain=drain)
            self.channel = None

    async def settle(self) -> None:
        """Every queued update confirmed, and everything the channel took in handled."""
        await self.tg.wait_confirmed()
        assert self.channel is not None
        await self.channel.wait_idle()


class Person:
    def __init__(self, rig: Rig, user: FakeUser) -> None:
        self.rig = rig
        self.user = user
        self.last: list[SentMessage] = []

    async def _turn(self, action: Awaitable[Any]) -> list[SentMessage]:
        before = len(self.user.messages())
        await action
        await self.rig.settle()
        self.last = self.user.messages()[before:]
        return self.last

    async def say(self, text: str) -> list[SentMessage]:
        return await self._turn(self.user.send_text(text))

    async def send_photo(self, data: bytes) -> list[SentMessage]:
        return await self._turn(self.user.send_photo(data))

    async def press(self, label: str) -> list[SentMessage]:
        for message in reversed(self.last):
            for button in message.buttons:
                if label in button.get("text", "") and "callback_data" in button:
                    return await self._turn(self.user.press(message, button["callback_data"]))
        raise AssertionError(f"no button {label!r} in {[b.get('text') for m in self.last for b in m.buttons]}")

    @property
    def text(self) -> str:
        return "\n".join(m.plain_text or "" for m in self.last)


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(out, "JPEG")
    return out.getvalue()


async def count(sessions: async_sessionmaker[AsyncSession], model: Any, *where: Any) -> int:
    async with sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def identity(sessions: async_sessionmaker[AsyncSession], uid: int) -> m.Identity:
    async with sessions() as s:
        return (await s.execute(
            select(m.Identity).where(m.Identity.channel == CHANNEL, m.Identity.external_id == str(uid))
        )).scalar_one()


@pytest.fixture
async def sessions(sqlite_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    db = create_engine(sqlite_url)
    yield sessionmaker(db)
    await db.dispose()


@pytest.fixture
def both(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on SQLite and on PostgreSQL in turn."""
    return sessionmaker(engine)


async def make_world(sessions: async_sessionmaker[AsyncSession], org_uid: int | None = None) -> World:
    async with sessions() as s, s.begin():
        world = await build_world(s)
        if org_uid is not None:
            await bind_identity(s, CHANNEL, str(org_uid), "org", world.org.id)
    return world


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def rig(tg: FakeTelegram, sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(tg, sessions, tmp_path / "media")
    yield r
    await r.stop()


# --- conversations ---------------------------------------------------------------------------------

async def test_binding_by_deep_link(tg: FakeTelegram, both: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    world = await make_world(both)
    async with both() as s, s.begin():
        code, _ = await create_invite(s, "org", world.org.uscc, NOW, 7)
    rig = Rig(tg, both, tmp_path)
    await rig.start()
    try:
        p = Person(rig, tg.user(UID))
        await p.say(f"/start {code}")
        assert "绑定成功" in p.text and "阳光社工服务中心" in p.text
        me = await identity(both, UID)
        assert (me.role, me.organization_id) == ("org", world.org.id)
        await p.say(f"/start {code}")  # single use
        assert "绑定成功" not in p.text
        await p.say("/start not a deep link!")  # not a valid payload: a plain /start
        assert "您好" in p.text and "无效" not in p.text
    finally:
        await rig.stop()


async def test_whole_application_survives_a_restart(
    tg: FakeTelegram, both: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(both, org_uid=UID)
    rig = Rig(tg, both, tmp_path)
    await rig.start()
    p = Person(rig, tg.user(UID))
    try:
        await p.say("/apply")
        await p.press(world.call.title_zh)
        await p.press("居家养老服务")
        for _, text in ANSWERS[:9]:
            await p.say(text)
            assert "⚠️" not in p.text, (text, p.text)
        await rig.stop()  # the bot process goes away in the middle of the form …
        await rig.start()  # … and a new one (new channel, new engine) takes over the same database
        for _, text in ANSWERS[9:]:
            await p.say(text)
            assert "⚠️" not in p.text, (text, p.text)
        assert "请核对申报书内容" in p.text and "35万元" in p.text
        await p.press("提交")
        assert "SQ-" in p.text
    finally:
        await rig.stop()
    async with both() as s:
        app = (await s.execute(select(m.Application))).scalar_one()
        assert app.status == "submitted" and app.total_fen == 35_000_000
    presses = tg.stats.requests["answerCallbackQuery"]
    assert presses == 3 and len(tg.answered_callbacks) == 3
    assert all(sent.parse_mode == "HTML" for sent in tg.sent)


async def test_typed_ratings_and_a_contact_on_a_text_step(tg: FakeTelegram, sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Telegram reads people as the engine does: a typed number on a scale is its value; a contact card
    where a text is wanted is told so, not "empty"."""
    from store import surveys

    world = await make_world(sessions, org_uid=UID)
    async with sessions() as s, s.begin():
        survey = await surveys.open_survey(s, world.project.id, NOW, NOW + timedelta(days=30))
        token, = [i.token for i in await surveys.create_invitations(s, survey, 1, NOW)]
    rig = Rig(tg, sessions, tmp_path / "media")
    await rig.start()
    try:
        resident = Person(rig, tg.user(UID + 1))
        await resident.say(f"/start {token}")
        for typed in ("5", "1", "2", "3", "4", "5", "4"):
            await resident.say(typed)
        await resident.say("8")
        org = Person(rig, tg.user(UID))
        await org.say("/apply")
        await org.press(world.call.title_zh)
        await org.press("居家养老服务")
        await org._turn(org.user.send_contact("+8613800000000", "张三"))
        assert "需要输入文字" in org.text and "内容不能为空" not in org.text
    finally:
        await rig.stop()
    async with sessions() as s:
        slots = (await s.execute(select(m.Conversation.slots).join(m.Identity).where(
            m.Identity.external_id == str(UID + 1)))).scalar_one()
    assert State.from_json(None, None, slots).form.values == {"needs_met": 5, "attitude": 1, "skill": 2, "convenience": 3, "helpfulness": 4,
                               "responsiveness": 5, "overall": 4, "recommend": 8}


async def test_status_and_progress_with_a_photo(tg: FakeTelegram, sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    world = await make_world(sessions, org_uid=UID)
    rig = Rig(tg, sessions, tmp_path / "media")
    await rig.start()
    try:
        p = Person(rig, tg.user(UID))
        await p.say("/status")
        assert world.project.code in p.text
        await p.say("/progress")
        await p.press(world.project.code)
        await p.say("本月探访独居长者32人次，开展健康讲座2场。")
        photo = jpeg()
        await p.send_photo(photo)
        await p.press("是")
        assert "请核对这条进展" in p.text
        await p.press("提交")
        assert "已提交并公开" in p.text
    finally:
        await rig.stop()
    async with sessions() as s:
        update = (await s.execute(select(m.ProgressUpdate))).scalar_one()
    ref = update.media_path or ""
    assert update.media_kind == "photo" and ref.startswith("tg-")  # a key of the media store
    assert (tmp_path / "media" / ref).read_bytes() == photo


# --- rendering -------------------------------------------------------------------------------------

async def test_long_callback_data_long_texts_escaping_and_stale_keyboards(rig: Rig, sessions) -> None:  # type: ignore[no-untyped-def]
    tg = rig.tg
    channel = await rig.start()
    p = Person(rig, tg.user(UID))
    [ready] = await p.say("/echo")
    long_button, url_button = ready.buttons
    assert len(long_button["callback_data"].encode()) <= CALLBACK_LIMIT and long_button["callback_data"][0] == "~"
    assert url_button["url"] == "https://example.org/?a=1&b=2"
    assert await count(sessions, m.ButtonToken) == 1

    await p.press("long choice")
    assert p.last[0].plain_text == "picked 100"  # the token was resolved to the flow's own data (the menu follows)
    assert tg.message(UID, ready.message_id).get("reply_markup") is None  # keyboard edited away
    assert [e.method for e in tg.edits] == ["editMessageReplyMarkup"]
    with pytest.raises(ValueError):  # a real client has no button left to press
        await p.user.press(ready, long_button["callback_data"])
    await p._turn(p.user.press(ready, long_button["callback_data"], check=False))  # an old client, say
    assert "失效" in p.text
    await p._turn(p.user.press(ready, "~unknown-token", check=False))
    assert "失效" in p.text

    real = channel.engine.turn
    failures = 0

    async def failing(incoming: Incoming) -> Turn:
        nonlocal failures
        if failures == 0:
            failures += 1
            raise RuntimeError("handling failed")
        return await real(incoming)

    channel.engine.turn = failing  # type: ignore[method-assign]
    await p._turn(p.user.press(ready, "g:menu", check=False))
    assert failures == 1 and "选择" in p.text  # failed once, handled on the retry
    assert len(tg.answered_callbacks) == 4  # every press answered, the failed one included

    await p.say("/echo")
    await p.say("a<b>&c </i>")
    assert p.last[0].plain_text == "you said: a<b>&c </i>"
    assert p.last[0].text == "you said: a&lt;b&gt;&amp;c &lt;/i&gt;"
    parts = await p.say("long")
    assert len(parts) == 2 and all(utf16_len(part.plain_text or "") <= TEXT_LIMIT for part in parts)
    assert "\n\n".join(part.plain_text or "" for part in parts) == LONG_TEXT
    assert parts[0].reply_markup is None and parts[1].buttons[0]["text"] == "ok"


def test_split_text_prefers_paragraphs_then_lines_then_a_hard_cut() -> None:
    assert split_text("short") == ["short"]
    assert split_text("a" * 60 + "\n\n" + "b" * 30, limit=80) == ["a" * 60, "b" * 30]
    assert split_text("a" * 50 + "\n" + "b" * 50, limit=80) == ["a" * 50, "b" * 50]
    assert split_text("c" * 200, limit=80) == ["c" * 80, "c" * 80, "c" * 40]
    emoji = "😀" * 50  # 100 UTF-16 units
    assert [utf16_len(part) for part in split_text(emoji, limit=40)] == [40, 40, 20]
    assert split_text("\n\n  \n") == []


# --- webhook and polling: acknowledged only when safe ----------------------------------------------

async def test_webhook_rejects_a_wrong_secret_and_redelivers_after_a_crash(
    tg: FakeTelegram, both: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    options = TelegramOptions(webhook_url=url, webhook_secret="s3cret-token", webhook_listen=f"127.0.0.1:{port}")
    rig = Rig(tg, both, tmp_path, options=options)
    channel = await rig.start()
    try:
        assert tg.webhook_url() == url
        forged = {"update_id": 1, "message": {
            "message_id": 1, "date": 1, "chat": {"id": UID, "type": "private", "first_name": "x"},
            "from": {"id": UID, "is_bot": False, "first_name": "x"}, "text": "/start"}}
        async with aiohttp.ClientSession() as http:
            for headers in ({"X-Telegram-Bot-Api-Secret-Token": "wrong"}, {}):
                async with http.post(url, json=forged, headers=headers) as response:
                    assert response.status in (401, 403)
        assert await count(both, m.ChannelUpdate) == 0 and tg.sent == []

        real = channel.engine.turn
        calls = 0

        async def crash_once(incoming: Incoming) -> Turn:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("the process died before acknowledging")
            return await real(incoming)

        channel.engine.turn = crash_once  # type: ignore[method-assign]
        user = tg.user(UID)
        update = await user.send_text("/start")
        await tg.wait_confirmed()
        statuses = [a.status for a in tg.webhook_attempts if a.update_id == update["update_id"]]
        assert statuses[0] == 500 and statuses[-1] == 200
        assert len(user.messages()) == 2  # welcome and menu, once
        assert await count(both, m.HandledIncoming) == 1

        # Telegram sending the same update again (its answer timed out, say), once the replies are marked
        # sent: acknowledged, not handled again. (Before they are marked, the turn hands its kept replies
        # back instead: tests/channels/test_durable_replies.py.)
        await channel.wait_idle()
        async with aiohttp.ClientSession() as http:
            headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
            async with http.post(url, json=update, headers=headers) as response:
                assert response.status == 200
        assert len(user.messages()) == 2 and calls == 2
    finally:
        await rig.stop()


async def test_polling_records_before_confirming_and_recovers_after_a_crash(
    tg: FakeTelegram, both: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    rig = Rig(tg, both, tmp_path)
    hang = asyncio.Event()
    engine = rig.engine()

    class Hanging:
        flows = engine.flows

        async def turn(self, incoming: Incoming) -> Turn:
            await hang.wait()  # the process dies in the middle of this turn
            return Turn([])

    await rig.start(Hanging())
    user = tg.user(UID)
    await user.send_text("/start")
    await tg.wait_confirmed()  # Telegram considers it delivered …
    async with both() as s:
        row = (await s.execute(select(m.ChannelUpdate))).scalar_one()
    assert row.handled_at is None  # … and it is safe in the database, not handled yet
    await rig.stop(drain=False)
    assert user.messages() == []

    # A second update was recorded, but the process died before the next getUpdates confirmed it:
    # Telegram sends it again, and it is in the database too. It must be handled once all the same.
    again = await user.send_text("/menu")
    async with both() as s, s.begin():
        s.add(m.ChannelUpdate(channel=f"tg:{DEFAULT_TOKEN.split(':')[0]}", update_id=again["update_id"],
                              user_key=str(UID), payload=again, received_at=NOW))
    turns: list[str] = []

    class Counting:
        flows = engine.flows

        async def turn(self, incoming: Incoming) -> Turn:
            turns.append(incoming.command or "")
            return await engine.turn(incoming)

    await rig.start(Counting())
    await rig.settle()
    assert turns == ["start", "menu"]  # each once, in order
    assert len(user.messages()) == 3  # welcome and menu, then the menu
    async with both() as s:
        assert None not in (await s.execute(select(m.ChannelUpdate.handled_at))).scalars().all()
    await rig.stop()
    await rig.start()  # and once more: nothing left to do, nothing sent again
    await rig.channel.wait_idle()  # type: ignore[union-attr]
    await rig.stop()
    assert len(user.messages()) == 3 and tg.pending_updates() == []


async def test_a_handled_update_leaves_the_inbox_and_is_not_taken_in_again(
    tg: FakeTelegram, both: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """De-duplication is the turns' record alone: the inbox (``channel_updates``) holds an update only until
    it is handled, and one Telegram sends again after that is known by its turn's key (nothing recorded,
    nothing queued: no download, no callback answer, no turn). Rows an earlier version kept once handled
    go at the start."""
    inbox = f"tg:{DEFAULT_TOKEN.split(':')[0]}"
    async with both() as s, s.begin():
        s.add(m.ChannelUpdate(channel=inbox, update_id=1, user_key=None, payload={}, received_at=NOW,
                              handled_at=NOW))
    rig = Rig(tg, both, tmp_path)
    channel = await rig.start()
    try:
        assert await count(both, m.ChannelUpdate) == 0
        person = Person(rig, tg.user(UID))
        update = await person.user.send_text("/start")
        await rig.settle()
        assert len(person.user.messages()) == 2 and await count(both, m.ChannelUpdate) == 0
        assert await count(both, m.HandledIncoming) == 1

        again = Update.model_validate(update)
        recorded = await channel.record([again], [update])
        assert (recorded.fresh, recorded.handled) == (set(), {again.update_id})
        assert await count(both, m.ChannelUpdate) == 0 and len(channel.queues) == 0

        new = Update.model_validate({**update, "update_id": again.update_id + 1})
        recorded = await channel.record([new], [update])
        assert (recorded.fresh, recorded.handled) == ({new.update_id}, set())
        assert await count(both, m.ChannelUpdate) == 1  # in hand until it is handled

        # a turn committed whose replies were never sent (its process died): the update is not "handled"
        # yet, so a re-delivery reaches the turn, which hands those replies back
        unsent = Update.model_validate({**update, "update_id": again.update_id + 2})
        turn = await channel.engine.turn(
            Incoming.from_text(CHANNEL, str(UID), channel.reader.incoming_id(unsent.update_id), "/menu"))
        assert turn.reply_id is not None
        recorded = await channel.record([unsent], [update])
        assert (recorded.fresh, recorded.handled) == ({unsent.update_id}, set())
    finally:
        await rig.stop(drain=False)


async def test_updates_of_one_user_in_order_different_users_in_parallel(
    tg: FakeTelegram, both: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    rig = Rig(tg, both, tmp_path)
    engine = rig.engine()
    log: list[tuple[str, str, str]] = []
    rng = random.Random(4)

    class Recording:
        flows = engine.flows

        async def turn(self, incoming: Incoming) -> Turn:
            log.append(("start", incoming.user_id, incoming.text or ""))
            await asyncio.sleep(rng.uniform(0, 0.005))
            try:
                return await engine.turn(incoming)
            finally:
                log.append(("end", incoming.user_id, incoming.text or ""))

    channel = await rig.start(Recording())
    sending = peak = 0
    deliver = channel.deliver

    async def counting(chat_id: int, replies: Any) -> None:
        nonlocal sending, peak
        sending += 1
        peak = max(peak, sending)
        try:
            await deliver(chat_id, replies)
        finally:
            sending -= 1

    channel.deliver = counting  # type: ignore[method-assign]
    tg.faults.latency = 0.01
    users = [tg.user(8000 + n) for n in range(6)]
    try:
        for i in range(5):
            for user in users:
                await user.send_text(f"m{i}")
        await rig.settle()
    finally:
        await rig.stop()
    for user in users:
        mine = [(event, text) for event, uid, text in log if uid == str(user.id)]
        assert mine == [(e, f"m{i}") for i in range(5) for e in ("start", "end")]
        texts = [message.plain_text or "" for message in user.messages()]
        assert len(texts) == 10 and all("没有理解" in t for t in texts[0::2])  # 5 × (not understood + menu)
    assert peak > 1  # replies to different users went out at the same time


# --- outgoing reliability --------------------------------------------------------------------------

async def test_injected_429s_deliver_everything_once_and_never_early(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock()
    async with FakeTelegram(clock=clock, seed=3) as tg:
        tg.faults.fail_randomly("sendMessage", 0.2, Fault.too_many_requests(retry_after=3))
        rig = Rig(tg, sessions, tmp_path, time=VirtualTime(clock))
        await rig.start()
        users = [tg.user(9000 + n) for n in range(5)]
        for i in range(4):
            for user in users:
                await user.send_text(f"hello {i}")
        await rig.settle()
        await rig.stop()
        assert tg.stats.served_429 > 0
        assert tg.stats.early_retries() == []
        for user in users:
            texts = [message.plain_text or "" for message in user.messages()]
            assert len(texts) == 8  # 4 × (not understood + menu): all delivered, none twice
            assert all("没有理解" in t for t in texts[0::2]) and all("选择" in t for t in texts[1::2])


async def test_5xx_backs_off_exponentially_and_gives_up_after_a_bound(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock()
    async with FakeTelegram(clock=clock) as tg:
        time = VirtualTime(clock)
        rig = Rig(tg, sessions, tmp_path, time=time)
        await rig.start()
        p = Person(rig, tg.user(UID))
        tg.faults.fail_next("sendMessage", Fault.server_error(502), times=3)  # nginx HTML: ClientDecodeError
        await p.say("hi")
        assert len(p.last) == 2
        attempts = tg.stats.attempts[UID]
        gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)][:3]
        assert gaps == [0.5, 1.0, 2.0] and time.sleeps[:3] == [0.5, 1.0, 2.0]

        tg.faults.fail_next("sendMessage", Fault.server_error(500), times=100)
        before = len(tg.stats.attempts[UID])
        await p.say("hi")
        assert p.last == [] and len(tg.stats.attempts[UID]) - before == 10  # 2 replies × (1 + 4 retries)
        tg.faults.clear()
        await p.say("hi")  # the channel lives on
        assert len(p.last) == 2
        await rig.stop()


async def test_403_marks_the_identity_unreachable_until_the_person_writes_again(rig: Rig, sessions) -> None:  # type: ignore[no-untyped-def]
    tg = rig.tg
    channel = await rig.start()
    p = Person(rig, tg.user(UID))
    await p.say("/start")
    tg.faults.blocked_chats.add(UID)
    await p.say("/menu")
    assert tg.stats.attempts[UID][2:] == tg.stats.attempts[UID][2:3]  # one refused send, then silence
    me = await identity(sessions, UID)
    assert me.unreachable

    async with sessions() as s, s.begin():
        await queue_notice(s, me.id, "common.welcome", "t403", NOW)
    sender = channel.sender()
    counts = await Dispatcher(sessions, sender, zone=DialogSettings().zone, default_locale="zh-Hans",
                              sleep=rig.time.sleep, clock=lambda: NOW).dispatch(NOW)
    assert counts.dead == 1 and counts.sent == 0
    with pytest.raises(Unreachable):
        await sender.send(CHANNEL, str(UID), Reply("anyone there?"))
    assert len(tg.stats.attempts[UID]) == 3  # nothing more was even tried

    tg.faults.blocked_chats.clear()  # unblocked, and writes again
    await p.say("/menu")
    assert len(p.last) == 1 and not (await identity(sessions, UID)).unreachable


async def test_outbox_sender_surfaces_long_rate_limits_to_the_dispatcher(rig: Rig) -> None:
    tg = rig.tg
    channel = await rig.start()
    tg.faults.fail_next("sendMessage", Fault.too_many_requests(retry_after=40))
    from bot.sending import RetryAfter

    with pytest.raises(RetryAfter) as raised:
        await channel.sender().send(CHANNEL, str(UID), Reply("reminder"))
    assert raised.value.seconds == 40 and tg.stats.requests["sendMessage"] == 1
    await channel.sender().send(CHANNEL, str(UID), Reply("reminder"))  # waits out the block, then sends
    assert rig.time.sleeps and rig.time.sleeps[-1] >= 40 - 1e-6
    assert [s.plain_text for s in tg.messages_to(UID)] == ["reminder"]


async def test_configured_sender_is_the_telegram_sender(tg: FakeTelegram, sqlite_url: str) -> None:
    settings = Settings(database_url=sqlite_url, telegram_token=DEFAULT_TOKEN, telegram_api_url=tg.base_url)
    async with configured_sender(settings) as sender:
        assert sender is not None and sender.channels == {CHANNEL}
        await sender.send(CHANNEL, str(UID), Reply("提醒 <1>", [[Button("open", "g:run:" + "y" * 80)]]))
    [sent] = tg.messages_to(UID)
    assert sent.plain_text == "提醒 <1>" and len(sent.buttons[0]["callback_data"]) <= CALLBACK_LIMIT


async def test_rate_limiter_paces_chats_and_the_whole_bot() -> None:
    time = VirtualTime()
    limiter = RateLimiter(overall=30, per_chat=1, chat_burst=3, clock=time, sleep=time.sleep)
    start = time()
    first = await limiter.acquire(0)
    time.clock.advance(0.3)  # the first send is answered late: Telegram may have counted it that late
    limiter.release(first)
    for chat in range(1, 30):
        limiter.release(await limiter.acquire(chat))
    assert time() == start + 0.3  # a burst of 30 chats goes at once
    limiter.release(await limiter.acquire(30))
    assert time() == start + 1.3  # the 31st waits a whole window after the first one's answer

    one = VirtualTime()
    chat_limiter = RateLimiter(clock=one, sleep=one.sleep)
    moments = []
    for _ in range(6):
        chat_limiter.release(await chat_limiter.acquire(1))
        moments.append(one() - 1000.0)
    assert moments == [0.0, 0.0, 0.0, 1.0, 2.0, 3.0]  # a burst of 3, then one a second


# --- command menus, deep links, the service --------------------------------------------------------

async def test_command_menus_per_role_and_language(rig: Rig, sessions) -> None:  # type: ignore[no-untyped-def]
    tg = rig.tg
    await make_world(sessions, org_uid=UID)
    await rig.start()

    def names(scope: dict[str, Any] | None, language: str = "") -> dict[str, str]:
        return {c["command"]: c["description"] for c in tg.commands(scope, language) or []}

    def chat(uid: int) -> dict[str, Any]:
        return {"type": "chat", "chat_id": uid}

    assert names(None)["menu"] == "主菜单" and names(None, "zh")["menu"] == "主菜单"
    assert names(None, "en")["menu"] == "Main menu"
    assert "apply" not in names(None) and "need" in names(None)

    await Person(rig, tg.user(UID)).say("/menu")  # an organization member
    assert {"apply", "status", "progress", "menu"} <= names(chat(UID)).keys()

    plain = Person(rig, tg.user(UID + 1, language_code="zh-hans"))
    await plain.say("/menu")
    assert tg.commands(chat(UID + 1)) is None  # the default menu fits

    hant = Person(rig, tg.user(UID + 2, language_code="zh-hant"))
    await hant.say("/menu")
    hant_menu = i18n.t("zh-Hant", "commands.menu")
    assert names(chat(UID + 2))["menu"] == hant_menu != "主菜单"  # "zh" cannot say Traditional: a per-chat menu

    await plain.say("/lang en")
    assert names(chat(UID + 1))["menu"] == "Main menu"
    await plain.say("/lang zh-Hans")
    assert tg.commands(chat(UID + 1)) is None  # back to the default menu


async def test_invite_prints_the_deep_link_with_the_username_from_getme(
    tg: FakeTelegram, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app_db = create_engine(sqlite_url)
    await make_world(sessionmaker(app_db))
    await app_db.dispose()
    args = argparse.Namespace(kind="staff", ref="MZ", json=False)
    live = Settings(database_url=sqlite_url, telegram_token=DEFAULT_TOKEN, telegram_api_url=tg.base_url,
                    telegram_username="configured_bot")
    assert await cmd_invite(args, live) == 0
    code, link = capsys.readouterr().out.split()
    assert link == f"https://t.me/{DEFAULT_BOT_USERNAME}?start={code}"
    offline = live.model_copy(update={"telegram_api_url": f"http://127.0.0.1:{free_port()}"})
    assert await cmd_invite(args, offline) == 0
    code, link = capsys.readouterr().out.split()
    assert link == f"https://t.me/configured_bot?start={code}"


async def test_run_serves_telegram_and_the_outbox_until_stopped(
    tg: FakeTelegram, sqlite_url: str, tmp_path: Path
) -> None:
    settings = Settings(database_url=sqlite_url, telegram_token=DEFAULT_TOKEN, telegram_api_url=tg.base_url,
                        media_dir=tmp_path, quiet_hours="")
    app = await open_app(settings)
    try:
        await make_world(app.sessions)
        async with app.sessions() as s, s.begin():
            resident = m.Identity(channel=CHANNEL, external_id=str(UID + 5), role="resident",
                                  created_at=datetime.now(UTC))
            s.add(resident)
            await s.flush()
            await queue_notice(s, resident.id, "common.welcome", "run-test", datetime.now(UTC))
        stop = asyncio.Event()
        service = asyncio.create_task(serve(app, settings, stop))
        user = tg.user(UID)
        await user.send_text("/start")
        await user.wait_for_messages(2)
        await tg.wait_for_messages(UID + 5, 1)  # the scheduler's first tick sent the queued notice
        stop.set()
        await asyncio.wait_for(service, 10)
    finally:
        await app.close()
    assert "您好" in (user.messages()[0].plain_text or "")


async def test_a_keyboard_shown_again_is_built_once() -> None:
    """Menus and form steps show the same keyboard over and over: its Bot API models are built once; a
    different label, data or link is another keyboard."""
    now = datetime.now(UTC)
    menu = [[Button("🔎 查询公开信息", "g:run:query")], [Button("🌐 语言 / Language", "g:lang")]]
    first = await keyboard(menu, None, now)
    again = await keyboard([[Button(b.label, b.data) for b in row] for row in menu], None, now)
    assert first is again and first is not None
    assert [[b.callback_data for b in row] for row in first.inline_keyboard] == [["g:run:query"], ["g:lang"]]
    other = await keyboard([[Button("🔎 Search", "g:run:query")], menu[1]], None, now)
    link = await keyboard([[Button("🔎 查询公开信息", None, url="https://example.org")], menu[1]], None, now)
    assert other is not first and link is not first and link is not None
    assert link.inline_keyboard[0][0].url == "https://example.org"
