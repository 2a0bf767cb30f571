"""Issue 15 §2, §3 and §6 as rules that hold everywhere, through the engine in zh-Hans, zh-Hant and en:
one language per conversation, districts and names in the reader's language, text stored as typed, and
figures shown one way (money, small samples, project codes)."""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from dialogs import hant, i18n
from dialogs.context import DialogSettings
from dialogs.notices import Notice, bilingual, render_notice
from dialogs.questions import Question, encode
from dialogs.registry import build_engine
from dialogs.surveys import report
from dialogs.surveys.templates import STANDARD, get_template
from dialogs.understanding import Understanding
from nlu.normalize import clean_text
from nlu.parser import NluParser, load_default_parser
from store import models as m
from store import surveys
from store.db import create_engine, sessionmaker
from store.demo import write_demo_package
from store.importer import import_package
from store.projects import new_project_code
from store.surveys import Results
from testing.chat import Person
from testing.factories import NOW, bind_identity, build_world
from tests.conftest import run_blocking

ZONE = ZoneInfo("Asia/Shanghai")
NLU_CACHE = Path(tempfile.gettempdir()) / "civicbot-test-nlu"  # shared with the other tests: trained once


@dataclass
class Rig:
    db: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    understanding: Understanding

    def person(self, user: str, locale: str = "zh-Hans", **settings: Any) -> Person:
        bot = build_engine(self.sessions, DialogSettings(**settings), understand=self.understanding, clock=lambda: NOW)
        return Person(bot, user, locale=locale)


@pytest.fixture(scope="session")
def parser() -> NluParser:
    return load_default_parser(cache_dir=NLU_CACHE)


