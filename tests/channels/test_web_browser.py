"""The web chat in a real browser: Playwright driving Debian's chromium against the web channel served
from a thread (the demo city on SQLite). One browser for the module; each test a fresh context (a new
visitor). Without /usr/bin/chromium the tests skip, except in CI (CI=true), where they must run."""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.app import App, demo_identity, load_demo, open_app
from bot.channels.web.server import WebChannel, WebOptions
from bot.config import Settings
from dialogs import i18n
from dialogs.context import DialogSettings
from dialogs.notices import queue_notice
from dialogs.registry import build_engine
from dialogs.understanding import Understanding
from nlu.parser import NluParser, load_default_parser
from store import surveys
from store.db import create_engine, sessionmaker
from store.invites import create_invite
from store.media import DirectoryMedia
from store.models import Project, SurveyResponse, WebSession
from store.web_sessions import key_hash

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe-core" / "axe.min.js"
NLU_CACHE = Path(tempfile.gettempdir()) / "civicbot-test-nlu"

if not CHROMIUM.exists():
    if os.environ.get("CI") == "true":
        raise RuntimeError("CI needs /usr/bin/chromium for the browser tests (.ci/run installs it)")
    pytest.skip("no /usr/bin/chromium: browser tests skipped (apt-get install chromium fonts-wqy-microhei)",
                allow_module_level=True)

playwright_api = pytest.importorskip("playwright.sync_api")


def now() -> datetime:
    return datetime.now(UTC)


