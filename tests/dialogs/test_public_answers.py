"""Answers to the public's questions: figures checked against the database on the demo city and on a
second, hand-built city; free text through the engine with the real NLU; menus, paging, "did you
mean", nothing found, follow-ups; and no private field in any answer reachable by text or buttons."""

from __future__ import annotations

import csv
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from dialogs import i18n
from dialogs.context import DialogSettings
from dialogs.engine import Engine
from dialogs.questions import (
    CODES,
    PROJECT_INTENTS,
    QUERY_INTENTS,
    Question,
    decode,
    encode,
    grade_cues,
    is_follow_up,
    knowledge,
    rating_cue,
    status_cues,
)
from dialogs.registry import build_engine
from dialogs.understanding import Understanding
from nlu.normalize import fold
from nlu.parser import NluParser, load_default_parser
from store import models as m
from store.db import create_engine, sessionmaker
from store.demo import write_demo_package
from store.importer import import_package
from store.uscc import make_uscc
from testing.chat import Person
from testing.factories import NOW
from tests.conftest import _admin, run_blocking

ZONE = ZoneInfo("Asia/Shanghai")
TODAY = NOW.astimezone(ZONE).date()
YEAR = TODAY.year
MIN_RESPONSES = 5
SETTINGS = DialogSettings(disclosure_min_responses=MIN_RESPONSES)
NLU_CACHE = Path(tempfile.gettempdir()) / "civicbot-test-nlu"


def money(fen: int, locale: str = "zh-Hans") -> str:
    return i18n.money(locale, fen)


def percent(part: float, whole: float) -> str:
    return f"{round(part / whole * 100, 1):g}%"


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def parser() -> NluParser:
    """The bundled model, trained once into a cache that outlives the session (keyed by the data's hash)."""
    return load_default_parser(cache_dir=NLU_CACHE)


async def import_demo(engine: AsyncEngine, folder: Path) -> None:
    write_demo_package(folder, TODAY)
    await import_package(engine, folder, zone=ZONE, now=NOW)


