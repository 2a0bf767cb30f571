"""The data-package import: round trip, idempotency, updates, XLSX, and the exact line of every error."""

from __future__ import annotations

import csv
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from store import models as m
from store.db import create_engine
from store.demo import write_demo_package
from store.importer import ImportFailed, ImportResult, import_package
from store.importing.values import DATETIME_REASON

ZONE = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 11, 29)
NOW = datetime(2026, 11, 29, 23, 0, tzinfo=ZONE)
USCC = "53100000500019795A"
# package table -> the database table its rows become
TABLE_OF = {
    "departments": "departments", "districts": "districts", "organizations": "organizations", "experts": "experts", "catalog": "catalog_items",
    "budgets": "budgets", "calls": "calls", "projects": "projects", "milestones": "milestones",
    "disbursements": "disbursements", "progress": "progress_updates", "inspections": "inspections",
    "members": "identities", "survey_responses": "survey_answers",
}
ALL_TABLES = (*TABLE_OF.values(), "qualifications", "call_items", "survey_responses", "audit_log")


# --- helpers ------------------------------------------------------------------------------------


async def load(engine: AsyncEngine, path: Path, **kwargs: object) -> ImportResult:
    return await import_package(engine, path, zone=ZONE, now=NOW, **kwargs)  # type: ignore[arg-type]


async def errors_of(engine: AsyncEngine, path: Path) -> list[str]:
    with pytest.raises(ImportFailed) as failed:
        await load(engine, path)
    return [str(error) for error in failed.value.errors]


async def dump(engine: AsyncEngine, tables: tuple[str, ...] = ALL_TABLES) -> dict[str, list[tuple[object, ...]]]:
    async with engine.connect() as conn:
        return {t: [tuple(r) for r in await conn.exec_driver_sql(f"SELECT * FROM {t} ORDER BY 1, 2")]
                for t in tables}