class Server:
    """The web channel on its own event loop in a thread (Playwright's sync API owns the test's thread)."""

    def __init__(self, db_path: Path, media: Path, parser: NluParser) -> None:
        self.db_path, self.media, self.parser = db_path, media, parser
        self.port = 0
        self.url = ""
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.db: AsyncEngine | None = None
        self.sessions: async_sessionmaker[AsyncSession] | None = None
        self.channel: WebChannel | None = None

    def run(self, factory: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        return asyncio.run_coroutine_threadsafe(factory(), self.loop).result(60)

    def start(self) -> None:
        async def up() -> None:
            self.db = create_engine(f"sqlite+aiosqlite:///{self.db_path}")
            self.sessions = sessionmaker(self.db)
            understanding = Understanding(self.sessions, parser=self.parser)
            await understanding.refresh()
            engine = build_engine(self.sessions, DialogSettings(), understand=understanding,
                                  media=DirectoryMedia(self.media))
            self.channel = WebChannel(engine, self.sessions, WebOptions(notice_interval=0.2))
            self.url = await self.channel.start(f"127.0.0.1:{self.port}")
            self.port = int(self.url.rsplit(":", 1)[1])

        self.run(up)

    def stop(self) -> None:
        async def down() -> None:
            assert self.channel is not None and self.db is not None
            await self.channel.stop()
            await self.db.dispose()

        self.run(down)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def db_call(self, fn: Callable[[AsyncSession], Coroutine[Any, Any, Any]]) -> Any:
        async def call() -> Any:
            assert self.sessions is not None
            async with self.sessions() as session, session.begin():
                return await fn(session)

        return self.run(call)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("web")
    parser = load_default_parser(cache_dir=NLU_CACHE)

    served = Server(folder / "demo.db", folder / "media", parser)

    async def demo() -> None:
        settings = Settings(database_url=f"sqlite+aiosqlite:///{folder / 'demo.db'}", media_dir=folder / "media")
        app = await open_app(settings)
        await load_demo(app)
        await app.close()

    served.run(demo)
    served.start()
    try:
        yield served
    finally:
        served.stop()
        served.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def bot_texts(page: Any) -> list[str]:
    return page.locator("#messages .msg.bot").all_inner_texts()


def wait_bot(page: Any, text: str, timeout: float = 10_000) -> Any:
    locator = page.locator("#messages .msg.bot", has_text=text).last
    locator.wait_for(timeout=timeout)
    return locator


def send(page: Any, text: str) -> None:
    before = page.locator("#messages .msg.bot").count()
    page.fill("#text", text)
    page.press("#text", "Enter")
    page.locator("#messages .msg.bot").nth(before).wait_for(timeout=15_000)


def press(page: Any, label: str) -> None:
    before = page.locator("#messages .msg.bot").count()
    page.locator("#messages .msg.bot button:not([disabled])", has_text=label).last.click()
    page.locator("#messages .msg.bot").nth(before).wait_for(timeout=15_000)


def identity_of(page: Any, server: Server) -> int:
    key = next(c["value"] for c in page.context.cookies() if c["name"] == "civicbot_session")
    found = server.db_call(lambda s: s.scalar(select(WebSession.identity_id).where(WebSession.key_hash == key_hash(key))))
    assert found is not None
    return int(found)


# --- the tests -------------------------------------------------------------------------------------

def test_greeting_menu_page_weight_and_first_render(page: Any, server: Server) -> None:
    started = time.perf_counter()
    page.goto(server.url + "/")
    page.locator("#messages .msg.bot button").first.wait_for()
    first_render = time.perf_counter() - started
    weight = sum(len(content) for _, content in server.channel.assets.values())  # type: ignore[union-attr]
    weight += len(page.content().encode())
    print(f"\nweb page: first render with the menu {first_render * 1000:.0f} ms; HTML+JS+CSS {weight} bytes")
    assert weight < 60_000
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    assert i18n.t("zh-Hans", "common.welcome") in "\n".join(bot_texts(page))
    assert page.locator("#messages .msg.bot button").count() >= 4
    assert page.locator("#messages").get_attribute("aria-live") == "polite"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    press(page, "语言")
    assert page.locator("#messages .msg.bot button", has_text="语言").first.is_disabled()  # pressed: disabled
    press(page, "English")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("#messages .msg.bot button:not([disabled])", has_text="简体").count() == 0  # superseded


def test_photo_from_the_picker(page: Any, server: Server, tmp_path: Path) -> None:
    picture = tmp_path / "photo.png"
    Image.new("RGB", (64, 48), (20, 120, 60)).save(picture)
    page.goto(server.url + "/")
    page.locator("#messages .msg.bot button").first.wait_for()
    before = page.locator("#messages .msg.bot").count()
    page.set_input_files("#photo", str(picture))
    page.locator("#messages .msg.bot").nth(before).wait_for(timeout=10_000)
    assert page.locator("#messages .msg.note").count() == 0  # no upload error
    assert len(list((server.media).glob("web-*.jpg"))) >= 1


def test_public_question_answered(page: Any, server: Server) -> None:
    page.goto(server.url + "/")
    page.locator("#messages .msg.bot button").first.wait_for()
    send(page, "南山区有哪些养老项目")
    answer = bot_texts(page)[-1]
    assert i18n.t("zh-Hans", "common.out_of_scope") not in answer
    assert i18n.t("zh-Hans", "common.not_understood") not in answer
    assert "南山" in answer or "养老" in answer
    assert page.locator("#messages .msg.user").last.inner_text() == "南山区有哪些养老项目"


def test_script_injection_is_shown_as_text(page: Any, server: Server) -> None:
    page.goto(server.url + "/")
    page.locator("#messages .msg.bot button").first.wait_for()
    attack = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
    send(page, attack)
    assert page.locator("#messages .msg.user").last.text_content() == attack
    assert page.evaluate("window.pwned") is None
    assert page.locator("#messages img").count() == 0 and page.locator("#messages script").count() == 0


def _token(server: Server) -> str:
    async def make(session: AsyncSession) -> str:
        project = (await session.execute(select(Project).where(Project.status == "in_progress").order_by(Project.id))
                   ).scalars().first()
        assert project is not None
        survey = await surveys.open_survey_of(session, project.id, now())
        if survey is None:
            survey = await surveys.open_survey(session, project.id, now(), now() + timedelta(days=10))
        (issued,) = await surveys.create_invitations(session, survey, 1, now())
        return issued.token

    return str(server.db_call(make))


def test_survey_from_link_to_thanks_once(browser: Any, page: Any, server: Server) -> None:
    token = _token(server)
    before = server.db_call(lambda s: s.scalar(select(func.count()).select_from(SurveyResponse)))
    page.goto(f"{server.url}/s/{token}")
    wait_bot(page, "1/")
    assert page.evaluate("location.pathname") == "/"  # the token left the address bar
    for _ in range(6):
        press(page, "5")
    press(page, "4")
    while page.locator("#messages .msg.bot").last.locator("button:not([disabled])").count() == 0 \
            or "推荐" not in bot_texts(page)[-1]:
        send(page, "很好")
    press(page, "9")
    send(page, "希望增加周末的活动")
    press(page, "60")
    send(page, "十二")
    press(page, "提交")
    wait_bot(page, i18n.t("zh-Hans", "survey.submitted")[:6])
    after = server.db_call(lambda s: s.scalar(select(func.count()).select_from(SurveyResponse)))
    assert after == before + 1
    other = browser.new_context(locale="zh-CN").new_page()
    other.goto(f"{server.url}/s/{token}")
    wait_bot(other, i18n.t("zh-Hans", "survey.problem_used")[:8])
    other.context.close()
    assert server.db_call(lambda s: s.scalar(select(func.count()).select_from(SurveyResponse))) == after


def _binding_code(server: Server) -> str:
    """A fresh code binding to the demo's example organization."""
    async def invite(session: AsyncSession) -> str:
        assert server.db is not None and server.sessions is not None
        app = App(Settings(), server.db, server.sessions)
        role, _, ref = (await demo_identity(app)).partition(":")
        code, _ = await create_invite(session, role, ref, now(), 7)
        return code

    return str(server.db_call(invite))


def test_binding_link_then_status_as_the_organization(page: Any, server: Server) -> None:
    code = _binding_code(server)
    page.goto(f"{server.url}/b/{code}")
    wait_bot(page, i18n.t("zh-Hans", "bind.done_org", name="")[:4])
    assert page.evaluate("location.pathname") == "/"
    send(page, "/status")
    answer = bot_texts(page)[-1]
    assert i18n.t("zh-Hans", "common.not_allowed") not in answer


def test_notice_from_staff_reaches_an_open_page_within_2_s(page: Any, server: Server) -> None:
    page.goto(server.url + "/")
    page.locator("#messages .msg.bot button").first.wait_for()
    identity_id = identity_of(page, server)
    server.db_call(lambda s: queue_notice(s, identity_id, "common.intent_thanks", f"browser-{identity_id}", now()))
    started = time.perf_counter()
    wait_bot(page, i18n.t("zh-Hans", "common.intent_thanks"), timeout=2_000)
    print(f"\nnotice shown {1000 * (time.perf_counter() - started):.0f} ms after it was queued")


def test_server_restart_mid_application_form(page: Any, server: Server) -> None:
    code = _binding_code(server)
    page.goto(f"{server.url}/b/{code}")
    page.locator("#messages .msg.bot").first.wait_for()
    send(page, "/apply")
    for _ in range(2):  # the call, then the catalog item
        before = page.locator("#messages .msg.bot").count()
        page.locator("#messages .msg.bot").last.locator("button:not([disabled])").first.click()
        page.locator("#messages .msg.bot").nth(before).wait_for()
    wait_bot(page, i18n.t("zh-Hans", "apply.ask.title")[:6])
    server.stop()
    page.locator("#status", has_text=i18n.t("zh-Hans", "web.page.reconnecting")[:4]).wait_for(timeout=10_000)
    page.fill("#text", "阳光助老·居家探访服务")  # typed while the server is away: kept, sent once it is back
    page.press("#text", "Enter")
    server.start()  # the same port and database: a restart
    need = i18n.t("zh-Hans", "apply.ask.need")[:8]
    wait_bot(page, need, timeout=30_000)
    page.wait_for_timeout(500)
    assert sum(need in text for text in bot_texts(page)) == 1  # the form went on at the same step, once
    assert page.locator("#messages .msg.user", has_text="阳光助老").count() == 1
    assert page.locator("#messages .msg.user.waiting").count() == 0


def test_text_size_control_persists(page: Any, server: Server) -> None:
    page.goto(server.url + "/")
    page.locator("#messages .msg.bot").first.wait_for()
    small = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.msg.bot')).fontSize)")
    page.click("button.size[data-size='3']")
    large = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.msg.bot')).fontSize)")
    assert large >= small * 1.3
    assert page.get_attribute("button.size[data-size='3']", "aria-pressed") == "true"
    page.reload()
    page.locator("#messages .msg.bot").first.wait_for()
    assert page.evaluate("document.documentElement.dataset.size") == "3"


@pytest.mark.parametrize("width", [320, 1280])
def test_accessibility_no_serious_violations(browser: Any, server: Server, width: int) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": width, "height": 800}, bypass_csp=True)
    page = context.new_page()
    try:
        page.goto(server.url + "/")
        page.locator("#messages .msg.bot button").first.wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.add_script_tag(content=AXE.read_text("utf-8"))
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
               if v["impact"] in ("serious", "critical")]
        assert not bad, bad
        small = page.evaluate("""Array.from(document.querySelectorAll('button, summary, #text, label.photo'))
            .filter(e => e.offsetParent !== null)
            .map(e => e.getBoundingClientRect()).filter(r => r.width < 44 || r.height < 44).length""")
        assert small == 0
    finally:
        context.close()


def test_forget_this_device_from_the_menu(page: Any, server: Server) -> None:
    page.goto(server.url + "/")
    page.locator("#messages .msg.bot button").first.wait_for()
    before = identity_of(page, server)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("details.more summary")
    page.click("#forget")
    page.locator("#messages .msg.note", has_text=i18n.t("zh-Hans", "web.page.forgotten")).wait_for()
    wait_bot(page, i18n.t("zh-Hans", "common.welcome")[:6])  # a new visitor, greeted afresh
    assert identity_of(page, server) != before
    gone = server.db_call(lambda s: s.scalar(select(func.count()).select_from(WebSession)
                                             .where(WebSession.identity_id == before)))
    assert gone == 0