@pytest.fixture(scope="session")
def demo_db(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with the demo city loaded as of NOW, copied by each test that needs it."""
    folder = tmp_path_factory.mktemp("demo")
    path = folder / "demo.db"
    shutil.copyfile(sqlite_template, path)

    async def load() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await import_demo(engine, folder / "pkg")
        await engine.dispose()

    run_blocking(load)
    return path


@dataclass
class Rig:
    db: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    understanding: Understanding
    bot: Engine

    def person(self, user: str = "resident", locale: str = "zh-Hans") -> Person:
        return Person(self.bot, user, locale=locale)


async def make_rig(db: AsyncEngine, parser: NluParser) -> Rig:
    sessions = sessionmaker(db)
    understanding = Understanding(sessions, parser=parser, clock=lambda: NOW)
    await understanding.refresh()
    return Rig(db, sessions, understanding, build_engine(sessions, SETTINGS, understand=understanding, clock=lambda: NOW))


@pytest.fixture
async def demo(demo_db: Path, tmp_path: Path, parser: NluParser) -> AsyncIterator[Rig]:
    """The demo city on SQLite (for the tests that lean on the NLU)."""
    path = tmp_path / "demo.db"
    shutil.copyfile(demo_db, path)
    db = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        yield await make_rig(db, parser)
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def pg_demo(pg_template: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A PostgreSQL template database with the demo city loaded, cloned by each test."""
    server, template = pg_template
    name = f"civicbot_demo_{secrets.token_hex(4)}"
    run_blocking(lambda: _admin(server, f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))

    async def load() -> None:
        engine = create_engine(_pg_url(server, name))
        await import_demo(engine, tmp_path_factory.mktemp("pgdemo") / "pkg")
        await engine.dispose()

    run_blocking(load)
    yield server, name
    run_blocking(lambda: _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _pg_url(server: str, database: str) -> str:
    return make_url(server).set(drivername="postgresql+asyncpg", database=database).render_as_string(False)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def both(request: pytest.FixtureRequest, tmp_path: Path, parser: NluParser) -> AsyncIterator[Rig]:
    """The demo city on each backend (SQLite and PostgreSQL), a fresh copy per test."""
    if request.param == "sqlite":
        path = tmp_path / "demo.db"
        shutil.copyfile(request.getfixturevalue("demo_db"), path)
        db = create_engine(f"sqlite+aiosqlite:///{path}")
        try:
            yield await make_rig(db, parser)
        finally:
            await db.dispose()
        return
    server, template = request.getfixturevalue("pg_demo")
    name = f"civicbot_t_{secrets.token_hex(6)}"
    await _admin(server, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    db = create_engine(_pg_url(server, name))
    try:
        yield await make_rig(db, parser)
    finally:
        await db.dispose()
        await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def scalar(rig: Rig, stmt):  # type: ignore[no-untyped-def]
    async with rig.sessions() as s:
        return await s.scalar(stmt)


async def rows(rig: Rig, stmt) -> list:  # type: ignore[no-untyped-def, type-arg]
    async with rig.sessions() as s:
        return list((await s.execute(stmt)).all())


def q(intent: str, **values: object) -> str:
    return "g:run:query:" + encode(Question(intent, **values))  # type: ignore[arg-type]


# --- payloads and cues ---------------------------------------------------------------------------


def test_payloads_round_trip_and_reject_forgeries() -> None:
    question = Question("query_projects", year=2026, district="南山;区=x%", level1="养老服务",
                        statuses=("closed",), grades=("excellent", "good"), brand=True, page=3)
    assert decode(encode(question)) == question
    assert decode(encode(Question("query_organizations", rating="4A+"))) == Question("query_organizations", rating="4A+")
    for forged in ("zz", "pj;y=20x6", "pj;n=99999999999", "og;r=7A", "pj;unknown=1", "pj;y"):
        assert decode(forged) is None, forged
    assert decode("pj;s=closed,bogus") == Question("query_projects", statuses=("closed",))


def test_cues_in_the_question() -> None:
    assert status_cues(fold("正在实施的项目")) == ("contracted", "in_progress", "midterm_passed", "closing")
    assert status_cues(fold("completed projects")) == ("closed",)
    assert grade_cues(fold("哪些项目不合格")) == ("fail",)
    assert grade_cues(fold("评为合格的项目")) == ("pass",)
    assert grade_cues(fold("Which projects were rated excellent?")) == ("excellent",)
    assert rating_cue(fold("南山区4A以上的机构")) == "4A+"
    assert rating_cue(fold("5A级社会组织")) == "5A"
    assert rating_cue(fold("有哪些机构")) is None
    assert is_follow_up(fold("那它的满意度呢？"), False, "query_satisfaction")
    assert is_follow_up(fold("and its funding?"), False, "query_funding")
    assert is_follow_up(fold("进展怎么样"), False, "query_progress")
    assert not is_follow_up(fold("哪些项目被评为优秀？"), False, "query_evaluation")
    assert not is_follow_up(fold("哪些项目被评为优秀呢？"), False, "query_evaluation")
    assert not is_follow_up(fold("那它的满意度呢？"), True, "query_satisfaction")


def test_faq_knowledge_is_complete_in_three_languages() -> None:
    known = knowledge()
    intents = {t.intent for t in known.topics}
    assert intents == {"faq_process", "faq_eligibility"} == set(known.overview)
    for text in [*known.overview.values(), *(t.answer for t in known.topics), *(t.title for t in known.topics)]:
        assert set(text) == set(i18n.LOCALES) and all(v.strip() for v in text.values())
        names = [i18n.placeholders(v) for v in text.values()]
        assert all(n == names[0] for n in names) and names[0] <= {"admin_share", "min_responses"}
    assert known.detect("faq_process", fold("公示期多长时间")).id == "notice"  # type: ignore[union-attr]
    assert known.detect("faq_process", fold("What happens at the mid-term inspection?")).id == "midterm"  # type: ignore[union-attr]
    assert known.detect("faq_eligibility", fold("个人可以承接吗")).id == "providers"  # type: ignore[union-attr]


# --- every intent on the demo data, both backends, through buttons -----------------------------


async def test_catalog_of_a_year_and_by_category(both: Rig) -> None:
    p = both.person()
    count = await scalar(both, select(func.count()).select_from(m.CatalogItem).where(m.CatalogItem.year == YEAR))
    await p.press_data(q("query_catalog"))
    assert f"{YEAR}年度指导目录：共 {count} 项" in p.text
    first = (await rows(both, select(m.CatalogItem).where(m.CatalogItem.year == YEAR).order_by(m.CatalogItem.code)))[0][0]
    assert f"{first.code} {first.name_zh}" in p.text and money(first.ceiling_fen) in p.text
    elderly = await rows(both, select(m.CatalogItem.code).where(m.CatalogItem.year == YEAR, m.CatalogItem.level1_zh == "养老服务"))
    await p.press_data(q("query_catalog", year=YEAR, level1="养老服务"))
    assert f"共 {len(elderly)} 项" in p.text and all(code in p.text for (code,) in elderly)
    await p.press_data(q("query_catalog", year=1999))
    assert "没有找到 1999 年度的指导目录" in p.text and str(YEAR) in p.text


async def test_qualified_list_with_filters_and_one_organization(both: Rig) -> None:
    p = both.person()
    listed = await rows(both, select(m.Organization.name_zh, m.Organization.rating)
                        .join(m.Qualification, m.Qualification.organization_id == m.Organization.id)
                        .where(m.Qualification.year == YEAR, m.Organization.district == "南山区",
                               m.Organization.rating.in_(("4A", "5A"))))
    await p.press_data(q("query_organizations", district="南山区", rating="4A+"))
    assert f"（南山区 · 4A及以上）：共 {len(listed)} 家" in p.text
    assert all(name in p.text for name, _ in listed)
    org = (await rows(both, select(m.Organization).where(m.Organization.rating == "5A").order_by(m.Organization.id)))[0][0]
    years = [y for (y,) in await rows(both, select(m.Qualification.year)
                                      .where(m.Qualification.organization_id == org.id).order_by(m.Qualification.year))]
    projects = await scalar(both, select(func.count()).select_from(m.Project).where(m.Project.organization_id == org.id))
    await p.press_data(q("query_organizations", organization=org.uscc))
    assert org.name_zh in p.text and "社会组织评估等级：5A" in p.text
    assert "列入资质名录的年度：" + "、".join(map(str, years)) in p.text
    assert f"承接项目：{projects} 个" in p.text
    assert ("✅ 已列入" if YEAR in years else "⚠️ 未列入") in p.text


async def test_budgets_total_and_per_department(both: Rig) -> None:
    p = both.person()
    budgets = await rows(both, select(m.Budget.department_id, m.Budget.amount_fen).where(m.Budget.year == YEAR))
    approved = await rows(both, select(m.Project.department_id, func.sum(m.Project.amount_fen))
                          .where(m.Project.year == YEAR).group_by(m.Project.department_id))
    total, taken = sum(a for _, a in budgets), sum(a for _, a in approved)
    await p.press_data(q("query_budget"))
    assert f"{YEAR}年度政府购买服务预算：合计 {money(total)}，已立项 {money(taken)}（占 {percent(taken, total)}）" in p.text
    dept = (await rows(both, select(m.Department).where(m.Department.code == "MZ")))[0][0]
    amount = next(a for d, a in budgets if d == dept.id)
    await p.press_data(q("query_budget", department="MZ"))
    assert f"{dept.name_zh}：预算 {money(amount)}" in p.text
    assert "CL" not in p.text and "残疾人联合会" not in p.text


async def test_project_lists_with_filters_and_a_public_record(both: Rig) -> None:
    p = both.person()
    stmt = (select(m.Project.code, m.Project.amount_fen).join(m.CatalogItem, m.CatalogItem.id == m.Project.catalog_item_id)
            .where(m.Project.district == "江北区", m.CatalogItem.level1_zh == "养老服务"))
    found = await rows(both, stmt)
    await p.press_data(q("query_projects", district="江北区", level1="养老服务"))
    assert f"江北区 · 养老服务：共 {len(found)} 个项目，立项金额合计 {money(sum(a for _, a in found))}" in p.text
    assert all(code in p.text for code, _ in found)
    closed = await rows(both, select(m.Project.code).where(m.Project.status == "closed", m.Project.year == YEAR - 1))
    await p.press_data(q("query_projects", year=YEAR - 1, statuses=("closed",)))
    assert f"共 {len(closed)} 个项目" in p.text

    project = (await rows(both, select(m.Project).where(m.Project.grade == "excellent", m.Project.brand.is_(True))))[0][0]
    org = (await rows(both, select(m.Organization.name_zh).where(m.Organization.id == project.organization_id)))[0][0]
    await p.press_data(q("query_projects", project=project.code))
    for text in (project.title_zh, project.code, org, money(project.amount_fen), "已结项", "优秀",
                 f"{project.evaluation_score}分", "入选品牌项目", i18n.day("zh-Hans", project.start_on)):
        assert text in p.text, text
    await p.press("资金拨付")
    assert "的资金" in p.text and project.code in p.text


async def test_funding_tranches_and_totals(both: Rig) -> None:
    p = both.person()
    project_id, code, amount = (await rows(both, select(m.Project.id, m.Project.code, m.Project.amount_fen)
                                           .join(m.Disbursement, m.Disbursement.project_id == m.Project.id)
                                           .where(m.Disbursement.installment == 2).order_by(m.Project.code)))[0]
    tranches = await rows(both, select(m.Disbursement.installment, m.Disbursement.amount_fen, m.Disbursement.paid_on)
                          .where(m.Disbursement.project_id == project_id).order_by(m.Disbursement.installment))
    paid = sum(t[1] for t in tranches)
    await p.press_data(q("query_funding", project=code))
    shown = i18n.amounts("zh-Hans", [amount, paid, amount - paid, *(t[1] for t in tranches)])  # one unit per screen
    assert f"立项金额：{shown(amount)}" in p.text
    assert f"已拨付：{shown(paid)}（占 {percent(paid, amount)}）" in p.text
    for n, fen, day in tranches:
        assert f"第 {n} 期：{shown(fen)}（{i18n.day('zh-Hans', day)}）" in p.text
    assert f"尚未拨付：{shown(amount - paid)}" in p.text

    in_nanshan = await rows(both, select(m.Project.id, m.Project.amount_fen).where(m.Project.district == "南山区"))
    paid_nanshan = await scalar(both, select(func.sum(m.Disbursement.amount_fen))
                                .where(m.Disbursement.project_id.in_([i for i, _ in in_nanshan])))
    approved = sum(a for _, a in in_nanshan)
    await p.press_data(q("query_funding", district="南山区"))
    assert (f"南山区：{len(in_nanshan)} 个项目，立项金额合计 {money(approved)}，已拨付 {money(paid_nanshan)}"
            f"（{percent(paid_nanshan, approved)}）") in p.text


async def test_progress_shows_public_updates_and_inspections_only(both: Rig) -> None:
    p = both.person()
    project_id, code = (await rows(both, select(m.Project.id, m.Project.code)
                                   .join(m.ProgressUpdate, m.ProgressUpdate.project_id == m.Project.id)
                                   .where(m.ProgressUpdate.public.is_(False)).order_by(m.Project.code)))[0]
    updates = await rows(both, select(m.ProgressUpdate.text_zh, m.ProgressUpdate.public)
                         .where(m.ProgressUpdate.project_id == project_id))
    inspection = (await rows(both, select(m.Inspection).where(m.Inspection.project_id == project_id,
                                                               m.Inspection.kind == "midterm")))
    await p.press_data(q("query_progress", project=code))
    assert all((text in p.text) == public for text, public in updates)
    if inspection:
        check = inspection[0][0]
        assert f"中期检查（{i18n.day('zh-Hans', check.held_on)}）" in p.text and f"{check.score}分" in p.text
    running = await scalar(both, select(func.count()).select_from(m.Project).where(
        m.Project.status.in_(("contracted", "in_progress", "midterm_passed", "closing"))))
    await p.press_data(q("query_progress"))
    assert f"实施中：共 {running} 个项目" in p.text


async def test_satisfaction_published_only_under_the_disclosure_rule(both: Rig) -> None:
    p = both.person()
    surveyed = await rows(both, select(m.Project.id, m.Project.code).join(m.SurveyResponse, m.SurveyResponse.project_id == m.Project.id)
                          .group_by(m.Project.id, m.Project.code).order_by(m.Project.code))
    project_id, code = surveyed[0]
    overall = [v for (v,) in await rows(both, select(m.SurveyAnswer.value_int)
                                        .join(m.SurveyResponse, m.SurveyResponse.id == m.SurveyAnswer.response_id)
                                        .where(m.SurveyResponse.project_id == project_id, m.SurveyAnswer.item == "overall"))]
    assert len(overall) >= MIN_RESPONSES
    await p.press_data(q("query_satisfaction", project=code))
    satisfied = sum(1 for v in overall if v >= 4)
    assert f"满意率：{percent(satisfied, len(overall))}" in p.text
    assert f"有效回答：{len(overall)} 份" in p.text
    assert f"平均得分：{round(sum(overall) / (len(overall) * 5) * 100, 1):g}" in p.text

    unsurveyed = (await rows(both, select(m.Project.code).where(m.Project.id.not_in([i for i, _ in surveyed]))
                             .order_by(m.Project.code)))[0][0]
    await p.press_data(q("query_satisfaction", project=unsurveyed))
    assert "暂未公开" in p.text and f"不少于 {MIN_RESPONSES} 份" in p.text and "满意率" not in p.text


async def test_evaluation_grades_excellent_and_brand(both: Rig) -> None:
    p = both.person()
    grades = dict(await rows(both, select(m.Project.grade, func.count()).where(m.Project.grade.is_not(None))
                             .group_by(m.Project.grade)))
    brands = await scalar(both, select(func.count()).select_from(m.Project).where(m.Project.brand.is_(True)))
    excellent = await rows(both, select(m.Project.code, m.Project.evaluation_score).where(m.Project.grade == "excellent")
                           .order_by(m.Project.evaluation_score.desc()))
    await p.press_data(q("query_evaluation"))
    assert (f"优秀 {grades.get('excellent', 0)} 个、良好 {grades.get('good', 0)} 个、合格 {grades.get('pass', 0)} 个、"
            f"不合格 {grades.get('fail', 0)} 个；其中品牌项目 {brands} 个") in p.text
    positions = [p.text.index(code) for code, _ in excellent]
    assert positions == sorted(positions)  # best score first
    await p.press_data(q("query_evaluation", brand=True))
    brand_codes = [c for (c,) in await rows(both, select(m.Project.code).where(m.Project.brand.is_(True)))]
    assert all(c in p.text for c in brand_codes) and "🌟" in p.text
    failed = (await rows(both, select(m.Project).where(m.Project.grade == "fail")))[0][0]
    await p.press_data(q("query_evaluation", project=failed.code))
    assert f"绩效评价等级：不合格（{failed.evaluation_score}分）" in p.text and "绩效评价（" in p.text


async def test_deadlines_call_window_and_next_milestones(both: Rig) -> None:
    p = both.person()
    call = (await rows(both, select(m.Call).where(m.Call.opens_at <= NOW, m.Call.closes_at > NOW)))[0][0]
    items = await scalar(both, select(func.count()).select_from(m.CallItem).where(m.CallItem.call_id == call.id))
    await p.press_data(q("query_deadline"))
    days = (call.closes_at.astimezone(ZONE).date() - TODAY).days
    assert f"正在申报：{call.title_zh}" in p.text and f"还剩 {days} 天" in p.text and f"共 {items} 个服务项目" in p.text
    project_id, code = (await rows(both, select(m.Project.id, m.Project.code).where(m.Project.status == "in_progress")
                                   .order_by(m.Project.code)))[0]
    due = await rows(both, select(m.Milestone.kind, m.Milestone.due_at).where(
        m.Milestone.project_id == project_id, m.Milestone.done_at.is_(None)).order_by(m.Milestone.due_at).limit(3))
    await p.press_data(q("query_deadline", project=code))
    for kind, at in due:
        label = i18n.t("zh-Hans", f"lifecycle.milestone.{kind}")
        assert f"{label}：{i18n.day('zh-Hans', at.astimezone(ZONE).date())}" in p.text


async def test_faq_take_survey_and_menus(both: Rig) -> None:
    p = both.person()
    await p.press_data(q("faq_process"))
    assert "公示（一般 5 个工作日）" in p.text
    await p.press("资金拨付")
    assert "50%/30%/20%" in p.text
    await p.press_data(q("faq_process", topic="application"))
    assert "管理费用一般不超过预算的 15%" in p.text  # from DialogSettings.admin_share_max
    await p.press_data(q("faq_process", topic="acceptance"))
    assert f"有效回答不少于 {MIN_RESPONSES} 份" in p.text
    await p.press_data(q("faq_eligibility"))
    assert "近 3 年内没有重大违法记录" in p.text
    await p.press_data(q("take_survey"))
    assert "一次性邀请链接" in p.text
    await p.say("/info")
    await p.press("按年度")
    years = [y for (y,) in await rows(both, select(m.Project.year).distinct().order_by(m.Project.year.desc()))]
    assert [b.label for b in p.buttons()][:len(years)] == [f"{y}年" for y in years]
    await p.press(f"{YEAR}年")
    count = await scalar(both, select(func.count()).select_from(m.Project).where(m.Project.year == YEAR))
    assert f"{YEAR}年度：共 {count} 个项目" in p.text


async def test_paging_eight_per_page(both: Rig) -> None:
    p = both.person()
    codes = [c for (c,) in await rows(both, select(m.Project.code).where(m.Project.year == YEAR)
                                      .order_by(m.Project.year.desc(), m.Project.code))]
    assert len(codes) > 8
    await p.press_data(q("query_projects", year=YEAR))
    assert [b.label.split(". ")[0] for b in p.buttons() if b.data and ";p=" in b.data] == [str(n) for n in range(1, 9)]
    assert all(c in p.text for c in codes[:8]) and codes[8] not in p.text
    assert "第 1/" in p.text and "◀ 上一页" not in [b.label for b in p.buttons()]
    await p.press("下一页")
    assert codes[8] in p.text and codes[0] not in p.text and "第 2/" in p.text
    await p.press("上一页")
    assert codes[0] in p.text
    await p.press_data(q("query_projects", year=YEAR, page=999))  # past the end: the last page
    assert codes[-1] in p.text


async def test_nothing_found_says_so_and_offers_fewer_conditions(both: Rig) -> None:
    p = both.person()
    await p.press_data(q("query_projects", year=YEAR + 5, district="南山区"))
    assert f"没有找到符合条件的项目（{YEAR + 5}年度 · 南山区）" in p.text and "可以试试" in p.text
    labels = [b.label for b in p.buttons()]
    assert "南山区" in labels and f"{YEAR + 5}年度" in labels
    await p.press("南山区")
    count = await scalar(both, select(func.count()).select_from(m.Project).where(m.Project.district == "南山区"))
    assert f"南山区：共 {count} 个项目" in p.text


async def test_english_answers_with_english_titles(both: Rig) -> None:
    p = both.person(locale="en")
    project = (await rows(both, select(m.Project).where(m.Project.title_en.is_not(None)).order_by(m.Project.code)))[0][0]
    await p.press_data(q("query_projects", project=project.code))
    assert project.title_en in p.text and project.title_zh not in p.text
    assert f"Approved amount: {money(project.amount_fen, 'en')}" in p.text


# --- free text through the engine with the real NLU (SQLite) -------------------------------------


async def test_free_text_questions_in_chinese_and_english(demo: Rig) -> None:
    p = demo.person()
    nanshan_elderly = await rows(demo, select(m.Project.code, m.Project.title_en)
                                 .join(m.CatalogItem, m.CatalogItem.id == m.Project.catalog_item_id)
                                 .where(m.Project.district == "南山区", m.CatalogItem.level1_zh == "养老服务"))
    await p.say("南山区有哪些养老项目")
    assert f"南山区 · 养老服务：共 {len(nanshan_elderly)} 个项目" in p.text
    assert all(code in p.text for code, _ in nanshan_elderly)

    await p.say("Which elderly-care projects run in Nanshan?")
    assert f"Elderly care: {len(nanshan_elderly)} projects" in p.text
    assert all(code in p.text and title in p.text for code, title in nanshan_elderly)

    await p.say("南山區有哪些養老項目")  # Traditional characters: answered in Traditional
    assert f"共 {len(nanshan_elderly)} 個" in p.text and "立項金額" in p.text

    sunshine = (await rows(demo, select(m.Project).where(m.Project.title_zh.like("%阳光助老%"))))[0][0]
    paid = await scalar(demo, select(func.sum(m.Disbursement.amount_fen)).where(m.Disbursement.project_id == sunshine.id))
    await p.say("阳光助老项目拨了多少钱？")
    assert sunshine.code in p.text and f"立项金额：{money(sunshine.amount_fen)}" in p.text
    assert f"已拨付：{money(paid or 0)}" in p.text

    excellent = [c for (c,) in await rows(demo, select(m.Project.code).where(m.Project.grade == "excellent"))]
    await p.say("哪些项目被评为优秀？")
    assert all(c in p.text for c in excellent) and f"优秀：共 {len(excellent)} 个项目" in p.text

    budget = await scalar(demo, select(m.Budget.amount_fen).join(m.Department, m.Department.id == m.Budget.department_id)
                          .where(m.Department.code == "MZ", m.Budget.year == YEAR))
    await p.say("民政局今年的预算是多少")
    assert f"预算 {money(budget)}" in p.text

    await p.say("申报什么时候截止？")
    assert "正在申报" in p.text
    await p.say("公示期是几天")
    assert "5 个工作日" in p.text
    await p.say("我想参加满意度调查")
    assert "一次性邀请链接" in p.text
    await p.say(f"LJ-{YEAR + 3}-999拨了多少钱")
    assert f"没有找到名为“LJ-{YEAR + 3}-999”的项目" in p.text and "请告诉我是哪个项目" in p.text
    await p.say("明天天气怎么样")
    assert i18n.t("zh-Hans", "common.out_of_scope") in p.text


async def test_follow_ups_keep_the_project(demo: Rig) -> None:
    p = demo.person()
    sunshine = (await rows(demo, select(m.Project).where(m.Project.title_zh.like("%阳光助老%"))))[0][0]
    await p.say("阳光助老项目拨了多少钱？")
    await p.say("那它的满意度呢？")
    assert "满意度" in p.text and sunshine.code in p.text
    await p.say("and its funding?")
    assert f"Funding of {sunshine.title_en} ({sunshine.code})" in p.text
    await p.say("进展怎么样")
    assert "实施进展" in p.text and sunshine.code in p.text
    # a new list question is not bent to the previous project
    await p.say("哪些项目被评为优秀？")
    assert "评为优秀的项目" in p.text
    # and the answer never holds the conversation: the next request goes where it belongs
    await p.say("我要投诉")
    assert i18n.t("zh-Hans", "query.menu_back") not in [b.label for b in p.buttons()]
    async with demo.sessions() as s:
        flow = await s.scalar(select(m.Conversation.flow))
    assert flow == "complain"


async def test_did_you_mean_offers_the_look_alikes(demo: Rig) -> None:
    p = demo.person()
    alike = await rows(demo, select(m.Project.code, m.Project.id).where(m.Project.title_zh.like("%心晴热线%")))
    assert len(alike) >= 2
    await p.say("心晴热线的满意度怎么样")
    assert p.text == i18n.t("zh-Hans", "query.did_you_mean")
    offered = [b.data for b in p.buttons() if b.data and ";p=" in b.data]
    assert sorted(d.rsplit("=", 1)[1] for d in offered) == sorted(c for c, _ in alike)
    await p.press_data(offered[0])
    assert offered[0].rsplit("=", 1)[1] in p.text and "满意度" in p.text
    # the district narrows the candidates: to one, which is answered, saying which project it is
    await p.say("南山区心晴热线的满意度")
    nanshan = [c for (c,) in await rows(demo, select(m.Project.code).where(
        m.Project.title_zh.like("%心晴热线%"), m.Project.district == "南山区"))]
    assert len(nanshan) == 1
    assert "找到一个项目" in p.last[0].text and nanshan[0] in p.last[0].text
    assert "满意度" in p.last[-1].text and nanshan[0] in p.last[-1].text
    assert i18n.t("zh-Hans", "query.did_you_mean") not in p.text


async def test_free_text_nothing_found(demo: Rig) -> None:
    p = demo.person()
    await p.say(f"{YEAR - 6}年有哪些项目")
    assert f"没有找到符合条件的项目（{YEAR - 6}年度）" in p.text
    assert "全部项目" in [b.label for b in p.buttons()]


async def test_names_reload_when_the_data_changes(demo: Rig, tmp_path: Path) -> None:
    assert await demo.understanding.refresh() is False  # nothing changed
    folder = tmp_path / "more"
    folder.mkdir()
    async with demo.sessions() as s:
        org = await s.scalar(select(m.Organization.uscc).order_by(m.Organization.id))
        item = await s.scalar(select(m.CatalogItem.code).where(m.CatalogItem.year == YEAR).order_by(m.CatalogItem.code))
        dept = await s.scalar(select(m.Department.code).order_by(m.Department.code))
    write_rows(folder / "projects.csv", PROJECT_COLUMNS, [(
        f"LJ-{YEAR}-901", YEAR, "南山区萤火虫夜读计划", "Nanshan Firefly Reading Nights", item, org, dept, "南山区", "",
        "88000.00", "in_progress", f"{YEAR}-03-01", f"{YEAR}-12-31", "", "", "", "", "", "", "0")])
    await import_package(demo.db, folder, zone=ZONE, now=NOW)
    assert await demo.understanding.refresh() is True
    p = demo.person()
    await p.say("萤火虫夜读计划拨了多少钱")
    assert f"LJ-{YEAR}-901" in p.text and money(8_800_000) in p.text


async def test_first_question_after_startup_waits_for_the_names(demo: Rig) -> None:
    fresh = Understanding(demo.sessions, parser=demo.understanding.base(), clock=lambda: NOW)
    bot = build_engine(demo.sessions, SETTINGS, understand=fresh, clock=lambda: NOW)
    count = await scalar(demo, select(func.count()).select_from(m.Project).join(
        m.CatalogItem, m.CatalogItem.id == m.Project.catalog_item_id).where(
        m.Project.district == "南山区", m.CatalogItem.level1_zh == "养老服务"))
    p = Person(bot, "early")
    await p.say("南山区有哪些养老项目")  # names are read inside the turn (SQLite: under its write lock)
    assert f"南山区 · 养老服务：共 {count} 个项目" in p.text


async def test_a_text_is_parsed_once_a_day_while_the_names_stay(demo: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    today = [NOW]
    understanding = Understanding(demo.sessions, parser=demo.understanding.base(), clock=lambda: today[0])
    await understanding.refresh()
    parsed: list[str] = []
    parse = NluParser.parse

    def counting(self: NluParser, text: str, *args: object, **kwargs: object) -> dict[str, object]:
        parsed.append(text)
        return parse(self, text, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(NluParser, "parse", counting)
    question = "南山区有哪些养老项目"
    first = understanding(question)
    first["entities"].clear()  # a caller's copy: what it does to it stays with it
    again = understanding(question)
    assert parsed == [question] and {e["entity"] for e in again["entities"]} == {"district", "category"}
    today[0] = NOW + timedelta(days=1)  # "下周五" means another day tomorrow
    understanding(question)
    assert parsed == [question] * 2
    await understanding.refresh(force=True)  # the names changed: parsed with the new ones
    understanding(question)
    assert parsed == [question] * 3


async def test_understanding_checks_the_fingerprint_in_the_background(demo: Rig) -> None:
    ticks = [0.0]
    understanding = Understanding(demo.sessions, parser=demo.understanding.base(), clock=lambda: NOW,
                                  check_every=30, monotonic=lambda: ticks[0])
    assert understanding("南山区有哪些养老项目")["entities"][0]["entity"] == "category"  # no names loaded yet
    await understanding._refreshing  # type: ignore[misc]  # the first call scheduled a load
    parse = understanding("南山区有哪些养老项目")
    assert {e["entity"] for e in parse["entities"]} == {"district", "category"}
    first = understanding._refreshing
    ticks[0] = 10.0
    understanding("南山区")
    assert understanding._refreshing is first  # not due yet
    ticks[0] = 31.0
    understanding("南山区")
    assert understanding._refreshing is not first


# --- a second city: nothing above depends on the demo's names ------------------------------------

PROJECT_COLUMNS = (
    "code", "year", "title_zh", "title_en", "catalog_code", "uscc", "department_code", "district", "recipients",
    "amount_cny", "status", "start_on", "end_on", "target_group_zh", "target_group_en", "summary_zh", "summary_en",
    "grade", "evaluation_score", "brand",
)


def write_rows(path: Path, header: Iterable[str], data: Iterable[Iterable[object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(list(header))
        writer.writerows(data)


def write_binhai(folder: Path) -> dict[str, str]:
    """滨海市: other departments, categories, districts, organizations and code scheme than the demo."""
    folder.mkdir(parents=True, exist_ok=True)
    orgs = {
        "nuanxin": make_uscc("52", "350203", "MJ000011"),
        "hele": make_uscc("52", "350206", "MJ000022"),
        "chenxi": make_uscc("51", "350203", "MJ000033"),
    }
    y, last = YEAR, YEAR - 1
    write_rows(folder / "departments.csv", ("code", "name_zh", "name_en"), [
        ("BH01", "滨海市老龄工作委员会办公室", "Binhai Office on Ageing"),
        ("BH02", "滨海市妇女联合会", "Binhai Women's Federation"),
    ])
    write_rows(folder / "catalog.csv", ("year", "code", "level1_zh", "level1_en", "name_zh", "name_en", "department_code",
                                        "ceiling_cny"), [
        (yr, code, l1, l1en, name, nameen, dept, ceiling)
        for yr in (last, y, y + 1)
        for code, l1, l1en, name, nameen, dept, ceiling in (
            ("ZZ-1", "长者服务", "Senior services", "长者饭堂运营", "Senior canteens", "BH01", "250000.00"),
            ("ZZ-2", "长者服务", "Senior services", "独居长者探访", "Visits to seniors living alone", "BH01", "180000.00"),
            ("JT-1", "家庭服务", "Family services", "家庭教育指导", "Parenting guidance", "BH02", ""),
        )
    ])
    write_rows(folder / "organizations.csv", ("uscc", "name_zh", "name_en", "kind", "district", "rating",
                                              "qualified_years"), [
        (orgs["nuanxin"], "滨海市海港区暖心长者服务社", "Haigang Nuanxin Senior Services", "social_service_org", "海港区",
         "4A", f"{last};{y}"),
        (orgs["hele"], "滨海市新城区和乐家庭服务中心", "Xincheng Hele Family Center", "social_service_org", "新城区", "3A",
         f"{last};{y}"),
        (orgs["chenxi"], "滨海市晨曦社工协会", "Binhai Chenxi Social Workers Association", "social_group", "海港区", "",
         f"{last}"),
    ])
    write_rows(folder / "budgets.csv", ("year", "department_code", "amount_cny"), [
        (y, "BH01", "800000.00"), (y, "BH02", "300000.00"), (last, "BH01", "500000.00"),
    ])
    opens, closes = NOW - timedelta(days=9), NOW + timedelta(days=32)
    write_rows(folder / "calls.csv", ("code", "year", "title_zh", "title_en", "opens_at", "closes_at", "catalog_codes"), [
        ("BH-CALL-N", y + 1, f"滨海市{y + 1}年度社会服务项目征集", f"Binhai {y + 1} call", opens.isoformat(),
         closes.isoformat(), "ZZ-1;JT-1"),
    ])
    write_rows(folder / "projects.csv", PROJECT_COLUMNS, [
        (f"BH-{y}-01", y, "海港区银发食堂项目", "Haigang Silver Canteen Project", "ZZ-1", orgs["nuanxin"], "BH01", "海港区",
         "300", "200000.00", "in_progress", f"{y}-03-01", f"{y + 1}-02-28", "", "", "", "", "", "", "0"),
        (f"BH-{y}-02", y, "新城区长者探访计划", "Xincheng Senior Visiting Programme", "ZZ-2", orgs["nuanxin"], "BH01",
         "新城区", "", "150000.00", "closed", f"{last}-10-01", f"{y}-06-30", "", "", "", "", "excellent", "93", "1"),
        (f"BH-{last}-03", last, "新城区家长课堂", "Xincheng Parents' Classroom", "JT-1", orgs["hele"], "BH02", "新城区", "",
         "120000.00", "closed", f"{last}-01-01", f"{last}-12-31", "", "", "", "", "pass", "72", "0"),
        (f"BH-{y}-04", y, "海港区家庭教育指导项目", "Haigang Parenting Guidance Project", "JT-1", orgs["chenxi"], "BH02",
         "海港区", "", "90000.00", "publicized", f"{y + 1}-01-01", f"{y + 1}-12-31", "", "", "", "", "", "", "0"),
    ])
    write_rows(folder / "disbursements.csv", ("project_code", "installment", "amount_cny", "paid_on"), [
        (f"BH-{y}-01", 1, "100000.00", f"{y}-03-10"),
        (f"BH-{y}-02", 1, "75000.00", f"{last}-10-15"),
        (f"BH-{y}-02", 2, "45000.00", f"{y}-02-20"),
        (f"BH-{y}-02", 3, "30000.00", f"{y}-08-01"),
    ])
    write_rows(folder / "progress.csv", ("project_code", "reported_on", "text_zh", "text_en", "public"), [
        (f"BH-{y}-01", f"{y}-05-01", "本月供餐1200人次。", "1,200 meals served this month.", "1"),
        (f"BH-{y}-01", f"{y}-06-01", "BINHAI-INTERNAL-NOTE 厨师离职。", "", "0"),
    ])
    write_rows(folder / "inspections.csv", ("project_code", "kind", "held_on", "score", "result"), [
        (f"BH-{y}-01", "midterm", f"{y}-09-01", "85", "pass"),
        (f"BH-{y}-02", "evaluation", f"{y}-08-20", "93", "pass"),
    ])
    write_rows(folder / "milestones.csv", ("project_code", "kind", "due_at", "done_at"), [
        (f"BH-{y}-01", "final_report", f"{y + 1}-03-10T17:00", ""),
        (f"BH-{y}-01", "final_acceptance", f"{y + 1}-03-30T17:00", ""),
    ])
    responses = []
    for n, overall in enumerate((5, 5, 4, 4, 3, 5), start=1):
        responses.append((f"BH-R{n}", f"BH-{y}-02", f"{y}-07-0{n}", "overall", overall))
        responses.append((f"BH-R{n}", f"BH-{y}-02", f"{y}-07-0{n}", "suggestion", "BINHAI-PRIVATE-SUGGESTION"))
    write_rows(folder / "survey_responses.csv", ("response_id", "project_code", "submitted_on", "item", "value"), responses)
    return orgs


@pytest.fixture
async def binhai(sqlite_url: str, tmp_path: Path, parser: NluParser) -> AsyncIterator[Rig]:
    db = create_engine(sqlite_url)
    write_binhai(tmp_path / "binhai")
    await import_package(db, tmp_path / "binhai", zone=ZONE, now=NOW)
    try:
        yield await make_rig(db, parser)
    finally:
        await db.dispose()


async def test_second_city_answers_from_its_own_data(binhai: Rig) -> None:
    p = binhai.person()
    await p.say("海港区有哪些长者服务项目")
    assert f"海港区 · 长者服务：共 1 个项目，立项金额合计 {money(20_000_000)}" in p.text and f"BH-{YEAR}-01" in p.text
    await p.say("银发食堂项目拨了多少钱？")
    assert f"立项金额：{money(20_000_000)}" in p.text and f"已拨付：{money(10_000_000)}（占 50%）" in p.text
    await p.say("那它的进展呢？")
    assert "本月供餐1200人次。" in p.text and "中期检查" in p.text and "85分" in p.text
    assert "BINHAI-INTERNAL-NOTE" not in p.text
    await p.say("哪些项目被评为优秀？")
    assert f"BH-{YEAR}-02" in p.text and "优秀 1 个、良好 0 个、合格 1 个、不合格 0 个；其中品牌项目 1 个" in p.text
    await p.say("新城区长者探访计划的满意度怎么样")
    assert "满意率：83.3%" in p.text and "有效回答：6 份" in p.text  # 5 of 6 answered 4 or 5
    assert "BINHAI-PRIVATE-SUGGESTION" not in p.text
    await p.say("今年的指导目录有哪些")
    assert f"{YEAR}年度指导目录：共 3 项" in p.text and "不设上限" in p.text
    await p.say("海港区有哪些有资质的机构")
    assert f"{YEAR}年度资质名录（海港区）：共 1 家" in p.text and "滨海市海港区暖心长者服务社" in p.text
    await p.press_data(q("query_budget"))
    assert f"合计 {money(110_000_000)}，已立项 {money(44_000_000)}（占 40%）" in p.text
    await p.say("申报什么时候截止")
    assert f"滨海市{YEAR + 1}年度社会服务项目征集" in p.text and "还剩 32 天" in p.text
    await p.press_data(q("query_deadline", project=f"BH-{YEAR}-01"))
    assert f"结项报告：{YEAR + 1}年3月10日" in p.text


# --- privacy: no private field in any public answer ---------------------------------------------

MARKERS = {
    "internal progress": "PRIV-PROGRESS-4d1",
    "draft title": "PRIV-DRAFT-TITLE-8c2",
    "draft need": "PRIV-DRAFT-NEED-0b7",
    "decision reason": "PRIV-REASON-5e3",
    "survey suggestion": "PRIV-SUGGESTION-9a4",
    "survey what went wrong": "PRIV-WRONG-2f6",
    "member name": "PRIV-MEMBER-3c8",
    "need contact": "PRIV-NEED-CONTACT-6d0",
    "need description": "PRIV-NEED-TEXT-1e9",
    "ticket text": "PRIV-TICKET-7b5",
    "ticket contact": "PRIV-TICKET-CONTACT-4a2",
    "expert name": "PRIV-EXPERT-8f1",
    "review comment": "PRIV-REVIEW-COMMENT-6a3",
    "decline reason": "PRIV-DECLINE-2b9",
    "exclusion detail": "PRIV-EXCLUDED-5c1",
    "committee member": "PRIV-MEMBER-EXPERT-7d4",
}

QUESTIONS = [
    "今年的指导目录有哪些", "What services are in the catalog?", "有哪些有资质的机构", "阳光社工有资质吗",
    "Is the Sunshine social work center qualified?", "民政局今年预算多少", "What is the budget this year?",
    "南山区有哪些养老项目", "Which elderly-care projects run in Nanshan?", "阳光助老项目的情况", "阳光助老项目拨了多少钱？",
    "How much has the Sunshine elder care project been paid?", "阳光助老项目进展怎么样", "那它的满意度呢？",
    "what about its satisfaction?", "哪些项目被评为优秀？", "阳光助老项目的绩效评价", "申报什么时候截止",
    "When is the mid-term inspection of the Sunshine elder care project?", "怎么申报项目", "谁可以承接项目",
    "我想填满意度问卷", "心晴热线的满意度怎么样", "LJ-2025-008的进展",
]


async def plant_private_data(rig: Rig) -> list[str]:
    """Every kind of private record, next to the public ones the answers show; returns the codes of the
    projects they are attached to."""
    async with rig.sessions() as s, s.begin():
        project = await s.scalar(select(m.Project).where(m.Project.title_zh.like("%阳光助老%")))
        surveyed = await s.scalar(select(m.Project).join(m.SurveyResponse, m.SurveyResponse.project_id == m.Project.id)
                                  .where(m.Project.title_zh.like("%心晴热线%")))
        assert project is not None and surveyed is not None
        org = await s.get(m.Organization, project.organization_id)
        call = await s.scalar(select(m.Call).where(m.Call.opens_at <= NOW, m.Call.closes_at > NOW))
        assert org is not None and call is not None
        s.add(m.ProgressUpdate(project_id=project.id, reported_on=TODAY - timedelta(days=1), text_zh=MARKERS["internal progress"],
                               text_en=MARKERS["internal progress"], text_digest="x" * 64, public=False))
        s.add(m.Application(call_id=call.id, organization_id=org.id, status="draft", title=MARKERS["draft title"],
                            content={"need": MARKERS["draft need"], "title": MARKERS["draft title"]},
                            created_at=NOW, updated_at=NOW))
        other_org = await s.scalar(select(m.Organization).where(m.Organization.id != org.id).limit(1))
        assert other_org is not None
        s.add(m.Application(call_id=call.id, organization_id=other_org.id, status="rejected", title="申报",
                            decision_reason=MARKERS["decision reason"], reference="SQ-X-1", created_at=NOW, updated_at=NOW))
        for project_with_survey in (project, surveyed):
            response = m.SurveyResponse(response_key=f"priv-{project_with_survey.id}", project_id=project_with_survey.id,
                                        submitted_on=TODAY - timedelta(days=200))
            s.add(response)
            await s.flush()
            s.add_all([
                m.SurveyAnswer(response_id=response.id, item="overall", value_int=2),
                m.SurveyAnswer(response_id=response.id, item="suggestion", value_text=MARKERS["survey suggestion"]),
                m.SurveyAnswer(response_id=response.id, item="what_went_wrong", value_text=MARKERS["survey what went wrong"]),
            ])
        member = m.Identity(channel="telegram", external_id="42", role="org", organization_id=org.id,
                            display_name=MARKERS["member name"], created_at=NOW)
        s.add(member)
        s.add(m.Expert(code="EXP-X", name=MARKERS["expert name"], field="law", affiliation_uscc=org.uscc))
        # an unpublished committee: its members, their sheets, comments and reasons are staff-only
        sitting = m.Expert(code="EXP-Y", name=MARKERS["committee member"], field="business")
        declined = m.Expert(code="EXP-Z", name="专家Z", field="business")
        s.add_all([sitting, declined])
        under_review = m.Application(call_id=call.id, organization_id=org.id, status="under_review", title="在评申报",
                                     reference="SQ-X-2", created_at=NOW, updated_at=NOW, total_fen=1)
        s.add(under_review)
        await s.flush()
        committee = m.ReviewCommittee(code="RC-X", call_id=call.id, stage="approval", state="active", seed="0" * 64,
                                      commitment="1" * 64, algorithm="hmac-sha256/1", pool={}, counts={}, created_at=NOW)
        s.add(committee)
        await s.flush()
        subject = m.ReviewSubject(committee_id=committee.id, application_id=under_review.id)
        member = m.ReviewMember(committee_id=committee.id, expert_id=sitting.id, field="business", position=0,
                                reserve=False, state="submitted")
        gone = m.ReviewMember(committee_id=committee.id, expert_id=declined.id, field="business", position=1,
                              reserve=True, state="declined", reason=MARKERS["decline reason"])
        s.add_all([subject, member, gone, m.ReviewExclusion(committee_id=committee.id, expert_id=declined.id,
                                                            reason="conflict", detail=MARKERS["exclusion detail"])])
        await s.flush()
        sheet = m.ReviewSheet(member_id=member.id, subject_id=subject.id, total=73, comment=MARKERS["review comment"],
                              updated_at=NOW)
        s.add(sheet)
        await s.flush()
        s.add(m.ReviewScore(sheet_id=sheet.id, criterion="need", points=73))
        s.add(m.Need(reference="XQ-X-1", category="养老服务", district="南山区", target_group="elderly",
                     description=MARKERS["need description"], contact_consent=True, contact=MARKERS["need contact"],
                     created_at=NOW))
        s.add(m.Ticket(reference="TS-X-1", project_id=project.id, kind="quality", description=MARKERS["ticket text"],
                       contact=MARKERS["ticket contact"], created_at=NOW, updated_at=NOW))
        return [project.code, surveyed.code]


async def test_no_private_field_in_any_answer_or_menu_path(demo: Rig) -> None:
    planted = await plant_private_data(demo)
    seen: list[str] = []
    p = demo.person("curious")

    def record() -> None:
        for reply in p.last:
            seen.append(reply.text)
            seen.extend(b.label for row in reply.buttons for b in row)

    # every intent, typed
    for question in QUESTIONS:
        await p.say(question)
        record()
    # every menu path, pressed: a breadth-first walk over the public-information buttons
    await p.say("/info")
    record()
    # Buttons of one shape (answer + which fields it carries) lead to the same code path: a few of each
    # are pressed, and every button about the projects holding private data.
    queue = [b.data for b in p.buttons() if b.data]
    pressed: set[str] = set()
    shapes: dict[tuple[str, ...], int] = {}
    while queue:
        data = queue.pop(0)
        question = decode(data.split(":", 3)[3]) if data.startswith("g:run:query:") else None
        if data in pressed or (question is None and data != "g:run:query"):
            continue
        shape = (question.intent, *sorted(k.split("=")[0] for k in data.split(";")[1:])) if question else ("menu",)
        if shapes.get(shape, 0) >= 4 and not any(code in data for code in planted):
            continue
        shapes[shape] = shapes.get(shape, 0) + 1
        pressed.add(data)
        await p.press_data(data)
        record()
        queue += [b.data for b in p.buttons() if b.data and b.data not in pressed]
    intents = {shape[0] for shape in shapes}
    assert intents >= {"query_catalog", "query_organizations", "query_budget", "query_projects", "query_funding",
                       "query_progress", "query_satisfaction", "query_evaluation", "query_deadline", "faq_process",
                       "faq_eligibility", "menu"}
    for code in planted:  # every answer about the projects next to the private data was opened
        assert {q for q in QUERY_INTENTS if f"{CODES[q]};p={code}" in "|".join(pressed)} >= set(PROJECT_INTENTS)

    everything = "\n".join(seen)
    leaked = {kind: marker for kind, marker in MARKERS.items() if marker in everything}
    assert not leaked, leaked
    # nor any member of the demo roster (members.csv) or expert
    people = await rows(demo, select(m.Identity.display_name).where(m.Identity.display_name.is_not(None)))
    experts = await rows(demo, select(m.Expert.name))
    assert len(people) >= 7 and not [name for (name,) in [*people, *experts] if name in everything]
    # the walk did reach the pages next to the private data: public progress and disclosed satisfaction
    assert "满意率" in everything and "检查结果" in everything