async def count(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as conn:
        return (await conn.exec_driver_sql(f"SELECT count(*) FROM {table}")).scalar_one()


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def project(**cells: str) -> str:
    """projects.csv with one project, P-1, with ``cells`` changed (None drops a column)."""
    row = {
        "code": "P-1", "year": "2026", "title_zh": "阳光助老", "title_en": "Sunshine", "catalog_code": "YL-01",
        "uscc": USCC, "department_code": "MZ", "amount_cny": "300000", "status": "in_progress",
        "start_on": "2026-03-01", "end_on": "2027-02-28", "grade": "", "evaluation_score": "",
    }
    row.update(cells)
    row = {k: v for k, v in row.items() if v is not None}
    return ",".join(row) + "\n" + ",".join(row.values()) + "\n"


BASE = {
    "departments.csv": "code,name_zh\nMZ,民政局\n",
    "organizations.csv": f"uscc,name_zh,kind,qualified_years\n{USCC},中国社会福利基金会,foundation,2026\n",
    "catalog.csv": "year,code,level1_zh,name_zh,department_code,ceiling_cny\n2026,YL-01,养老服务,居家养老,MZ,300000\n",
    "projects.csv": project(),
}


def package(folder: Path, files: dict[str, str | None], base: bool = True) -> Path:
    """A package folder: the small valid BASE (unless ``base`` is false) with ``files`` over it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in {**(BASE if base else {}), **files}.items():
        if text is not None:
            (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    write_demo_package(folder, TODAY)
    return folder


@pytest.fixture
async def sqlite_engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(sqlite_url)
    yield engine
    await engine.dispose()


# --- round trip, idempotency, updates (both databases) ----------------------------------------


async def test_demo_package_round_trip(engine: AsyncEngine, demo_dir: Path) -> None:
    seen: list[tuple[str, int]] = []
    result = await load(engine, demo_dir, progress=lambda label, rows: seen.append((label, rows)))

    files = {p.stem: read_csv(p) for p in demo_dir.glob("*.csv")}
    assert set(result.counts) == set(files)
    for name, rows in files.items():
        assert (result.counts[name].inserted, result.counts[name].rows) == (len(rows), len(rows)), name
        assert await count(engine, TABLE_OF[name]) == len(rows), name
    assert await count(engine, "survey_responses") == len({r["response_id"] for r in files["survey_responses"]})
    assert ("projects.csv", len(files["projects"])) in seen

    first = files["projects"][0]
    milestone = files["milestones"][0]
    org = files["organizations"][0]
    call = files["calls"][0]
    answer = files["survey_responses"][0]
    choice = next(r for r in files["survey_responses"] if r["item"] == "age_group")
    async with engine.connect() as conn:
        amount = (await conn.execute(select(m.Project.amount_fen).where(m.Project.code == first["code"]))).scalar()
        assert amount == round(float(first["amount_cny"]) * 100)
        due = (await conn.execute(
            select(m.Milestone.due_at).join(m.Project).where(m.Project.code == milestone["project_code"],
                                                              m.Milestone.kind == milestone["kind"])
        )).scalar_one()
        assert due.tzinfo is not None and due == datetime.fromisoformat(milestone["due_at"])
        years = (await conn.execute(
            select(m.Qualification.year).join(m.Organization).where(m.Organization.uscc == org["uscc"])
        )).scalars().all()
        assert sorted(years) == sorted(int(y) for y in org["qualified_years"].split(";"))
        codes = (await conn.execute(
            select(m.CatalogItem.code).join(m.CallItem).join(m.Call).where(m.Call.code == call["code"])
        )).scalars().all()
        assert sorted(codes) == sorted(call["catalog_codes"].split(";"))
        stored = (await conn.execute(
            select(m.SurveyAnswer.item, m.SurveyAnswer.value_int, m.SurveyAnswer.value_text)
            .join(m.SurveyResponse).where(m.SurveyResponse.response_key.in_([answer["response_id"],
                                                                               choice["response_id"]]))
        )).all()
        assert (answer["item"], int(answer["value"]), None) in stored
        assert ("age_group", None, choice["value"]) in stored


async def test_importing_the_same_package_again_changes_nothing(engine: AsyncEngine, demo_dir: Path) -> None:
    await load(engine, demo_dir)
    before = await dump(engine)

    again = await load(engine, demo_dir)

    assert all(c.inserted == c.updated == 0 and c.unchanged == c.rows for c in again.counts.values())
    assert await dump(engine) == before  # audit_log included: no entries for a re-import without changes


async def test_an_update_is_applied_audited_and_an_empty_cell_clears(
    engine: AsyncEngine, demo_dir: Path, tmp_path: Path
) -> None:
    await load(engine, demo_dir)
    audit_before = await count(engine, "audit_log")
    changed = tmp_path / "changed"
    shutil.copytree(demo_dir, changed)
    rows = read_csv(changed / "projects.csv")
    target = rows[0]
    old_fen, old_title = round(float(target["amount_cny"]) * 100), target["title_en"]
    target["amount_cny"] = f"{old_fen // 100 + 1000}.50"
    target["title_en"] = ""
    write_csv(changed / "projects.csv", rows)

    result = await load(engine, changed)

    counts = result.counts["projects"]
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 1, len(rows) - 1)
    async with engine.connect() as conn:
        stored = (await conn.execute(
            select(m.Project.amount_fen, m.Project.title_en).where(m.Project.code == target["code"])
        )).one()
        assert tuple(stored) == (old_fen + 100_050, None)
        entries = (await conn.execute(
            select(m.AuditEntry.action, m.AuditEntry.entity, m.AuditEntry.entity_key, m.AuditEntry.detail)
            .order_by(m.AuditEntry.id).offset(audit_before)
        )).all()
    assert [(a, e, k) for a, e, k, _ in entries] == [
        ("import.update", "projects", target["code"]), ("import", "projects", "projects.csv"),
    ]
    assert entries[0].detail["changes"] == {"amount_fen": [old_fen, old_fen + 100_050], "title_en": [old_title, None]}
    assert entries[1].detail == {"file": "projects.csv", "inserted": 0, "updated": 1, "unchanged": len(rows) - 1}


async def test_a_failed_import_writes_nothing(engine: AsyncEngine, tmp_path: Path) -> None:
    await load(engine, package(tmp_path / "base", {}))
    before = await dump(engine)
    # valid departments, organizations and projects come first and would be written in a streaming
    # import; the error is in the last file
    bad = package(tmp_path / "bad", {
        "departments.csv": "code,name_zh\nMZ,民政局\nCL,残联\n",
        "projects.csv": project(code="P-2"),
        "milestones.csv": "project_code,kind,due_at\nP-2,contract_signing,someday\n",
    })

    assert await errors_of(engine, bad) == [f"milestones.csv:2: due_at: someday: {DATETIME_REASON}"]
    assert await dump(engine) == before


# --- XLSX ---------------------------------------------------------------------------------------


def _native(column: str, value: str) -> object:
    """A demo cell as a spreadsheet would hold it natively."""
    if value == "":
        return None
    if column.endswith("_on"):
        return date.fromisoformat(value)
    if column.endswith("_at"):
        return datetime.fromisoformat(value).astimezone(ZONE).replace(tzinfo=None)
    if column in ("year", "recipients", "installment", "score", "evaluation_score", "max_months", "external_id"):
        return int(value)
    if column in ("amount_cny", "ceiling_cny"):
        return float(value)
    if column in ("brand", "public"):
        return value == "1"
    if column == "value" and value.isdigit():
        return int(value)
    return value


def build_workbook(folder: Path, target: Path) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for path in sorted(folder.glob("*.csv")):
        sheet = book.create_sheet(path.stem)
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            sheet.append(header)
            for row in reader:
                sheet.append([_native(c, v) for c, v in zip(header, row, strict=True)])
    book.save(target)
    return target


async def test_an_xlsx_workbook_imports_the_same_values(sqlite_engine: AsyncEngine, demo_dir: Path,
                                                        tmp_path: Path) -> None:
    workbook = build_workbook(demo_dir, tmp_path / "demo.xlsx")

    from_xlsx = await load(sqlite_engine, workbook)
    from_csv = await load(sqlite_engine, demo_dir)

    assert {k: c.inserted for k, c in from_xlsx.counts.items()} == {k: c.rows for k, c in from_csv.counts.items()}
    # every value read from native cells equals the one read from text
    assert all(c.unchanged == c.rows for c in from_csv.counts.values())


async def test_xlsx_errors_name_the_sheet(sqlite_engine: AsyncEngine, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "departments"
    sheet.append(["code", "name_zh"])
    sheet.append(["MZ", None])
    book.create_sheet("Sheet2")
    book.save(tmp_path / "pkg.xlsx")

    assert await errors_of(sqlite_engine, tmp_path / "pkg.xlsx") == [
        "pkg.xlsx[Sheet2]:1: : : unknown sheet (expected one of: departments, districts, organizations, experts, catalog,"
        " budgets, calls, projects, milestones, disbursements, progress, inspections, members, survey_responses)",
        "pkg.xlsx[departments]:2: name_zh: : required",
    ]


# --- errors: one per class, each with its exact line ---------------------------------------------

MILESTONE = "project_code,kind,due_at,done_at\n"
ERRORS: dict[str, tuple[dict[str, str | None], list[str]]] = {
    "uscc checksum": (
        {"organizations.csv": "uscc,name_zh,kind\n53100000500019795B,基金会,foundation\n", "projects.csv": None},
        ["organizations.csv:2: uscc: 53100000500019795B: check character should be 'A'"],
    ),
    "unknown enum value": (
        {"organizations.csv": f"uscc,name_zh,kind\n{USCC},基金会,charity\n"},
        ["organizations.csv:2: kind: charity: unknown value (expected one of: social_group, social_service_org,"
         " foundation, enterprise, public_institution, other)"],
    ),
    "amount with a unit": (
        {"projects.csv": project(amount_cny="58万")},
        ["projects.csv:2: amount_cny: 58万: not a plain amount in yuan (no units or separators, at most 2 decimals)"],
    ),
    "amount with 3 decimals": (
        {"projects.csv": project(amount_cny="300000.125")},
        ["projects.csv:2: amount_cny: 300000.125: more than 2 decimals (amounts are in yuan, to the fen)"],
    ),
    "negative amount": (
        {"projects.csv": project(amount_cny="-1")},
        ["projects.csv:2: amount_cny: -1: must not be negative"],
    ),
    "bad date": (
        {"projects.csv": project(start_on="2026-02-30", end_on="2026/12/31")},
        ["projects.csv:2: start_on: 2026-02-30: not a valid date (expected YYYY-MM-DD)",
         "projects.csv:2: end_on: 2026/12/31: not a valid date (expected YYYY-MM-DD)"],
    ),
    "bad date-time": (
        {"milestones.csv": MILESTONE + "P-1,contract_signing,2026-03-01 9am,\n"},
        [f"milestones.csv:2: due_at: 2026-03-01 9am: {DATETIME_REASON}"],
    ),
    "missing required column": (
        {"projects.csv": project(status=None)},
        ["projects.csv:1: status: : missing required column"],
    ),
    "unknown column": (
        {"projects.csv": project(colour="red")},
        ["projects.csv:1: colour: : unknown column"],
    ),
    "district without its Chinese name, and twice": (
        {"districts.csv": "name_zh,name_en\n东城区,Dongcheng District\n,Xicheng District\n东城区,Dongcheng\n"},
        ["districts.csv:3: name_zh: : required", "districts.csv:4: name_zh: 东城区: duplicate key (first on line 2)"],
    ),
    "unknown file": (
        {"notes.csv": "text\nhello\n"},
        ["notes.csv:1: : : unknown file (expected one of: departments.csv, districts.csv, organizations.csv,"
         " experts.csv, catalog.csv, budgets.csv, calls.csv, projects.csv, milestones.csv, disbursements.csv, progress.csv,"
         " inspections.csv, members.csv, survey_responses.csv)"],
    ),
    "reference to a project the package does not have": (
        {"milestones.csv": MILESTONE + "P-9,contract_signing,2026-03-01T09:00,\n"},
        ["milestones.csv:2: project_code: P-9: no such project in the package or the database"],
    ),
    "catalog item of another year": (
        {"calls.csv": "code,year,title_zh,opens_at,closes_at,catalog_codes\nC-1,2027,指南,2026-11-01,2026-12-01,YL-01\n"},
        ["calls.csv:2: catalog_codes: YL-01: 'YL-01' is not a catalog item of 2027 in the package or the database"],
    ),
    "member bound to an unknown department": (
        {"members.csv": "channel,external_id,role,ref\ntelegram,42,staff,XX\n"},
        ["members.csv:2: ref: XX: no such department in the package or the database"],
    ),
    "duplicate key": (
        {"milestones.csv": MILESTONE + "P-1,contract_signing,2026-03-01T09:00,\nP-1,midterm_report,2026-09-01,\n"
                                       "P-1,contract_signing,2026-03-02T09:00,\n"},
        ["milestones.csv:4: project_code, kind: P-1, contract_signing: duplicate key (first on line 2)"],
    ),
    "disbursements over the approved amount": (
        {"disbursements.csv": "project_code,installment,amount_cny,paid_on\n"
                              "P-1,1,200000,2026-03-10\nP-1,2,150000,2026-09-10\nP-1,3,0,2026-12-10\n"},
        ["disbursements.csv:3: amount_cny: 150000: disbursements total 350000.00 exceeds the approved amount"
         " 300000.00"],
    ),
    "installments with a gap": (
        {"disbursements.csv": "project_code,installment,amount_cny,paid_on\nP-1,1,1000,2026-03-10\n"
                              "P-1,3,1000,2026-09-10\n"},
        ["disbursements.csv:3: installment: 3: installments must be numbered 1, 2, … without gaps (missing 2)"],
    ),
    "grade against score": (
        {"projects.csv": project(grade="excellent", evaluation_score="85")},
        ["projects.csv:2: grade: excellent: grade 'excellent' disagrees with evaluation score 85 (good)"],
    ),
    "done in the future": (
        {"milestones.csv": MILESTONE + "P-1,contract_signing,2026-03-01T09:00,2026-11-30T10:00\n"},
        ["milestones.csv:2: done_at: 2026-11-30T10:00: in the future"],
    ),
    "end before start": (
        {"projects.csv": project(start_on="2026-03-01", end_on="2026-02-28")},
        ["projects.csv:2: end_on: 2026-02-28: end_on is before start_on"],
    ),
    "call closing before it opens": (
        {"calls.csv": "code,year,title_zh,opens_at,closes_at,catalog_codes\n"
                      "C-1,2026,指南,2026-03-01T09:00,2026-03-01T09:00+08:00,YL-01\n"},
        ["calls.csv:2: closes_at: 2026-03-01T09:00+08:00: closes_at must be after opens_at"],
    ),
    "answers of one response that disagree": (
        {"survey_responses.csv": "response_id,project_code,submitted_on,item,value\n"
                                 "R1,P-1,2026-06-01,overall,5\nR1,P-1,2026-06-02,skill,4\n"},
        ["survey_responses.csv:3: submitted_on: 2026-06-02: differs from line 2 of response R1 (2026-06-01)"],
    ),
    "answer out of range": (
        {"survey_responses.csv": "response_id,project_code,submitted_on,item,value\nR1,P-1,2026-06-01,overall,7\n"},
        ["survey_responses.csv:2: value: 7: must be between 1 and 5 for item overall"],
    ),
}


@pytest.mark.parametrize("case", list(ERRORS))
async def test_each_error_names_its_line(sqlite_engine: AsyncEngine, tmp_path: Path, case: str) -> None:
    files, expected = ERRORS[case]

    assert await errors_of(sqlite_engine, package(tmp_path / "pkg", files)) == expected
    assert await count(sqlite_engine, "departments") == 0


async def test_every_error_of_every_file_is_reported_in_one_run(engine: AsyncEngine, tmp_path: Path) -> None:
    path = package(tmp_path / "pkg", {
        "organizations.csv": f"uscc,name_zh,kind\n{USCC},基金会,foundation\n51310110501144395X,联合会,social_group\n",
        "projects.csv": project(start_on="2026-13-01", recipients="-3"),
        "milestones.csv": MILESTONE + "P-9,contract_signing,2026-03-01T09:00,\n",
        "survey_responses.csv": "response_id,project_code,submitted_on,item,value\nR1,P-1,2026-06-01,mood,5\n",
    })

    assert await errors_of(engine, path) == [
        "organizations.csv:3: uscc: 51310110501144395X: check character should be 'U'",
        "projects.csv:2: start_on: 2026-13-01: not a valid date (expected YYYY-MM-DD)",
        "projects.csv:2: recipients: -3: must be at least 0",
        "milestones.csv:2: project_code: P-9: no such project in the package or the database",
        "survey_responses.csv:2: item: mood: unknown value (expected one of: needs_met, attitude, skill, convenience,"
        " helpfulness, responsiveness, overall, recommend, suggestion, age_group, sessions, what_went_wrong)",
    ]
    assert await count(engine, "organizations") == 0


# --- references and rules against what is already stored ---------------------------------------


async def test_a_reference_may_be_satisfied_by_the_database_alone(sqlite_engine: AsyncEngine, tmp_path: Path) -> None:
    await load(sqlite_engine, package(tmp_path / "base", {}))
    only_milestones = package(tmp_path / "more", {"milestones.csv": MILESTONE + "P-1,contract_signing,2026-03-01,\n"},
                              base=False)

    result = await load(sqlite_engine, only_milestones)

    assert result.counts["milestones"].inserted == 1
    async with sqlite_engine.connect() as conn:
        due = (await conn.execute(select(m.Milestone.due_at))).scalar_one()
    # a bare date means the end of that day, local time
    assert due == datetime(2026, 3, 1, 23, 59, 59, tzinfo=ZONE).astimezone(UTC)


async def test_a_reference_in_neither_the_package_nor_the_database_is_an_error(
    sqlite_engine: AsyncEngine, tmp_path: Path
) -> None:
    path = package(tmp_path / "pkg", {"milestones.csv": MILESTONE + "P-1,contract_signing,2026-03-01,\n"}, base=False)

    assert await errors_of(sqlite_engine, path) == [
        "milestones.csv:2: project_code: P-1: no such project in the package or the database",
    ]


DISBURSED = "project_code,installment,amount_cny,paid_on\nP-1,1,200000,2026-03-10\n"


@pytest.mark.parametrize(("files", "expected"), [
    ({"disbursements.csv": "project_code,installment,amount_cny,paid_on\nP-1,2,150000,2026-09-10\n"},
     "disbursements.csv:2: amount_cny: 150000: disbursements total 350000.00 exceeds the approved amount 300000.00"),
    ({"projects.csv": project(amount_cny="100000")},
     "projects.csv:2: amount_cny: 100000: disbursements total 200000.00 exceeds the approved amount 100000.00"),
    ({"disbursements.csv": "project_code,installment,amount_cny,paid_on\nP-1,3,1000,2026-09-10\n"},
     "disbursements.csv:2: installment: 3: installments must be numbered 1, 2, … without gaps (missing 2)"),
], ids=["new installment", "lowered approval", "gap after a stored installment"])
async def test_rules_across_rows_count_what_is_stored(
    sqlite_engine: AsyncEngine, tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    await load(sqlite_engine, package(tmp_path / "base", {"disbursements.csv": DISBURSED}))

    assert await errors_of(sqlite_engine, package(tmp_path / "next", files, base=False)) == [expected]


async def test_list_columns_are_replaced_as_sets_and_audited(sqlite_engine: AsyncEngine, tmp_path: Path) -> None:
    call = "code,year,title_zh,opens_at,closes_at,catalog_codes\nC-1,2026,指南,2026-01-01,2026-02-01,{}\n"
    catalog = BASE["catalog.csv"] + "2026,YL-02,养老服务,老年助餐,MZ,\n"
    await load(sqlite_engine, package(tmp_path / "a", {"catalog.csv": catalog, "calls.csv": call.format("YL-01")}))
    path = package(tmp_path / "b", {
        "organizations.csv": f"uscc,name_zh,kind,qualified_years\n{USCC},中国社会福利基金会,foundation,2027;2025\n",
        "calls.csv": call.format("YL-02;YL-01"),
    }, base=False)

    result = await load(sqlite_engine, path)
    again = await load(sqlite_engine, path)

    assert (result.counts["organizations"].updated, result.counts["calls"].updated) == (1, 1)
    assert all(c.unchanged == c.rows for c in again.counts.values())
    async with sqlite_engine.connect() as conn:
        years = (await conn.execute(select(m.Qualification.year))).scalars().all()
        items = (await conn.execute(select(m.CatalogItem.code).join(m.CallItem))).scalars().all()
        changes = (await conn.execute(
            select(m.AuditEntry.detail).where(m.AuditEntry.action == "import.update").order_by(m.AuditEntry.id)
        )).scalars().all()
    assert (sorted(years), sorted(items)) == ([2025, 2027], ["YL-01", "YL-02"])
    assert [c["changes"] for c in changes] == [
        {"qualified_years": [[2026], [2025, 2027]]}, {"catalog_codes": [["YL-01"], ["YL-01", "YL-02"]]},
    ]


async def test_statuses_are_taken_as_given_and_members_are_bound(sqlite_engine: AsyncEngine, tmp_path: Path) -> None:
    staff = "channel,external_id,role,ref,locale\ntelegram,42,staff,MZ,zh-Hans\n"
    await load(sqlite_engine, package(tmp_path / "a", {"members.csv": staff}))
    # any status may follow any other in an import: lifecycle rules govern chat, not staff data
    path = package(tmp_path / "b", {
        "projects.csv": project(status="closed", grade="pass", evaluation_score="60"),
        "members.csv": f"channel,external_id,role,ref,locale\ntelegram,42,org,{USCC},zh-Hant\n",
    })

    result = await import_package(sqlite_engine, path, zone=ZONE, now=datetime(2026, 12, 5, tzinfo=UTC))

    assert (result.counts["projects"].updated, result.counts["members"].updated) == (1, 1)
    async with sqlite_engine.connect() as conn:
        status = (await conn.execute(select(m.Project.status))).scalar_one()
        identity = (await conn.execute(select(
            m.Identity.role, m.Identity.department_id, m.Identity.organization_id, m.Identity.locale,
            m.Identity.created_at,
        ))).one()
        org_id = (await conn.execute(select(m.Organization.id))).scalar_one()
    assert status == "closed"
    # the binding is replaced whole; the identity keeps the moment it was first created
    assert tuple(identity) == ("org", None, org_id, "zh-Hant", NOW.astimezone(UTC))


async def test_csv_as_excel_writes_it(sqlite_engine: AsyncEngine, tmp_path: Path) -> None:
    folder = tmp_path / "pkg"
    folder.mkdir()
    # a byte-order mark, CRLF line ends, padded cells and a blank line
    (folder / "departments.csv").write_bytes("\ufeffcode,name_zh\r\n MZ , 民政局 \r\n\r\nCL,残联\r\n".encode())
    (folder / "experts.csv").write_bytes("code,name,field\r\nE-1,王立平,law\r\n".encode("gbk"))

    assert await errors_of(sqlite_engine, folder) == [
        'experts.csv:2: : : not UTF-8 text (save the file as "CSV UTF-8")',
    ]
    (folder / "experts.csv").unlink()
    result = await load(sqlite_engine, folder)

    assert result.counts["departments"].inserted == 2
    async with sqlite_engine.connect() as conn:
        assert (await conn.execute(select(m.Department.name_zh).where(m.Department.code == "MZ"))).scalar() == "民政局"
