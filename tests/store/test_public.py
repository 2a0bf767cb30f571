"""store.public on a small hand-built data set, on SQLite and PostgreSQL: exact answers, and nothing
that is not disclosable (internal progress, drafts and applications, done milestones)."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import fields
from datetime import UTC, date, datetime

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store import models as m
from store import public
from store.db import create_engine, sessionmaker
from store.importing.tables import text_digest
from store.public import ProjectFilter
from testing.factories import uscc
from tests.conftest import _admin, run_blocking

NOW = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)

P1, P2, P3, P4, P5 = "LJ-2025-001", "LJ-2026-001", "LJ-2026-002", "LJ-2026-003", "LJ-2025-002"
O1, O2, O3, O4 = uscc(20000001), uscc(20000002), uscc(20000003), uscc(20000004)


def at(y: int, mo: int, d: int) -> datetime:
    return datetime(y, mo, d, tzinfo=UTC)


async def build(session: AsyncSession) -> dict[str, int]:
    """Five projects of two years, four organizations, three catalog items (one reworded), two departments."""
    mz = m.Department(code="MZ", name_zh="民政局", name_en="Civil Affairs Bureau")
    cl = m.Department(code="CL", name_zh="残联", name_en=None)
    session.add_all([mz, cl, m.District(name_zh="南山区", name_en="Nanshan"), m.District(name_zh="福田区", name_en=None)])
    await session.flush()
    a01_old = m.CatalogItem(year=2025, code="A01", level1_zh="养老服务", level1_en=None, name_zh="居家养老",
                            name_en=None, department_id=mz.id, ceiling_fen=40_000_000)
    a01 = m.CatalogItem(year=2026, code="A01", level1_zh="养老服务", level1_en="Elderly care", name_zh="居家养老服务",
                        name_en="Home care", description_zh="上门服务", department_id=mz.id, ceiling_fen=50_000_000)
    a02 = m.CatalogItem(year=2026, code="A02", level1_zh="社区治理", level1_en="Community", name_zh="社区营造",
                        name_en="Community building", department_id=mz.id)
    b01 = m.CatalogItem(year=2026, code="B01", level1_zh="助残服务", level1_en="Disability", name_zh="康复",
                        name_en="Rehabilitation", description_en="Therapy", department_id=cl.id, ceiling_fen=30_000_000)
    orgs = [
        m.Organization(uscc=O1, name_zh="阳光社工", name_en="Sunshine", kind="social_service_org", district="南山区",
                       rating="5A"),
        m.Organization(uscc=O2, name_zh="彩虹服务社", name_en=None, kind="social_group", district="福田区", rating="3A"),
        m.Organization(uscc=O3, name_zh="无评级机构", name_en="Unrated", kind="foundation", district="罗湖区", rating=None),
        m.Organization(uscc=O4, name_zh="未入库机构", name_en="Not listed", kind="enterprise", district="宝安区",
                       rating="4A", barred_until=date(2027, 1, 1)),
    ]
    session.add_all([a01_old, a01, a02, b01, *orgs])
    await session.flush()
    o1, o2, o3, o4 = orgs
    session.add_all([m.Qualification(organization_id=o1.id, year=2025), m.Qualification(organization_id=o1.id, year=2026),
                     m.Qualification(organization_id=o2.id, year=2026), m.Qualification(organization_id=o3.id, year=2026)])

    def project(code: str, year: int, item: m.CatalogItem, org: m.Organization, dept: m.Department, **kw: object) -> m.Project:
        return m.Project(code=code, year=year, catalog_item_id=item.id, organization_id=org.id, department_id=dept.id,
                         start_on=date(year, 1, 1), end_on=date(year, 12, 31), **kw)

    projects = [
        project(P1, 2025, a01_old, o1, mz, title_zh="阳光助老", title_en="Sunshine Elderly Care", district="南山区",
                amount_fen=30_000_000, status="closed", grade="excellent", evaluation_score=95, brand=True,
                target_group_zh="独居老人", target_group_en="Seniors living alone", summary_zh="上门探访",
                summary_en="Home visits", recipients=120),
        project(P2, 2026, a01, o1, mz, title_zh="长者食堂", title_en="Seniors' Canteen", district="南山区",
                amount_fen=20_000_000, status="in_progress"),
        project(P3, 2026, a02, o2, mz, title_zh="社区营造100%计划", title_en="Community 100% Plan", district="福田区",
                amount_fen=15_000_000, status="contracted", grade="good", evaluation_score=85),
        project(P4, 2026, b01, o2, cl, title_zh="康复_服务", title_en=None, district=None, amount_fen=25_000_000,
                status="publicized", grade="pass", evaluation_score=70),
        project(P5, 2025, a01_old, o3, mz, title_zh="终止项目", title_en="Terminated project", district="罗湖区",
                amount_fen=10_000_000, status="terminated", grade="fail", evaluation_score=50),
    ]
    session.add_all(projects)
    # applications (a draft and one under review) are never public: they must show up nowhere
    call = m.Call(code="CALL-2026-01", year=2026, title_zh="2026年征集", title_en="2026 call", opens_at=at(2026, 1, 1),
                  closes_at=at(2026, 2, 1))
    session.add(call)
    await session.flush()
    for n, status in enumerate(("draft", "under_review"), 1):
        session.add(m.Application(call_id=call.id, catalog_item_id=b01.id, organization_id=o4.id, status=status,
                                  title=f"秘密申请{n}", total_fen=99_000_000, created_at=NOW, updated_at=NOW))
    ids = {p.code: p.id for p in projects}
    ids.update(call=call.id, A01=a01.id, A02=a02.id, MZ=mz.id, O1=o1.id)
    p1, p2, p3 = ids[P1], ids[P2], ids[P3]
    session.add_all([
        m.Disbursement(project_id=p1, installment=2, amount_fen=15_000_000, paid_on=date(2025, 12, 1)),
        m.Disbursement(project_id=p1, installment=1, amount_fen=15_000_000, paid_on=date(2025, 3, 1)),
        m.Disbursement(project_id=p2, installment=1, amount_fen=10_000_000, paid_on=date(2026, 2, 1)),
        m.Disbursement(project_id=p3, installment=1, amount_fen=5_000_000, paid_on=date(2026, 3, 1)),
        m.Inspection(project_id=p1, kind="evaluation", held_on=date(2025, 12, 20), score=95, result="pass",
                     summary_zh="优秀", summary_en="Excellent"),
        m.Inspection(project_id=p1, kind="final", held_on=date(2025, 12, 10), score=None, result="pass"),
        m.Inspection(project_id=p1, kind="midterm", held_on=date(2025, 6, 1), score=80, result="rectify",
                     summary_zh="整改台账"),
        m.Inspection(project_id=p2, kind="midterm", held_on=date(2026, 6, 1), score=90, result="pass"),
    ])
    for reported, text, public_, en in ((date(2026, 3, 1), "首批服务", True, "First services"),
                                        (date(2026, 4, 1), "内部备注：人手不足", False, None),
                                        (date(2026, 5, 1), "第二批", True, None),
                                        (date(2026, 5, 1), "同日再报", True, "Same day")):
        session.add(m.ProgressUpdate(project_id=p2, reported_on=reported, text_zh=text, text_en=en,
                                     text_digest=text_digest(text), public=public_, media_path="/secret/photo.jpg"))
    for kind, due, done in (("contract_signing", at(2026, 1, 10), at(2026, 1, 9)),
                            ("final_acceptance", at(2026, 12, 31), None),
                            ("midterm_inspection", at(2026, 7, 15), None),
                            ("midterm_report", at(2026, 6, 30), None),
                            ("final_report", at(2026, 12, 1), None)):
        session.add(m.Milestone(project_id=p2, kind=kind, due_at=due, done_at=done))
    session.add_all([
        m.Budget(year=2026, department_id=cl.id, amount_fen=30_000_000, note_en="for disability"),
        m.Budget(year=2026, department_id=mz.id, amount_fen=50_000_000, note_zh="含追加"),
        m.Budget(year=2025, department_id=mz.id, amount_fen=40_000_000),
    ])
    await session.commit()
    return ids


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, int]]]:
    """One database per backend for the whole module, built once: every test only reads it or rolls back."""
    if request.param == "sqlite":
        target = tmp_path_factory.mktemp("public") / "civicbot.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        url, drop = f"sqlite+aiosqlite:///{target}", None
    else:
        server, template = request.getfixturevalue("pg_template")
        name = f"civicbot_public_{secrets.token_hex(4)}"
        run_blocking(lambda: _admin(server, f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        url = make_url(server).set(drivername="postgresql+asyncpg", database=name).render_as_string(False)
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'

    async def fill() -> dict[str, int]:
        engine = create_engine(url)
        try:
            async with sessionmaker(engine)() as s:
                return await build(s)
        finally:
            await engine.dispose()

    try:
        yield url, run_blocking(fill)
    finally:
        if drop is not None:
            run_blocking(lambda: _admin(server, drop))


@pytest.fixture
async def sessions(built: tuple[str, dict[str, int]]) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the module's database; what a test adds is never committed."""
    engine = create_engine(built[0])
    try:
        yield sessionmaker(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def world(built: tuple[str, dict[str, int]]) -> dict[str, int]:
    return built[1]


def codes(page: public.ProjectPage | list[public.ProjectRow]) -> list[str]:
    rows = page.rows if isinstance(page, public.ProjectPage) else page
    return [r.code for r in rows]


# --- names ------------------------------------------------------------------------------------


async def test_names_lists_every_public_name_and_no_application(
    sessions: async_sessionmaker[AsyncSession], world: dict[str, int]
) -> None:
    async with sessions() as s:
        n = await public.names(s)
    assert sorted(n.projects) == sorted([
        (P1, "阳光助老", "Sunshine Elderly Care"), (P2, "长者食堂", "Seniors' Canteen"),
        (P3, "社区营造100%计划", "Community 100% Plan"), (P4, "康复_服务", None), (P5, "终止项目", "Terminated project"),
    ])
    assert not any("秘密" in title for _, title, _ in n.projects)
    assert sorted(n.organizations) == sorted([(O1, "阳光社工", "Sunshine"), (O2, "彩虹服务社", None),
                                              (O3, "无评级机构", "Unrated"), (O4, "未入库机构", "Not listed")])
    # one entry per code, worded as in its latest year
    assert sorted(n.catalog) == [("A01", "居家养老服务", "Home care"), ("A02", "社区营造", "Community building"),
                                 ("B01", "康复", "Rehabilitation")]
    assert sorted(n.level1) == sorted([("养老服务", "Elderly care"), ("社区治理", "Community"), ("助残服务", "Disability")])
    assert n.districts == sorted(["南山区", "福田区", "罗湖区", "宝安区"])
    assert sorted(n.departments) == [("CL", "残联", None), ("MZ", "民政局", "Civil Affairs Bureau")]


async def test_names_fingerprint_changes_with_new_names_and_audited_imports(
    sessions: async_sessionmaker[AsyncSession], world: dict[str, int]
) -> None:
    async with sessions() as s:
        before = await public.names_fingerprint(s)
        assert before == await public.names_fingerprint(s)
        assert len(before) == 9
        s.add(m.Department(code="WJ", name_zh="卫健委"))
        await s.flush()
        added = await public.names_fingerprint(s)
        assert added != before
        s.add(m.AuditEntry(at=NOW, actor="import", action="import.update", entity="projects", entity_key=P1))
        await s.flush()
        assert await public.names_fingerprint(s) != added


async def test_districts_years_and_level1_categories(sessions: async_sessionmaker[AsyncSession], world: dict[str, int]) -> None:
    async with sessions() as s:
        assert await public.districts(s) == sorted(["南山区", "福田区", "罗湖区"])  # P4 has none
        assert await public.districts(s, with_organizations=True) == sorted(["南山区", "福田区", "罗湖区", "宝安区"])
        assert await public.district_english_names(s) == {"南山区": "Nanshan"}
        assert await public.project_years(s) == [2026, 2025]
        # in code order of their first item; the English name of any year
        assert await public.level1_categories(s) == [("养老服务", "Elderly care"), ("社区治理", "Community"),
                                                     ("助残服务", "Disability")]


async def test_item_organization_and_department_names(sessions: async_sessionmaker[AsyncSession], world: dict[str, int]) -> None:
    async with sessions() as s:
        items = await public.catalog_item_list(s)
        assert [(i.code, i.name_zh, i.level1_en, i.description_zh) for i in items] == [
            ("A01", "居家养老服务", "Elderly care", "上门服务"), ("A02", "社区营造", "Community", None),
            ("B01", "康复", "Disability", None)]
        assert await public.catalog_item_names(s, "A01") == ("居家养老服务", "Home care")
        assert await public.catalog_item_names(s, "Z99") is None
        assert await public.organization_names(s, O2) == ("彩虹服务社", None)
        assert await public.organization_names(s, uscc(29999999)) is None
        assert await public.department_names(s, "MZ") == ("民政局", "Civil Affairs Bureau")
        assert await public.department_names(s, "XX") is None


# --- projects ---------------------------------------------------------------------------------


async def test_find_projects_lists_newest_year_first_with_totals(
    sessions: async_sessionmaker[AsyncSession], world: dict[str, int]
) -> None:
    async with sessions() as s:
        page = await public.find_projects(s, ProjectFilter())
    assert codes(page) == [P2, P3, P4, P1, P5]
    assert (page.total, page.amount_fen) == (5, 100_000_000)
    first = page.rows[0]
    assert first == public.ProjectRow(world[P2], P2, 2026, "长者食堂", "Seniors' Canteen", "in_progress", 20_000_000,
                                      "南山区", None, None, False, "阳光社工", "Sunshine")
    assert page.rows[3].brand is True and page.rows[3].grade == "excellent" and page.rows[3].evaluation_score == 95


async def test_find_projects_pages(sessions: async_sessionmaker[AsyncSession], world: dict[str, int]) -> None:
    async with sessions() as s:
        second = await public.find_projects(s, ProjectFilter(), offset=2, limit=2)
        last = await public.find_projects(s, ProjectFilter(), offset=4, limit=2)
        beyond = await public.find_projects(s, ProjectFilter(), offset=5, limit=2)
        none = await public.find_projects(s, ProjectFilter(), limit=0)
    assert codes(second) == [P4, P1]
    assert codes(last) == [P5]
    # the totals cover every match, whatever the page
    assert [(p.rows, p.total, p.amount_fen) for p in (beyond, none)] == [([], 5, 100_000_000)] * 2
    assert (second.total, second.amount_fen) == (5, 100_000_000)


async def test_find_projects_by_score_puts_the_best_evaluated_first_and_unscored_last(
    sessions: async_sessionmaker[AsyncSession], world: dict[str, int]
) -> None:
    async with sessions() as s:
        page = await public.find_projects(s, ProjectFilter(), by_score=True)
        graded = await public.find_projects(s, ProjectFilter(grades=("pass", "good")), by_score=True)
    # PostgreSQL sorts NULL first in a descending order, SQLite last: a project without a score is last on both
    assert codes(page) == [P1, P3, P4, P5, P2]
    assert codes(graded) == [P3, P4]


FILTERS = [
    (ProjectFilter(year=2025), [P1, P5]),
    (ProjectFilter(year=2024), []),
    (ProjectFilter(catalog_code="A01"), [P2, P1, P5]),  # the code of any year
    (ProjectFilter(year=2026, catalog_code="A01"), [P2]),
    (ProjectFilter(level1="养老服务"), [P2, P1, P5]),
    (ProjectFilter(level1="Disability"), [P4]),
    (ProjectFilter(level1="Nothing"), []),
    (ProjectFilter(district="南山区"), [P2, P1]),
    (ProjectFilter(organization=O2), [P3, P4]),
    (ProjectFilter(organization=O4), []),
    (ProjectFilter(department="CL"), [P4]),
    (ProjectFilter(department="XX"), []),
    (ProjectFilter(statuses=("closed", "terminated")), [P1, P5]),
    (ProjectFilter(grades=("excellent",)), [P1]),
    (ProjectFilter(grades=("good", "fail")), [P3, P5]),
    (ProjectFilter(brand=True), [P1]),
    (ProjectFilter(title="食堂"), [P2]),
    (ProjectFilter(title="canteen"), [P2]),  # any case in the English title
    (ProjectFilter(title="SUNSHINE"), [P1]),
    (ProjectFilter(title="100%"), [P3]),  # % and _ are the words themselves, not wildcards
    (ProjectFilter(title="%"), [P3]),
    (ProjectFilter(title="_"), [P4]),
    (ProjectFilter(title="康复_"), [P4]),
    (ProjectFilter(title="秘密"), []),  # application titles are not project titles
    (ProjectFilter(year=2026, district="福田区", organization=O2, department="MZ", statuses=("contracted",),
                   grades=("good",), level1="Community", catalog_code="A02", title="plan"), [P3]),
    (ProjectFilter(year=2026, brand=True), []),
]


async def test_find_projects_filters(sessions: async_sessionmaker[AsyncSession], world: dict[str, int]) -> None:
    """Each condition alone and all together (one database for all: building it is the slow part)."""
    amounts = {P1: 30_000_000, P2: 20_000_000, P3: 15_000_000, P4: 25_000_000, P5: 10_000_000}
    async with sessions() as s:
        found = [(f, codes(page), page.total, page.amount_fen)
                 for f in (f for f, _ in FILTERS) for page in [await public.find_projects(s, f)]]
    assert found == [(f, expected, len(expected), sum(amounts[c] for c in expected)) for f, expected in FILTERS]


async def test_find_projects_title_matches_latin_letters_of_a_chinese_title_in_any_case(
    sessions: async_sessionmaker[AsyncSession], world: dict[str, int]
) -> None:
    async with sessions() as s:
        s.add(m.Project(code="LJ-2026-009", year=2026, title_zh="AI陪伴计划", title_en=None, catalog_item_id=world["A01"],
                        organization_id=world["O1"], department_id=world["MZ"], amount_fen=1, status="publicized",
                        start_on=date(2026, 1, 1), end_on=date(2026, 2, 1)))
        await s.flush()
        # SQLite's LIKE ignores ASCII case and PostgreSQL's does not: both must find it
        assert codes(await public.find_projects(s, ProjectFilter(title="ai陪伴"))) == ["LJ-2026-009"]
        assert codes(await public.find_projects(s, ProjectFilter(title="AI陪伴"))) == ["LJ-2026-009"]


async def test_paid_total_sums_the_payments_of_the_matching_projects(
    sessions: async_sessionmaker[AsyncSession], world: dict[str, int]
) -> None:
    async with sessions() as s:
        assert await public.paid_total(s, ProjectFilter()) == 45_000_000
        assert await public.paid_total(s, ProjectFilter(year=2026)) == 15_000_000
        assert await public.paid_total(s, ProjectFilter(district="南山区")) == 40_000_000
        assert await public.paid_total(s, ProjectFilter(organization=O2)) == 5_000_000
        assert await public.paid_total(s, ProjectFilter(department="CL")) == 0


async def test_projects_by_code_keeps_the_given_order_and_the_filter(
    sessions: async_sessionmaker[AsyncSession], world: dict[str, int]
) -> None:
    async with sessions() as s:
        assert codes(await public.projects_by_code(s, [P5, "NOPE", P2, P1])) == [P5, P2, P1]
        assert codes(await public.projects_by_code(s, [P5, P2, P1], ProjectFilter(year=2026))) == [P2]
        assert await public.projects_by_code(s, []) == []
        rows = await public.projects_by_code(s, [P3])
    assert rows[0].org_name_zh == "彩虹服务社" and rows[0].amount_fen == 15_000_000


async def test_grade_counts(sessions: async_sessionmaker[AsyncSession], world: dict[str, int]) -> None:
    async with sessions() as s:
        assert await public.grade_counts(s, ProjectFilter()) == ({"excellent": 1, "good": 1, "pass": 1, "fail": 1}, 1)
        assert await public.grade_counts(s, ProjectFilter(year=2026)) == ({"good": 1, "pass": 1}, 0)
        assert await public.grade_counts(s, ProjectFilter(district="南山区")) == ({"excellent": 1}, 1)
        assert await public.grade_counts(s, ProjectFilter(year=2024)) == ({}, 0)


async def test_project_record(sessions: async_sessionmaker[AsyncSession], world: dict[str, int]) -> None:
    async with sessions() as s:
        record = await public.project_record(s, P1)
        assert await public.project_record(s, "NOPE") is None
        p4 = await public.project_record(s, P4)
    assert record == public.ProjectRecord(
        id=world[P1], code=P1, year=2025, title_zh="阳光助老", title_en="Sunshine Elderly Care", status="closed",
        amount_fen=30_000_000, district="南山区", start_on=date(2025, 1, 1), end_on=date(2025, 12, 31),
        grade="excellent", evaluation_score=95, brand=True, target_group_zh="独居老人",
        target_group_en="Seniors living alone", summary_zh="上门探访", summary_en="Home visits", org_uscc=O1,
        org_name_zh="阳光社工", org_name_en="Sunshine", department_code="MZ", department_zh="民政局",
        department_en="Civil Affairs Bureau", item_code="A01", item_zh="居家养老", item_en=None,
    )
    assert p4 is not None and (p4.department_code, p4.department_en, p4.item_code, p4.district) == ("CL", None, "B01", None)
    # a public record has no recipients count, contact or application content
    assert {f.name for f in fields(public.ProjectRecord)} & {"recipients", "application_id"} == set()


async def test_inspections_of_the_asked_kinds_oldest_first(
    sessions: async_sessionmaker[AsyncSession], world: dict[str, int]
) -> None:
    async with sessions() as s:
        both = await public.inspections(s, world[P1], ["midterm", "final"])
        evaluation = await public.inspections(s, world[P1], ["evaluation"])
        none = await public.inspections(s, world[P3], ["midterm", "final", "evaluation"])
    assert both == [
        public.InspectionRow("midterm", date(2025, 6, 1), 80, "rectify", "整改台账", None),
        public.InspectionRow("final", date(2025, 12, 10), None, "pass", None, None),
    ]
    assert evaluation == [public.InspectionRow("evaluation", date(2025, 12, 20), 95, "pass", "优秀", "Excellent")]
    assert none == []


async def test_tranches_in_installment_order(sessions: async_sessionmaker[AsyncSession], world: dict[str, int]) -> None:
    async with sessions() as s:
        assert await public.tranches(s, world[P1]) == [public.Tranche(1, 15_000_000, date(2025, 3, 1)),
                                                       public.Tranche(2, 15_000_000, date(2025, 12, 1))]
        assert await public.tranches(s, world[P4]) == []


async def test_public_updates_are_the_public_ones_newest_first_without_author_or_photo(
    sessions: async_sessionmaker[AsyncSession], world: dict[str, int]
) -> None:
    async with sessions() as s:
        updates = await public.public_updates(s, world[P2])
        two = await public.public_updates(s, world[P2], limit=2)
        assert await public.public_updates(s, world[P1]) == []
    assert updates == [
        public.Update(date(2026, 5, 1), "同日再报", "Same day"),  # the later entry of a day first
        public.Update(date(2026, 5, 1), "第二批", None),
        public.Update(date(2026, 3, 1), "首批服务", "First services"),
    ]
    assert two == updates[:2]
    assert [f.name for f in fields(public.Update)] == ["reported_on", "text_zh", "text_en"]


async def test_next_milestones_are_the_open_ones_by_due_date(
    sessions: async_sessionmaker[AsyncSession], world: dict[str, int]
) -> None:
    async with sessions() as s:
        due = await public.next_milestones(s, world[P2], NOW)
        all_open = await public.next_milestones(s, world[P2], NOW, limit=10)
        exactly_due = await public.next_milestones(s, world[P2], at(2026, 6, 30), limit=1)
        assert await public.next_milestones(s, world[P1], NOW) == []
    assert due == [public.Due("midterm_report", at(2026, 6, 30), True),
                   public.Due("midterm_inspection", at(2026, 7, 15), False),
                   public.Due("final_report", at(2026, 12, 1), False)]
    assert [d.kind for d in all_open] == ["midterm_report", "midterm_inspection", "final_report", "final_acceptance"]
    assert exactly_due == [public.Due("midterm_report", at(2026, 6, 30), False)]  # due now is not yet overdue


# --- catalog, budgets, calls --------------------------------------------------------------------


async def test_catalog_of_a_year(sessions: async_sessionmaker[AsyncSession], world: dict[str, int]) -> None:
    async with sessions() as s:
        assert await public.catalog_years(s) == [2026, 2025]
        rows = await public.catalog(s, 2026)
        assert [r.code for r in await public.catalog(s, 2026, code="A02")] == ["A02"]
        assert [r.code for r in await public.catalog(s, 2026, level1="Elderly care")] == ["A01"]
        assert [r.code for r in await public.catalog(s, 2026, level1="助残服务")] == ["B01"]
        assert await public.catalog(s, 2026, code="A01", level1="助残服务") == []
        old = await public.catalog(s, 2025)
        assert await public.catalog(s, 2024) == []
    assert rows == [
        public.CatalogRow("A01", "养老服务", "Elderly care", "居家养老服务", "Home care", "上门服务", None, 50_000_000,
                          "民政局", "Civil Affairs Bureau"),
        public.CatalogRow("A02", "社区治理", "Community", "社区营造", "Community building", None, None, None,
                          "民政局", "Civil Affairs Bureau"),
        public.CatalogRow("B01", "助残服务", "Disability", "康复", "Rehabilitation", None, "Therapy", 30_000_000, "残联", None),
    ]
    assert [(r.code, r.name_zh, r.ceiling_fen) for r in old] == [("A01", "居家养老", 40_000_000)]


async def test_budgets_with_what_the_year_s_projects_take(
    sessions: async_sessionmaker[AsyncSession], world: dict[str, int]
) -> None:
    async with sessions() as s:
        assert await public.budget_years(s) == [2026, 2025]
        rows = await public.budgets(s, 2026)
        assert await public.budgets(s, 2026, "CL") == [rows[1]]
        assert await public.budgets(s, 2026, "XX") == []
        old = await public.budgets(s, 2025)
        assert await public.budgets(s, 2024) == []
    assert rows == [
        public.BudgetRow("MZ", "民政局", "Civil Affairs Bureau", 50_000_000, "含追加", None, 35_000_000, 2),
        public.BudgetRow("CL", "残联", None, 30_000_000, None, "for disability", 25_000_000, 1),
    ]
    assert old == [public.BudgetRow("MZ", "民政局", "Civil Affairs Bureau", 40_000_000, None, None, 40_000_000, 2)]


async def test_call_windows(sessions: async_sessionmaker[AsyncSession], world: dict[str, int]) -> None:
    async with sessions() as s:
        calls = [
            m.Call(code="CALL-2025-01", year=2025, title_zh="2025征集", opens_at=at(2025, 1, 1), closes_at=at(2025, 2, 1)),
            m.Call(code="CALL-2026-02", year=2026, title_zh="2026第二批", title_en="Second", opens_at=at(2026, 6, 20),
                   closes_at=at(2026, 7, 20)),
            m.Call(code="CALL-2026-03", year=2026, title_zh="2026第三批", opens_at=at(2026, 9, 1), closes_at=at(2026, 10, 1)),
        ]
        s.add_all(calls)
        await s.flush()
        s.add_all([m.CallItem(call_id=world["call"], catalog_item_id=world[code]) for code in ("A01", "A02")])
        await s.flush()
        windows = await public.call_windows(s, NOW)
        at_open = await public.call_windows(s, at(2026, 6, 20))
        at_close = await public.call_windows(s, at(2026, 7, 20))
        before_all = await public.call_windows(s, at(2024, 1, 1))
    assert windows.open == [public.CallRow("CALL-2026-02", 2026, "2026第二批", "Second", at(2026, 6, 20), at(2026, 7, 20), 0)]
    assert [c.code for c in windows.upcoming] == ["CALL-2026-03"]
    assert windows.last_closed == public.CallRow("CALL-2026-01", 2026, "2026年征集", "2026 call", at(2026, 1, 1),
                                                 at(2026, 2, 1), 2)
    # a call is open from its opening instant up to, not including, its closing one
    assert [c.code for c in at_open.open] == ["CALL-2026-02"]
    assert at_close.open == [] and at_close.last_closed is not None and at_close.last_closed.code == "CALL-2026-02"
    assert before_all.open == [] and before_all.last_closed is None
    assert [c.code for c in before_all.upcoming] == ["CALL-2025-01", "CALL-2026-01", "CALL-2026-02", "CALL-2026-03"]


# --- organizations ------------------------------------------------------------------------------


def test_ratings_from() -> None:
    assert public.ratings_from("3A") == ("3A", "4A", "5A")
    assert public.ratings_from("5A") == ("5A",)
    assert public.ratings_from("1A") == ("1A", "2A", "3A", "4A", "5A")
    assert public.ratings_from("6A") == ()
    assert public.ratings_from("") == ()


async def test_qualified_organizations(sessions: async_sessionmaker[AsyncSession], world: dict[str, int]) -> None:
    async with sessions() as s:
        assert await public.qualified_years(s) == [2026, 2025]
        rows, total = await public.qualified_organizations(s, 2026)
        page, paged_total = await public.qualified_organizations(s, 2026, offset=1, limit=1)
        beyond = await public.qualified_organizations(s, 2026, offset=3)
        empty = await public.qualified_organizations(s, 2026, limit=0)
        rated = await public.qualified_organizations(s, 2026, ratings=public.ratings_from("4A"))
        in_district = await public.qualified_organizations(s, 2026, district="福田区")
        both = await public.qualified_organizations(s, 2026, district="福田区", ratings=("5A",))
        old = await public.qualified_organizations(s, 2025)
        assert await public.qualified_organizations(s, 2024) == ([], 0)
    # best rated first, unrated last; an organization not on the list is never shown
    assert rows == [
        public.OrganizationRow(O1, "阳光社工", "Sunshine", "social_service_org", "南山区", "5A"),
        public.OrganizationRow(O2, "彩虹服务社", None, "social_group", "福田区", "3A"),
        public.OrganizationRow(O3, "无评级机构", "Unrated", "foundation", "罗湖区", None),
    ]
    assert total == 3 and (page, paged_total) == ([rows[1]], 3)
    assert beyond == ([], 3) and empty == ([], 3)
    assert rated == ([rows[0]], 1)
    assert in_district == ([rows[1]], 1)
    assert both == ([], 0)
    assert old == ([rows[0]], 1)
    assert "barred_until" not in {f.name for f in fields(public.OrganizationRow)}


async def test_organization_record(sessions: async_sessionmaker[AsyncSession], world: dict[str, int]) -> None:
    async with sessions() as s:
        o1 = await public.organization_record(s, O1)
        o4 = await public.organization_record(s, O4)
        assert await public.organization_record(s, uscc(29999999)) is None
    assert o1 == public.OrganizationRecord(O1, "阳光社工", "Sunshine", "social_service_org", "南山区", "5A",
                                           qualified_years=[2025, 2026], projects=2)
    assert o4 == public.OrganizationRecord(O4, "未入库机构", "Not listed", "enterprise", "宝安区", "4A",
                                           qualified_years=[], projects=0)
