"""The web chat's server through aiohttp's test client: headers, cookies, origins, limits, uploads,
survey tokens, dropped sockets and notices (the page itself: tests/channels/test_web_browser.py)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from yarl import URL

from bot.channels.web import socket as web_socket
from bot.channels.web.limits import Limits, RateLimit
from bot.channels.web.render import render
from bot.channels.web.server import WebChannel, WebOptions
from bot.cli import main
from dialogs import i18n
from dialogs.context import DialogSettings
from dialogs.notices import queue_notice
from dialogs.registry import build_engine
from dialogs.types import Attachment, Reply
from store import outbox, surveys
from store.db import create_engine, sessionmaker
from store.media import DirectoryMedia
from store.models import OutboxMessage, Project, SurveyResponse, WebSession
from store.web_sessions import key_hash
from testing.factories import build_world
from testing.ports import free_port

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Web:
    server: TestServer
    channel: WebChannel
    sessions: async_sessionmaker[AsyncSession]

    @property
    def origin(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    def browser(self, accept_language: str = "zh-CN,zh;q=0.9") -> Browser:
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                     headers={"Accept-Language": accept_language})
        return Browser(self, http)


@dataclass
class Browser:
    web: Web
    http: aiohttp.ClientSession
    ws: aiohttp.ClientWebSocketResponse | None = None

    async def open(self, path: str = "/") -> aiohttp.ClientResponse:
        response = await self.http.get(self.web.origin + path)
        await response.read()
        return response

    async def connect(self, **hello: Any) -> aiohttp.ClientWebSocketResponse:
        self.ws = await self.http.ws_connect(self.web.origin + "/ws", origin=self.web.origin)
        await self.ws.send_json({"type": "hello", "id": f"h{id(hello)}", **hello})
        return self.ws

    async def frame(self, kind: str, timeout: float = 10) -> dict[str, Any]:
        assert self.ws is not None
        while True:
            message = await self.ws.receive_json(timeout=timeout)
            if "n" in message:  # as the page does: confirm what it has shown
                await self.ws.send_json({"type": "seen", "n": message["n"]})
            if message["type"] == kind:
                return message

    async def say(self, text: str, cid: str) -> dict[str, Any]:
        assert self.ws is not None
        await self.ws.send_json({"type": "text", "id": cid, "text": text})
        return await self.frame("reply")

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        await self.http.close()


def texts(frame: dict[str, Any]) -> str:
    return "\n".join(m["text"] for m in frame["messages"])


@pytest.fixture(autouse=True)
def no_traceback(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Bad input gets an answer; the server never logs a traceback for it."""
    yield
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.fixture
async def web(sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> AsyncIterator[Web]:
    async with sessions() as session, session.begin():
        await build_world(session, now())
    engine = build_engine(sessions, DialogSettings(), media=DirectoryMedia(tmp_path))
    limits = Limits(upload_bytes=200_000, session_burst=10, per_session_minute=60)
    # notices come by the wake-up of this process's commits (and a page's hello), never by the fallback look
    channel = WebChannel(engine, sessions, WebOptions(limits=limits, notice_interval=60))
    server = TestServer(channel.app())
    await server.start_server()
    try:
        yield Web(server, channel, sessions)
    finally:
        await server.close()


def png(size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


async def test_page_headers_cookie_and_first_language(web: Web) -> None:
    browser = web.browser("en-GB,en;q=0.8,zh;q=0.5")
    try:
        response = await browser.open("/")
        page = await response.text()
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=15552000" in cookie
        assert "Secure" not in cookie  # plain http in the test; https URLs get Secure (below)
        assert '<html lang="en">' in page and "<main id=\"chat\">" in page
        key = response.cookies["civicbot_session"].value
        assert len(key) >= 22  # ≥ 128 bits, urlsafe base64
        async with web.sessions() as session:
            stored = (await session.execute(select(WebSession))).scalars().all()
        assert [s.key_hash for s in stored] == [key_hash(key)]  # only the hash is kept
        await browser.connect(fresh=True)
        greeting = await browser.frame("reply")
        assert greeting["lang"] == "en"
        assert i18n.t("en", "common.welcome") in texts(greeting)
        assert any(row for m in greeting["messages"] for row in m.get("buttons", []))
        for asset in ("app.js", "app.css"):
            hashed = web.channel.assets[asset][0]
            static = await browser.http.get(f"{web.origin}/static/{hashed}")
            assert "immutable" in static.headers["Cache-Control"]
        health = await browser.http.get(f"{web.origin}/healthz")
        assert (await health.json())["ok"] is True
    finally:
        await browser.close()


async def test_secure_cookie_on_https(sessions: async_sessionmaker[AsyncSession]) -> None:
    channel = WebChannel(build_engine(sessions, DialogSettings()), sessions, WebOptions(url="https://bot.example.gov.cn"))
    server = TestServer(channel.app())
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            response = await http.get(server.make_url("/"))
            assert "Secure" in response.headers["Set-Cookie"]
            # the configured URL's origin, not the Host header, is what a socket must come from
            refused = await http.get(server.make_url("/ws"), headers={
                "Origin": str(server.make_url("")).rstrip("/"), "Upgrade": "websocket", "Connection": "Upgrade",
                "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
            assert refused.status == 403
    finally:
        await server.close()


@pytest.mark.parametrize("origin", ["https://evil.example", None])
async def test_forged_or_missing_origin_is_refused(web: Web, origin: str | None) -> None:
    browser = web.browser()
    try:
        await browser.open("/")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await browser.http.ws_connect(web.origin + "/ws", origin=origin)
        assert refused.value.status == 403
        upload = await browser.http.post(web.origin + "/upload", data=png(), headers={"Origin": origin or ""})
        assert upload.status == 403
    finally:
        await browser.close()


async def test_cookie_from_another_server_gets_a_new_identity(web: Web) -> None:
    browser = web.browser()
    try:
        browser.http.cookie_jar.update_cookies({"civicbot_session": "made-up-by-another-server-0123456789"})
        ws = await browser.http.ws_connect(web.origin + "/ws", origin=web.origin)
        assert (await ws.receive_json(timeout=5))["type"] == "session"  # the page reloads to get a cookie
        closed = await ws.receive(timeout=5)
        assert closed.type == aiohttp.WSMsgType.CLOSE and closed.data == 4401
        response = await browser.open("/")
        assert response.cookies["civicbot_session"].value != "made-up-by-another-server-0123456789"
        await browser.connect(fresh=True)
        assert i18n.t("zh-Hans", "common.welcome") in texts(await browser.frame("reply"))
    finally:
        await browser.close()


async def test_oversized_message_gets_a_polite_answer(web: Web) -> None:
    browser = web.browser()
    try:
        await browser.open("/")
        await browser.connect(fresh=True)
        await browser.frame("reply")
        await browser.ws.send_json({"type": "text", "id": "long1", "text": "字" * 4001})  # type: ignore[union-attr]
        refused = await browser.frame("refused")
        assert refused["id"] == "long1" and "4000" in refused["text"]
        reply = await browser.say("/menu", "after1")  # the socket is still there
        assert reply["messages"]
    finally:
        await browser.close()


async def test_a_hundred_messages_a_second_are_slowed_not_dropped(web: Web) -> None:
    browser = web.browser()
    try:
        await browser.open("/")
        await browser.connect(fresh=True)
        await browser.frame("reply")
        for n in range(100):
            await browser.ws.send_json({"type": "text", "id": f"flood{n}", "text": "/menu"})  # type: ignore[union-attr]
        replied: set[str] = set()
        limited: set[str] = set()
        while len(replied) + len(limited) < 100:
            frame = await browser.ws.receive_json(timeout=10)  # type: ignore[union-attr]
            if frame["type"] == "limit":
                limited.add(frame["id"])
                assert frame["retry"] > 0 and frame["text"] == i18n.t("zh-Hans", "web.slow_down")
            elif frame["type"] == "reply":
                assert frame["messages"]
                replied.add(frame["id"])
        assert 50 <= len(limited) <= 95  # a burst of 10 (and a refill) went through; the rest wait
        assert not replied & limited
        assert not browser.ws.closed  # type: ignore[union-attr]
    finally:
        await browser.close()


async def test_uploads_images_only_within_the_limit(web: Web, tmp_path: Path) -> None:
    browser = web.browser()
    try:
        await browser.open("/")
        headers = {"Origin": web.origin}
        big = await browser.http.post(web.origin + "/upload", data=b"\x89PNG" + b"0" * 300_000, headers=headers)
        assert big.status == 413 and "MB" in (await big.json())["error"]
        script = await browser.http.post(web.origin + "/upload", data=b"<script>alert(1)</script>", headers=headers)
        assert script.status == 415
        assert (await script.json())["error"] == i18n.t("zh-Hans", "web.upload_not_image")
        fake = await browser.http.post(web.origin + "/upload", data=b"\x89PNG\r\n\x1a\n" + b"garbage" * 10,
                                       headers=headers)
        assert fake.status == 415
        good = await browser.http.post(web.origin + "/upload", data=png(), headers=headers)
        assert good.status == 200
        ref = (await good.json())["ref"]
        stored = tmp_path / ref
        assert stored.read_bytes()[:3] == b"\xff\xd8\xff"  # re-encoded as JPEG
        assert len(list(tmp_path.glob("web-*"))) == 1  # nothing of the refused uploads was kept
        await browser.connect(fresh=True)
        await browser.frame("reply")
        await browser.ws.send_json({"type": "photo", "id": "p1", "ref": ref})  # type: ignore[union-attr]
        assert (await browser.frame("reply"))["id"] == "p1"
        await browser.ws.send_json({"type": "photo", "id": "p2", "ref": "web-someone-elses.jpg"})  # type: ignore[union-attr]
        assert (await browser.frame("refused"))["text"] == i18n.t("zh-Hans", "web.upload_lost")
    finally:
        await browser.close()


async def _invitation(sessions: async_sessionmaker[AsyncSession]) -> str:
    async with sessions() as session, session.begin():
        project = (await session.execute(select(Project).order_by(Project.id))).scalars().first()
        assert project is not None
        survey = await surveys.open_survey(session, project.id, now(), now() + timedelta(days=10))
        (issued,) = await surveys.create_invitations(session, survey, 1, now())
    return issued.token


async def test_a_stolen_survey_token_works_once(web: Web) -> None:
    token = await _invitation(web.sessions)
    web.channel.hub.per_session = RateLimit(6000, 100)  # answering faster than a person does
    owner, thief = web.browser(), web.browser()
    try:
        await owner.open(f"/s/{token}")
        await owner.connect(start=token)
        frame = await owner.frame("reply")
        steps = [*["5 非常满意"] * 6, "4 满意", "9", "=希望增加周末的活动", "60–79岁", "=十二", "提交"]
        for n, step in enumerate(steps):  # the standard template, as tests/dialogs/test_surveys.py answers it
            if step.startswith("="):
                frame = await owner.say(step[1:], f"a{n}")
                continue
            data = next(b["data"] for m in frame["messages"] for row in m.get("buttons", []) for b in row
                        if step in b["label"])
            await owner.ws.send_json({"type": "button", "id": f"a{n}", "data": data})  # type: ignore[union-attr]
            frame = await owner.frame("reply")
        assert i18n.t("zh-Hans", "survey.submitted") in texts(frame)
        await thief.open(f"/s/{token}")
        await thief.connect(start=token)
        assert i18n.t("zh-Hans", "survey.problem_used") in texts(await thief.frame("reply"))
        async with web.sessions() as session:
            assert len((await session.execute(select(SurveyResponse.id))).all()) == 1
    finally:
        await owner.close()
        await thief.close()


async def test_a_turn_is_acknowledged_only_while_it_takes_long(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    """A quick turn's reply is its only frame; a turn still running after WORKING_AFTER is acknowledged to
    its page (which shows "typing…") and other pages of the person are told it is typing."""
    monkeypatch.setattr(web_socket, "WORKING_AFTER", 5.0)  # quick, even on a loaded machine
    page, other = web.browser(), None
    try:
        await page.open("/")
        await page.connect(fresh=True)
        await page.frame("reply")
        other = Browser(web, page.http)  # a second tab of the same browser
        await other.connect(fresh=False)
        assert page.ws is not None and other.ws is not None
        await page.ws.send_json({"type": "text", "id": "quick1", "text": "/menu"})
        assert (await page.ws.receive_json(timeout=5))["type"] == "reply"

        engine, going_on = web.channel.hub.engine, asyncio.Event()
        handle = engine.handle

        async def slow_handle(incoming: Any) -> Any:
            await going_on.wait()
            return await handle(incoming)

        monkeypatch.setattr(engine, "handle", slow_handle)
        monkeypatch.setattr(web_socket, "WORKING_AFTER", 0.05)
        await page.ws.send_json({"type": "text", "id": "slow1", "text": "/menu"})
        assert await page.ws.receive_json(timeout=5) == {"type": "ack", "id": "slow1"}
        assert (await other.frame("typing"))["type"] == "typing"
        going_on.set()
        assert (await page.frame("reply"))["id"] == "slow1"
    finally:
        if other is not None and other.ws is not None:
            await other.ws.close()
        await page.close()


async def test_socket_dropped_mid_turn_reply_shown_once_after_reconnect(web: Web) -> None:
    browser = web.browser()
    try:
        await browser.open("/")
        await browser.connect(fresh=True)
        await browser.frame("reply")
        assert browser.ws is not None
        await browser.ws.send_json({"type": "text", "id": "drop1", "text": "/help"})
        await browser.ws.close()  # gone before the reply
        await asyncio.sleep(0.3)
        await browser.connect(fresh=False)
        reply = await browser.frame("reply")
        assert reply["id"] == "drop1" and reply["messages"]
        # the page sends it again (it was maybe not acknowledged): handled once, no second reply
        await browser.ws.send_json({"type": "text", "id": "drop1", "text": "/help"})
        again = await browser.frame("reply")
        assert again["id"] == "drop1" and again["messages"] == []
        await browser.ws.close()
        await browser.connect(fresh=False)
        await browser.ws.send_json({"type": "text", "id": "next1", "text": "/menu"})
        assert (await browser.frame("reply"))["id"] == "next1"  # nothing from before came again
    finally:
        await browser.close()


async def _identity_of(sessions: async_sessionmaker[AsyncSession], browser: Browser) -> int:
    key = browser.http.cookie_jar.filter_cookies(URL(browser.web.origin))["civicbot_session"].value
    async with sessions() as session:
        found = await session.scalar(select(WebSession.identity_id).where(WebSession.key_hash == key_hash(key)))
    assert found is not None
    return found


async def _queue(sessions: async_sessionmaker[AsyncSession], identity_id: int, key: str) -> None:
    async with sessions() as session, session.begin():
        await queue_notice(session, identity_id, "common.intent_thanks", key, now())


async def test_notices_reach_an_open_page_or_wait_for_the_next_visit(web: Web) -> None:
    browser = web.browser()
    try:
        await browser.open("/")
        await browser.connect(fresh=True)
        await browser.frame("reply")
        identity_id = await _identity_of(web.sessions, browser)
        started = asyncio.get_running_loop().time()
        await _queue(web.sessions, identity_id, "web-test-1")
        notice = await browser.frame("notice", timeout=5)
        assert asyncio.get_running_loop().time() - started < 2
        assert texts(notice) == i18n.t("zh-Hans", "common.intent_thanks")
        await browser.ws.close()  # type: ignore[union-attr]
        await _queue(web.sessions, identity_id, "web-test-2")
        await asyncio.sleep(0.5)
        async with web.sessions() as session:
            states = dict((await session.execute(select(OutboxMessage.dedup_key, OutboxMessage.state))).all())
        assert states == {"web-test-1": "sent", "web-test-2": "pending"}  # no page: it waits
        async with web.sessions() as session, session.begin():  # quiet hours came: the dispatcher deferred it
            assert await outbox.defer_due(session, now(), now() + timedelta(hours=10)) == 1
        await browser.connect(fresh=False)  # shown when the page opens, quiet hours or not: it wakes nobody
        assert texts(await browser.frame("notice")) == i18n.t("zh-Hans", "common.intent_thanks")
        await asyncio.sleep(0.3)
        async with web.sessions() as session:
            states = dict((await session.execute(select(OutboxMessage.dedup_key, OutboxMessage.state))).all())
        assert states["web-test-2"] == "sent"
    finally:
        await browser.close()


async def _state_becomes(sessions: async_sessionmaker[AsyncSession], row_id: int, state: str) -> bool:
    deadline = time.monotonic() + 5
    while True:
        async with sessions() as session:
            found = await session.scalar(select(OutboxMessage.state).where(OutboxMessage.id == row_id))
        if found == state or time.monotonic() > deadline:
            return found == state
        await asyncio.sleep(0.05)


async def test_a_notice_is_sent_once_a_page_confirms_it_and_waits_again_if_none_did(web: Web) -> None:
    browser = web.browser()
    try:
        await browser.open("/")
        await browser.connect(fresh=True)
        await browser.frame("reply")
        identity_id = await _identity_of(web.sessions, browser)
        await _queue(web.sessions, identity_id, "unconfirmed")
        assert browser.ws is not None
        while (pushed := await browser.ws.receive_json(timeout=5))["type"] != "notice":
            pass  # read as a page that goes before showing it: no "seen"
        async with web.sessions() as session:
            row = await session.scalar(select(OutboxMessage).where(OutboxMessage.dedup_key == "unconfirmed"))
        assert row is not None and row.state == "sending" and pushed["n"] == f"o{row.id}"
        await browser.ws.close()
        assert await _state_becomes(web.sessions, row.id, "pending")
        await browser.connect(fresh=False)  # the next visit: the same notice, the same number (shown once)
        again = await browser.frame("notice")
        assert again["n"] == pushed["n"]
        assert await _state_becomes(web.sessions, row.id, "sent")
    finally:
        await browser.close()


async def test_forget_this_device(web: Web) -> None:
    browser = web.browser()
    try:
        await browser.open("/")
        old = browser.http.cookie_jar.filter_cookies(URL(web.origin))["civicbot_session"].value
        identity_id = await _identity_of(web.sessions, browser)
        refused = await browser.http.post(web.origin + "/forget", headers={"Origin": "https://evil.example"})
        assert refused.status == 403
        done = await browser.http.post(web.origin + "/forget", headers={"Origin": web.origin})
        assert done.status == 200
        async with web.sessions() as session:
            assert await session.scalar(select(WebSession).where(WebSession.identity_id == identity_id)) is None
        browser.http.cookie_jar.update_cookies({"civicbot_session": old})
        await browser.open("/")
        assert await _identity_of(web.sessions, browser) != identity_id
    finally:
        await browser.close()


# --- links on the command line ---------------------------------------------------------------------

def test_cli_prints_web_links_for_surveys_and_bindings(sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.setenv("CIVICBOT_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("CIVICBOT_WEB_URL", "https://bot.example.gov.cn/")
    monkeypatch.setenv("CIVICBOT_TELEGRAM_USERNAME", "linjiang_bot")

    async def seed() -> None:
        engine = create_engine(sqlite_url)
        async with sessionmaker(engine)() as s, s.begin():
            await build_world(s, now())
        await engine.dispose()

    asyncio.run(seed())
    assert main(["survey", "invite", "LJ-2026-001", "--count", "2", "--qr", str(tmp_path / "qr")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    for line in lines:
        web_link, telegram = line.split("\t")
        token = web_link.rsplit("/", 1)[1]
        assert web_link == f"https://bot.example.gov.cn/s/{token}" and token.startswith("s")
        assert telegram == f"https://t.me/linjiang_bot?start={token}"
    assert len(list((tmp_path / "qr").glob("*.png"))) == 2
    assert main(["survey", "invite", "LJ-2026-001", "--count", "1", "--json"]) == 0
    (issued,) = json.loads(capsys.readouterr().out)
    assert issued["link"] == f"https://bot.example.gov.cn/s/{issued['token']}"  # what QR codes and cards carry
    assert issued["telegram_link"] == f"https://t.me/linjiang_bot?start={issued['token']}"
    assert main(["invite", "staff", "MZ"]) == 0
    code, telegram, web_link = capsys.readouterr().out.strip().splitlines()
    assert telegram == f"https://t.me/linjiang_bot?start={code}" and web_link == f"https://bot.example.gov.cn/b/{code}"


async def test_reply_files_only_for_their_recipient(web: Web) -> None:
    owner, other = web.browser(), web.browser()
    try:
        await owner.open("/")
        await other.open("/")
        identity_id = await _identity_of(web.sessions, owner)
        url = await render(Reply("QR", image=Attachment("qr.png", png(), "image/png"),
                                 document=Attachment("results.xlsx", b"PK\x03\x04", XLSX)), identity_id,
                           web.channel.files, "zh-Hans")
        image = await owner.http.get(web.origin + url["image"]["url"])
        assert image.status == 200 and image.headers["Content-Type"] == "image/png"
        document = await owner.http.get(web.origin + url["document"]["url"])
        assert document.status == 200 and document.headers["Content-Disposition"].startswith("attachment")
        assert document.headers["X-Content-Type-Options"] == "nosniff"
        assert (await other.http.get(web.origin + url["image"]["url"])).status == 404
    finally:
        await owner.close()
        await other.close()


def test_civicbot_run_serves_the_web_chat_and_stops_cleanly(sqlite_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "CIVICBOT_DATABASE_URL": sqlite_url, "CIVICBOT_WEB_LISTEN": f"127.0.0.1:{port}",
           "CIVICBOT_MEDIA_DIR": str(tmp_path)}
    env.pop("CIVICBOT_TELEGRAM_TOKEN", None)
    server = subprocess.Popen([sys.executable, "-m", "bot", "run"], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert json.loads(response.read())["ok"] is True
                    break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=30)
    assert server.returncode == 0, err.decode()
    # (a scheduler tick cut short by the stop may still warn: that is the scheduler's, not the web chat's)
    assert b"bot/channels/web" not in err, err.decode()[-3000:]