@pytest.fixture(scope="session")
def demo_db(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with the demo city loaded as of NOW, copied by each test."""
    folder = tmp_path_factory.mktemp("demo-language")
    path = folder / "demo.db"
    shutil.copyfile(sqlite_template, path)

    async def load() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        write_demo_package(folder / "pkg", NOW.astimezone(ZONE).date())
        await import_package(engine, folder / "pkg", zone=ZONE, now=NOW)
        await engine.dispose()

    run_blocking(load)
    return path


@pytest.fixture
async def demo(demo_db: Path, tmp_path: Path, parser: NluParser) -> AsyncIterator[Rig]:
    path = tmp_path / "demo.db"
    shutil.copyfile(demo_db, path)
    db = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        sessions = sessionmaker(db)
        understanding = Understanding(sessions, parser=parser, clock=lambda: NOW)
        await understanding.refresh()
        yield Rig(db, sessions, understanding)
    finally:
        await db.dispose()


def q(intent: str, **values: object) -> str:
    return "g:run:query:" + encode(Question(intent, **values))  # type: ignore[arg-type]


TEMPLATE = get_template(STANDARD)
assert TEMPLATE is not None
CJK = re.compile(r"[\u3400-\u9fff]")
# typed with full-width punctuation and Traditional characters: kept exactly like this
TYPED = "希望週末也開放，菜品少放鹽。（長者飯堂）"


def button_labels(person: Person) -> list[str]:
    return [b.label for b in person.buttons()]


async def saved_locale(rig: Rig, user: str) -> str | None:
    async with rig.sessions() as s:
        return await s.scalar(select(m.Identity.locale).where(m.Identity.external_id == user))


@pytest.fixture
def hong_kong() -> Iterator[None]:
    i18n.set_hant_region("hk")
    try:
        yield
    finally:
        i18n.set_hant_region(hant.DEFAULT_REGION)


# --- §2 one language per conversation ---------------------------------------------------------


async def test_a_question_in_another_language_switches_the_conversation_and_its_buttons(demo: Rig) -> None:
    p = demo.person("switcher", locale="en")
    await p.say("/menu")
    assert "What would you like to do?" in p.text
    await p.say("南山区有哪些养老项目？")
    assert not re.search(r"\b(projects?|District)\b", p.text) and CJK.search(p.text)
    assert await saved_locale(demo, "switcher") == "zh-Hans"
    await p.press("公开信息菜单")  # the Chinese answer's own button opens the Chinese menu
    assert "公开信息查询" in p.text and "Public information" not in p.text
    await p.say("/menu")
    assert "请选择您要办理的事项" in p.text

    await p.say("南山區有哪些養老項目？")  # Traditional
    assert await saved_locale(demo, "switcher") == "zh-Hant"
    await p.press("公開資訊選單")
    assert "公開資訊查詢" in p.text

    await p.say("which elderly care projects run in Nanshan?")
    assert await saved_locale(demo, "switcher") == "en"
    await p.press("Public information menu")
    assert "Public information: choose" in p.text


async def test_what_is_typed_inside_a_form_does_not_switch_the_language(demo: Rig) -> None:
    p = demo.person("former", locale="en")
    await p.say("/lang")
    await p.press("English")
    await p.say("/need")
    await p.press_data(p.buttons()[0].data or "")  # a category
    await p.say("南山区")  # a district typed in Chinese by an English reader
    assert await saved_locale(demo, "former") == "en"
    assert "南山区" not in " ".join(button_labels(p)) and CJK.search(p.text) is None


@pytest.mark.parametrize("text", ["ok", "LJ-2026-001", "5", "你"])
def test_only_a_clear_change_of_language_counts(text: str) -> None:
    for current in i18n.LOCALES:
        assert i18n.language_of(text, current) == current


def test_the_language_a_message_is_written_in() -> None:
    assert i18n.language_of("东城区有哪些项目", "en") == "zh-Hans"
    assert i18n.language_of("東城區有哪些項目", "zh-Hans") == "zh-Hant"
    assert i18n.language_of("东城区有哪些项目", "zh-Hant") == "zh-Hans"
    assert i18n.language_of("有哪些", "zh-Hant") == "zh-Hant"  # the same in both scripts: stays
    assert i18n.language_of("projects in Linhu", "zh-Hans") == "en"


# --- §2 districts and names in the reader's language ------------------------------------------


async def test_english_screens_name_districts_in_english(demo: Rig) -> None:
    p = demo.person("reader", locale="en")
    await p.press_data("g:run:query")
    await p.press("Projects by district")
    labels = button_labels(p)
    assert "Nanshan District" in labels and "Dongcheng District" in labels
    assert not any(CJK.search(label) for label in labels)
    await p.press("Nanshan District")
    assert "Nanshan District" in p.text and "南山区" not in p.text
    await p.press_data(p.button("1.").data or "")
    assert "District: Nanshan District" in p.text


async def test_a_district_the_package_gives_no_english_name_is_shown_in_pinyin(demo: Rig) -> None:
    async with demo.sessions() as s, s.begin():
        await s.execute(update(m.District).where(m.District.name_zh == "东城区").values(name_en=None))
        await s.execute(delete(m.District).where(m.District.name_zh == "临湖区"))
    p = demo.person("pinyin", locale="en")
    await p.press_data("g:run:query")
    await p.press("Projects by district")
    assert {"Dongcheng District", "Linhu District"} <= set(button_labels(p))


def test_district_pinyin() -> None:
    assert i18n.district_pinyin("东城区") == "Dongcheng District"
    assert i18n.district_pinyin("临江县") == "Linjiang County"
    assert i18n.district_pinyin("浦东新区") == "Pudong New Area"
    assert i18n.district("en", "东城区", {"东城区": "East City"}) == "East City"
    assert i18n.district("zh-Hant", "东城区", {}) == "東城區"


async def test_the_districts_sheet_loads_and_reloads(demo: Rig, tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "districts.csv").write_text("name_zh,name_en\n东城区,Dongcheng\n新安区,\n", encoding="utf-8")
    await import_package(demo.db, package, zone=ZONE, now=NOW)
    await import_package(demo.db, package, zone=ZONE, now=NOW)  # idempotent
    async with demo.sessions() as s:
        rows = dict((await s.execute(select(m.District.name_zh, m.District.name_en))).all())
    assert rows["东城区"] == "Dongcheng" and rows["新安区"] is None and rows["南山区"] == "Nanshan District"


async def test_zh_hant_readers_see_names_in_traditional(demo: Rig) -> None:
    p = demo.person("hant", locale="zh-Hant")
    await p.press_data("g:run:query")
    await p.press("按區域看專案")
    assert "南山區" in button_labels(p)
    await p.press("南山區")
    titles = p.text
    assert "区" not in titles and "项" not in titles and "服务" not in titles
    assert "專案" in titles  # Taiwan phrasing by default


async def test_hong_kong_phrasing_is_a_setting(demo: Rig, hong_kong: None) -> None:
    p = demo.person("hk", locale="zh-Hant")
    await p.press_data("g:run:query")
    assert "公開信息查詢" in p.text and "公開資訊" not in p.text
    await p.press("按區域看項目")
    assert "南山區" in button_labels(p)


def test_notices_name_projects_in_the_readers_script() -> None:
    title = bilingual("临江市阳光社区养老服务项目", "Sunshine elderly care")
    payload = Notice("notify.publicized", {"code": "LJ-2026-001", "title": title})
    assert "臨江市陽光社區養老服務項目" in render_notice(payload, "zh-Hant", ZONE).text
    assert "Sunshine elderly care" in render_notice(payload, "en", ZONE).text
    assert "临江市阳光社区养老服务项目" in render_notice(payload, "zh-Hans", ZONE).text


@pytest.mark.parametrize("folder", list(i18n.HANT_DIRS.values()))
def test_zh_hant_catalogs_have_no_wrong_conversions(folder: str) -> None:
    messages = i18n._load(folder)
    text = "\n".join(messages.values())
    for wrong in ("爲", "覈", "提交併", "併公開", "程式碼", "微訊", "服務物件", "許可權", "社群", "天后", "型別", "宣告"):
        assert wrong not in text, wrong
    assert messages["progress.saved_public"].startswith("進展已提交並公開")
    assert "請核對" in messages["form.summary_title"]
    assert "核定金額" in messages["review.detail_granted"] or "核定" in messages["review.detail_granted"]


def test_the_bundled_font_draws_the_hong_kong_survey_texts(hong_kong: None) -> None:
    from fontTools.ttLib import TTFont

    from dialogs.surveys.drawing import FONT_FILE

    cmap = TTFont(FONT_FILE).getBestCmap()
    texts = "".join(report.chart_texts(TEMPLATE, "zh-Hant"))
    texts += "".join(i18n.t("zh-Hant", f"survey.card.{key}", day="") for key in ("title", "scan", "closes", "once"))
    assert sorted({c for c in texts if not c.isspace() and ord(c) not in cmap}) == []


def test_hant_conversion_keeps_names_and_fixes_words() -> None:
    assert hant.message("进展已提交并公开，请核对核定金额。为了社区的服务对象", "tw") == "進展已提交並公開，請核對核定金額。為了社區的服務對象"
    assert hant.message("合并", "tw") == "合併"
    assert hant.message("公开信息菜单", "tw") == "公開資訊選單"
    assert hant.message("公开信息菜单", "hk") == "公開信息菜單"
    assert hant.name("临江市社区信息服务中心", "tw") == "臨江市社區信息服務中心"  # a name keeps its words
    assert (hant.message("3 天后截止", "hk"), hant.name("天后宫", "hk")) == ("3 天後截止", "天后宮")


# --- §3 what people type is kept as typed -------------------------------------------------------


@pytest.fixture
async def world_bot(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[object]:
    async with sessions() as s, s.begin():
        world = await build_world(s)
        await bind_identity(s, "test", "org1", "org", world.org.id)
        await bind_identity(s, "test", "staff1", "staff", world.dept.id)
    yield world


async def test_needs_complaints_progress_and_notes_are_stored_as_typed(
    sessions: async_sessionmaker[AsyncSession], world_bot: object,
) -> None:
    bot = build_engine(sessions, DialogSettings(), clock=lambda: NOW)
    resident = Person(bot, "resident1")
    await resident.say("/need")
    await resident.press("养老服务")
    await resident.press("南山区")
    await resident.press("老年人")
    await resident.say(TYPED)
    await resident.press("跳过")
    await resident.press("否")
    await resident.press("提交")

    await resident.say("/complain")
    await resident.say("LJ-2026-001")
    await resident.press("服务质量差")
    await resident.say("ＡＢＣ　工作人员態度，不太好！")
    await resident.press("跳过")
    await resident.press("跳过")
    await resident.press("提交")

    org = Person(bot, "org1")
    await org.say("/progress")
    await org.press("LJ-2026-001")
    await org.say("本月探訪３２人次，「健康講座」２場。")
    await org.press("跳过")
    await org.press("是")
    await org.press("提交")

    staff = Person(bot, "staff1")
    await staff.say("/tickets")
    await staff.press_data(next(b.data for b in staff.buttons() if (b.data or "").startswith("tickets:open:")) or "")
    await staff.press_data(next(b.data for b in staff.buttons() if (b.data or "").startswith("tickets:move:")) or "")
    await staff.say("已聯繫機構，下週回訪。")

    async with sessions() as s:
        need = (await s.execute(select(m.Need))).scalar_one()
        ticket = (await s.execute(select(m.Ticket))).scalar_one()
        progress = (await s.execute(select(m.ProgressUpdate))).scalar_one()
        notes = (await s.execute(select(m.TicketEvent.note).where(m.TicketEvent.note.is_not(None)))).scalars().all()
    assert need.description == TYPED
    assert ticket.description == "ＡＢＣ　工作人员態度，不太好！"
    assert progress.text_zh == "本月探訪３２人次，「健康講座」２場。"
    assert notes == ["已聯繫機構，下週回訪。"]


@pytest.mark.parametrize("locale", i18n.LOCALES)
async def test_a_need_is_stored_as_typed_in_every_language(
    sessions: async_sessionmaker[AsyncSession], world_bot: object, locale: str,
) -> None:
    bot = build_engine(sessions, DialogSettings(), clock=lambda: NOW)
    p = Person(bot, f"need-{locale}", locale=locale)
    await p.say("/need")
    await p.press({"en": "Elderly care", "zh-Hant": "養老服務"}.get(locale, "养老服务"))
    await p.press({"en": "Nanshan District", "zh-Hant": "南山區"}.get(locale, "南山区"))
    await p.press(i18n.t(locale, "need.group.elderly"))
    await p.say(TYPED)
    await p.press(i18n.t(locale, "form.skip"))
    await p.press(i18n.t(locale, "form.answer_no"))
    assert TYPED in p.text  # the summary shows it as typed too
    await p.press(i18n.t(locale, "form.submit"))
    async with sessions() as s:
        need = (await s.execute(select(m.Need))).scalar_one()
    assert need.description == TYPED and need.district == "南山区"


async def test_a_survey_comment_is_stored_as_typed(sessions: async_sessionmaker[AsyncSession], world_bot: object) -> None:
    async with sessions() as s, s.begin():
        project = (await s.execute(select(m.Project).where(m.Project.code == "LJ-2026-001"))).scalar_one()
        survey = await surveys.open_survey(s, project.id, NOW, NOW + timedelta(days=14))
        token, = [i.token for i in await surveys.create_invitations(s, survey, 1, NOW)]
    p = Person(build_engine(sessions, DialogSettings(), clock=lambda: NOW), "respondent")
    await p.say(f"/start {token}")
    for _ in range(7):
        await p.press("5 非常满意")
    await p.press("9")
    await p.say(TYPED)
    await p.press("60–79岁")
    await p.say("十二")
    await p.press("提交")
    async with sessions() as s:
        comment = await s.scalar(select(m.SurveyAnswer.value_text).where(m.SurveyAnswer.item == "suggestion"))
    assert comment == TYPED


def test_clean_text_keeps_what_was_typed_but_drops_control_characters() -> None:
    assert clean_text(f"  {TYPED}\u200b\x07 ", 100) == TYPED
    assert clean_text("第一行，\r\n第二行。", 100) == "第一行，\n第二行。"


# --- §6 figures shown one way -------------------------------------------------------------------


def test_one_money_unit_per_screen() -> None:
    money = i18n.amounts("zh-Hans", [12_000_00, 0, 300_000_00])
    assert [money(12_000_00), money(0), money(300_000_00)] == ["1.2万元", "0万元", "30万元"]
    mixed = i18n.amounts("zh-Hans", [12_000_00, 123_45])
    assert [mixed(12_000_00), mixed(123_45)] == ["12,000.00元", "123.45元"]
    assert i18n.amounts("en", [12_000_00, 0])(12_000_00) == "¥12,000.00"
    assert i18n.money("zh-Hant", 350_000_00) == "35萬元"


@pytest.mark.parametrize("locale", i18n.LOCALES)
async def test_the_funding_screen_never_mixes_units(demo: Rig, locale: str) -> None:
    async with demo.sessions() as s:
        project = (await s.execute(
            select(m.Project).where(~m.Project.id.in_(select(m.Disbursement.project_id))).limit(1)
        )).scalar_one()
    p = demo.person(f"funding-{locale}", locale=locale)
    await p.say("/lang")
    await p.press_data(f"g:lang:{locale}")
    await p.press_data(q("query_funding", project=project.code))
    if locale == "en":
        assert "¥" in p.text and "元" not in p.text
    else:
        assert "0.00元" not in p.text
        units = set(re.findall(r"\d(万元|萬元|元)", p.text))
        assert len(units) == 1, p.text


def _results(valid: int, rate: float, margin: float, recipients: int | None = 500) -> Results:
    return Results(
        project_id=1, survey_id=None, closed=True, opens_on=date(2026, 11, 1), closes_on=date(2026, 11, 20),
        responses=valid, valid_responses=valid, invitations=0, used_invitations=0, recipients=recipients,
        response_rate=None, response_rate_basis="recipients", satisfaction_rate=rate, mean_score=100.0, nps=None,
        margin_of_error=margin,
    )


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_no_margin_of_error_from_a_single_response(locale: str) -> None:
    lines = "\n".join(report.figure_lines(_results(1, 1.0, 0.0), TEMPLATE, locale, "LJ-2026-001"))
    assert "±0.0" not in lines
    assert i18n.t(locale, "survey.points_small", valid=1) in lines
    big = "\n".join(report.figure_lines(_results(100, 0.9, 0.05), TEMPLATE, locale, "LJ-2026-001"))
    assert "±5.0" in big
    sheet = report.workbook(_results(1, 1.0, 0.0), TEMPLATE, locale, "LJ-2026-001", [])["Summary"]
    margin_row = next(row for row in sheet.iter_rows(values_only=True) if row[0] == i18n.t(locale, "survey.xlsx.margin_of_error"))
    assert margin_row[1] == i18n.t(locale, "survey.points_small", valid=1)
    census = _results(3, 1.0, 0.0, recipients=3)  # everyone answered: the margin is truly 0
    assert report.shown_margin(census) == 0.0


@pytest.mark.parametrize("locale", i18n.LOCALES)
async def test_public_satisfaction_from_one_response_says_the_sample_is_too_small(
    demo: Rig, locale: str,
) -> None:
    async with demo.sessions() as s, s.begin():
        project = (await s.execute(select(m.Project).where(m.Project.status == "closed").limit(1))).scalar_one()
        kept = (await s.execute(select(m.SurveyResponse.id).where(m.SurveyResponse.project_id == project.id)
                                .order_by(m.SurveyResponse.id).limit(1))).scalar_one()
        doomed = select(m.SurveyResponse.id).where(m.SurveyResponse.project_id == project.id, m.SurveyResponse.id != kept)
        await s.execute(delete(m.SurveyAnswer).where(m.SurveyAnswer.response_id.in_(doomed)))
        await s.execute(delete(m.SurveyResponse).where(m.SurveyResponse.id.in_(doomed)))
    p = demo.person(f"sat-{locale}", locale=locale, disclosure_min_responses=1)
    await p.say("/lang")
    await p.press_data(f"g:lang:{locale}")
    await p.press_data(q("query_satisfaction", project=project.code))
    assert "±0" not in p.text and "±" not in p.text
    assert i18n.t(locale, "query.satisfaction.rate_small", rate="X", valid=1).split("X")[1][:4] in p.text


async def test_new_project_codes_follow_the_citys_pattern(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as s, s.begin():
        world = await build_world(s)  # the city's projects are LJ-2026-001 and LJ-2026-002
        assert await new_project_code(s, 2026) == "LJ-2026-003"
        assert await new_project_code(s, 2027) == "LJ-2027-001"
        assert await new_project_code(s, 2027, "QX") == "QX-2027-001"
        s.add(m.Project(code="XM-2027-000009", year=2027, title_zh="x", catalog_item_id=world.item.id,
                        organization_id=world.org.id, department_id=world.dept.id, amount_fen=1, status="publicized",
                        start_on=date(2027, 1, 1), end_on=date(2027, 12, 31)))
        await s.flush()
        assert await new_project_code(s, 2027) == "LJ-2027-001"  # most codes still look like LJ-…
        assert await new_project_code(s, 2027, "XM") == "XM-2027-000010"


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_approvals_at_the_same_time_get_different_codes(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as s, s.begin():
        world = await build_world(s)

    def project(code: str) -> m.Project:
        return m.Project(code=code, year=2027, title_zh=code, catalog_item_id=world.item.id, organization_id=world.org.id,
                         department_id=world.dept.id, amount_fen=1, status="publicized", start_on=date(2027, 1, 1),
                         end_on=date(2027, 12, 31))

    first_has_a_code = asyncio.Event()

    async def waiting_for_the_codes() -> bool:
        async with sessions() as s:
            for _ in range(500):
                stmt = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
                if await s.scalar(stmt):
                    return True
                await asyncio.sleep(0.01)  # polling for the other transaction to queue, not waiting out a clock
        return False

    async def first() -> tuple[str, bool]:
        async with sessions() as s, s.begin():
            code = await new_project_code(s, 2027)
            s.add(project(code))
            await s.flush()
            first_has_a_code.set()
            return code, await waiting_for_the_codes()  # commits only once the second approval waits

    async def second() -> str:
        await first_has_a_code.wait()
        async with sessions() as s, s.begin():
            code = await new_project_code(s, 2027)
            s.add(project(code))
            return code

    (code_a, waited), code_b = await asyncio.gather(first(), second())
    assert waited and (code_a, code_b) == ("LJ-2027-001", "LJ-2027-002")


def test_settings_for_the_region_and_the_code_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.app import dialog_settings
    from bot.config import Settings

    monkeypatch.setenv("CIVICBOT_HANT_REGION", "hk")
    monkeypatch.setenv("CIVICBOT_PROJECT_CODE_PREFIX", "LJ")
    settings = Settings(_env_file=None)
    assert (settings.hant_region, dialog_settings(settings).project_code_prefix) == ("hk", "LJ")
    monkeypatch.setenv("CIVICBOT_PROJECT_CODE_PREFIX", "")
    assert dialog_settings(Settings(_env_file=None)).project_code_prefix is None  # from the data
    monkeypatch.setenv("CIVICBOT_HANT_REGION", "cn")
    with pytest.raises(ValueError, match="tw or hk"):
        Settings(_env_file=None)
