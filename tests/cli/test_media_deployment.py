"""Media across processes and channels: a photo a resident sends through the web chat of one `civicbot
run` process is stored in the bucket, and staff are shown it on Telegram by another process. And when the
store cannot be used, each channel says so to the person and nothing of their conversation is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.web.render import render
from bot.channels.web.server import WebChannel, WebOptions
from dialogs import i18n
from dialogs.context import DialogSettings
from dialogs.registry import build_engine
from dialogs.types import Attachment, Reply
from store import models as m
from store.db import create_engine, sessionmaker
from store.media import DirectoryMedia, MediaStore, S3Media
from testing.factories import bind_identity, build_world
from testing.ports import free_port
from testing.s3 import ACCESS, SECRET, FakeS3, fake_s3
from testing.telegram_api import FakeTelegram
from tests.channels.test_telegram import CHANNEL, Person, Rig, jpeg
from tests.channels.test_web import Browser, png, texts

STAFF_UID = 5_550_001
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def s3() -> Iterator[FakeS3]:
    with fake_s3() as server:
        yield server


class Chat(Browser):
    """The web chat as a page uses it: press a button by its label, send a photo."""

    n = 0

    def _id(self) -> str:
        Chat.n += 1
        return f"c{Chat.n}"

    async def said(self, text: str) -> dict[str, Any]:
        return await self.say(text, self._id())

    async def press(self, frame: dict[str, Any], label: str) -> dict[str, Any]:
        for message in frame["messages"]:
            for row in message.get("buttons", ()):
                for button in row:
                    if label in button["label"] and button.get("data"):
                        assert self.ws is not None
                        await self.ws.send_json({"type": "button", "id": self._id(), "data": button["data"]})
                        return await self.frame("reply")
        raise AssertionError(f"no button {label!r} in {texts(frame)}")

    async def upload(self, content: bytes) -> aiohttp.ClientResponse:
        return await self.http.post(self.web.origin + "/upload", data=content, headers={"Origin": self.web.origin})

    async def photo(self, ref: str) -> dict[str, Any]:
        assert self.ws is not None
        await self.ws.send_json({"type": "photo", "id": self._id(), "ref": ref})
        return await self.frame("reply")


def chat(origin: str) -> Chat:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), headers={"Accept-Language": "zh-CN"})
    return Chat(SimpleNamespace(origin=origin), http)  # type: ignore[arg-type]


async def complaint_up_to_the_photo(page: Chat, code: str) -> dict[str, Any]:
    await page.open("/")
    await page.connect(fresh=True)
    await page.frame("reply")
    await page.said("/complain")
    frame = await page.said(code)
    frame = await page.press(frame, "服务质量差")
    frame = await page.said("上门探访没有来，门口的通知也没有贴。")
    assert "照片" in texts(frame)
    return frame


def start_web_process(database_url: str, port: int, env_extra: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CIVICBOT_DATABASE_URL": database_url, "CIVICBOT_WEB_LISTEN": f"127.0.0.1:{port}",
           "CIVICBOT_MEDIA_DIR": "/nonexistent/not-used-with-a-bucket", **env_extra}
    env.pop("CIVICBOT_TELEGRAM_TOKEN", None)
    server = subprocess.Popen([sys.executable, "-m", "bot", "run", "--role", "web"], env=env, cwd=ROOT,
                              stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise AssertionError(server.communicate()[1].decode()[-3000:]) from None
            time.sleep(0.2)


async def test_a_photo_sent_on_the_web_by_one_process_is_shown_to_staff_on_telegram_by_another(
    s3: FakeS3, pg_url: str, tmp_path: Path
) -> None:
    db = create_engine(pg_url)
    sessions = sessionmaker(db)
    async with sessions() as s, s.begin():
        world = await build_world(s)
        await bind_identity(s, CHANNEL, str(STAFF_UID), "staff", world.dept.id)
    bucket = s3.new_bucket()
    port = free_port()
    server = start_web_process(pg_url, port, s3.env(bucket))
    page = chat(f"http://127.0.0.1:{port}")
    try:
        await complaint_up_to_the_photo(page, world.project.code)
        uploaded = await page.upload(png((120, 90)))
        assert uploaded.status == 200
        ref = (await uploaded.json())["ref"]
        frame = await page.photo(ref)
        frame = await page.press(frame, "跳过")  # no contact
        assert "请核对您要反映的问题" in texts(frame)
        await page.press(frame, "提交")
    finally:
        await page.close()
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=30)
    assert server.returncode == 0, err.decode()[-3000:]
    async with sessions() as s:
        ticket = (await s.execute(select(m.Ticket))).scalar_one()
    assert ticket.media_path == ref and ref.startswith("web-")
    stored = s3.client().get_object(Bucket=bucket, Key=ref)["Body"].read()
    assert stored[:3] == b"\xff\xd8\xff"  # in the bucket, re-encoded as JPEG; not in any folder
    assert not Path("/nonexistent").exists()

    # another process (this one), its own client of the bucket: staff open the ticket on Telegram
    media = S3Media(s3.url, bucket, access_key=ACCESS, secret_key=SECRET)
    async with FakeTelegram() as tg:
        rig = Rig(tg, sessions, tmp_path / "unused")
        rig.media = media
        await rig.start()
        try:
            staff = Person(rig, tg.user(STAFF_UID))
            await staff.say("/tickets")
            await staff.press(ticket.reference)
            photos = [sent for sent in staff.last if sent.method == "sendPhoto"]
            assert [p.media for p in photos] == [stored], [s.method for s in staff.last]
            assert "上门探访没有来" in staff.text
        finally:
            await rig.stop()
    await db.dispose()


# -- a store that cannot be used --------------------------------------------------------------------

@pytest.fixture
async def broken_web(sessions: async_sessionmaker[AsyncSession], s3: FakeS3) -> AsyncIterator[str]:
    async with sessions() as s, s.begin():
        await build_world(s)
    missing = S3Media(s3.url, "no-such-bucket", access_key=ACCESS, secret_key=SECRET)
    channel = WebChannel(build_engine(sessions, DialogSettings(), media=missing), sessions, WebOptions())
    server = TestServer(channel.app())
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def test_web_upload_to_a_missing_bucket_is_answered_and_the_form_waits(
    broken_web: str, sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    page = chat(broken_web)
    try:
        async with sessions() as s:
            code = (await s.execute(select(m.Project.code).order_by(m.Project.id))).scalars().first()
        frame = await complaint_up_to_the_photo(page, code or "")
        refused = await page.upload(png())
        assert refused.status == 503
        assert (await refused.json())["error"] == i18n.t("zh-Hans", "common.media_unavailable")
        assert "'no-such-bucket'" in caplog.text and "does not exist" in caplog.text
        frame = await page.press(frame, "跳过")  # still at the photo step: what was typed is kept
        frame = await page.press(frame, "跳过")
        assert "上门探访没有来" in texts(frame) and "请核对您要反映的问题" in texts(frame)
    finally:
        await page.close()


async def test_telegram_photo_while_the_store_is_unreachable_is_answered_and_the_form_waits(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with sessions() as s, s.begin():
        world = await build_world(s)
        await bind_identity(s, CHANNEL, "7001", "org", world.org.id)
    unreachable: MediaStore = S3Media(f"http://127.0.0.1:{free_port()}", "media", access_key=ACCESS,
                                      secret_key=SECRET, timeout=1)
    async with FakeTelegram() as tg:
        rig = Rig(tg, sessions, tmp_path)
        rig.media = unreachable
        await rig.start()
        try:
            p = Person(rig, tg.user(7001))
            await p.say("/progress")
            await p.press(world.project.code)
            await p.say("本月探访独居长者32人次。")
            await p.send_photo(jpeg())
            assert p.text == i18n.t("zh-Hans", "common.media_unavailable")
            assert "cannot be reached" in caplog.text
            assert rig.channel is not None
            rig.channel.engine.media = DirectoryMedia(tmp_path / "media")  # the store is back
            await p.send_photo(jpeg())  # sent again, at the same step
            await p.press("是")
            assert "请核对这条进展" in p.text
        finally:
            await rig.stop()


# -- two web processes behind a balancer ------------------------------------------------------------

async def test_uploads_and_reply_files_are_served_by_whichever_web_process_a_request_reaches(
    s3: FakeS3, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A page's upload may reach one process and its socket another; a reply's chart is rendered by the
    process holding the socket and downloaded through another. Each has its own client of the bucket."""
    async with sessions() as s, s.begin():
        world = await build_world(s)
    bucket = s3.new_bucket()
    servers = []
    for _ in range(2):
        media = S3Media(s3.url, bucket, access_key=ACCESS, secret_key=SECRET)
        channel = WebChannel(build_engine(sessions, DialogSettings(), media=media), sessions, WebOptions())
        servers.append((TestServer(channel.app()), channel))
        await servers[-1][0].start_server()
    (one, one_channel), (other, _) = servers
    origin_one, origin_other = (str(s.make_url("")).rstrip("/") for s in (one, other))
    page = chat(origin_one)
    try:
        frame = await complaint_up_to_the_photo(page, world.project.code)  # the socket is held by `one`
        page.web = SimpleNamespace(origin=origin_other)  # type: ignore[assignment]
        uploaded = await page.upload(png())  # … the upload reaches `other`
        assert uploaded.status == 200
        frame = await page.photo((await uploaded.json())["ref"])
        assert i18n.t("zh-Hans", "complain.ask.contact") in texts(frame)  # taken: on to the next step

        identity_id = int(ref_identity((await uploaded.json())["ref"]))
        message = await render(Reply("chart", image=Attachment("satisfaction.png", png(), "image/png")),
                               identity_id, one_channel.files, "zh-Hans")
        served = await page.http.get(origin_other + message["image"]["url"])  # rendered by one, asked of other
        assert served.status == 200 and await served.read() == png()
        assert served.headers["Content-Type"] == "image/png"
        stranger = chat(origin_other)
        try:
            await stranger.open("/")
            assert (await stranger.http.get(origin_other + message["image"]["url"])).status == 404
        finally:
            await stranger.close()
    finally:
        await page.close()
        for server, _ in servers:
            await server.close()


def ref_identity(ref: str) -> str:
    return ref.split("-")[1]  # web-<identity>-<token>.jpg
