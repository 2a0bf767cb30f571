"""The table specs (store.importing.tables), the file loader and the cross-row rules, table by table:
the specs against a recording context, the loader and rules with one or a few small files on each database."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from store.importer import ImportFailed, ImportResult, import_package
from store.importing import tables as t
from store.importing.values import DATE_REASON

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
USCC = "53100000500019795A"
USCC2 = "51310110501144395U"


# --- the specs, against a context that records what they report -------------------------------------


@dataclass
class Ctx:
    """A ``tables.Context`` for one row: which columns its file carries and the cells as read."""

    cells: dict[str, object] = field(default_factory=dict)
    refs: dict[str, dict[Any, int | None]] = field(default_factory=dict)
    now: datetime = NOW
    now_native: Any = NOW
    responses: dict[str, tuple[str, Any, int]] = field(default_factory=dict)
    project_amounts: dict[str, tuple[int, int, object]] = field(default_factory=dict)
    disbursements: dict[str, list[tuple[int, int, int, object]]] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)
    at_line: int = 2

    def error(self, column: str, reason: str) -> None:
        self.errors.append((column, reason))

    def line(self) -> int:
        return self.at_line

    def cell(self, column: str) -> object:
        return self.cells.get(column)

    def carries(self, column: str) -> bool:
        return column in self.cells


def test_dedup_key_is_the_natural_key_unless_a_part_is_missing() -> None:
    departments, catalog = t.Departments(), t.Catalog()
    assert departments.dedup_key({"code": "MZ", "name_zh": "x"}) == "MZ"
    assert departments.dedup_key({"code": None}) is None
    assert departments.dedup_key({"name_zh": "x"}) is None  # the key cell did not parse
    assert catalog.dedup_key({"year": 2026, "code": "A01"}) == (2026, "A01")
    assert catalog.dedup_key({"year": 2026, "code": None}) is None
    assert catalog.dedup_key({"code": "A01"}) is None
    assert catalog.entity_key((2026, "A01")) == "2026/A01"
    assert departments.entity_key("MZ") == "MZ"
    assert len(departments.entity_key("x" * 300)) == 200


def test_progress_is_keyed_by_the_digest_of_its_text() -> None:
    progress = t.Progress()
    row: dict[str, Any] = {"project_code": "P-1", "reported_on": "2026-03-01", "text_zh": "首批服务"}
    key = progress.dedup_key(row)
    digest = t.text_digest("首批服务")
    assert len(digest) == 64 and row["text_digest"] == digest
    assert key == ("P-1", "2026-03-01", digest)
    assert progress.dedup_key({"project_code": "P-1", "reported_on": "2026-03-01", "text_zh": "首批服务 "}) != key
    assert progress.dedup_key({"project_code": "P-1", "reported_on": "2026-03-01"}) is None
    assert progress.entity_key(key) == f"P-1/2026-03-01/{digest[:16]}"


def test_references_resolve_to_ids_or_to_none_for_rows_only_in_the_package() -> None:
    catalog = t.Catalog()
    ctx = Ctx(refs={"departments": {"MZ": 7, "CL": None}})
    row: dict[str, Any] = {"department_code": "MZ", "ceiling_cny": 5000}
    assert catalog.convert(ctx, row) and (row["department_id"], row["ceiling_fen"]) == (7, 5000)
    row = {"department_code": "CL", "ceiling_cny": None}
    assert catalog.convert(ctx, row) and row["department_id"] is None
    assert not catalog.convert(ctx, {"department_code": "XX"})
    assert ctx.errors == [("department_code", "no such department in the package or the database")]


def test_a_call_lists_catalog_items_of_its_own_year() -> None:
    calls = t.Calls()
    ctx = Ctx(refs={"catalog": {(2026, "A01"): 1, (2026, "A02"): None, (2025, "A03"): 3}})
    row: dict[str, Any] = {"year": 2026, "catalog_codes": ("A02", "A01")}
    assert calls.convert(ctx, row)
    assert row[t.CHILDREN] == (frozenset({"A01", "A02"}), (None, 1))
    assert not calls.convert(ctx, {"year": 2026, "catalog_codes": ("A01", "A03")})
    assert ctx.errors == [("catalog_codes", "'A03' is not a catalog item of 2026 in the package or the database")]


def test_a_call_closes_after_it_opens() -> None:
    calls = t.Calls()
    ctx = Ctx(cells={"opens_at": "x", "closes_at": "y"})
    calls.check(ctx, {"opens_at": NOW, "closes_at": NOW.replace(hour=3)})
    calls.check(ctx, {"opens_at": NOW, "closes_at": NOW})
    only_opens = Ctx(cells={"opens_at": "x"})  # a re-import carrying only opens_at, past the stored closing
    calls.check(only_opens, {"opens_at": NOW.replace(hour=3), "closes_at": NOW})
    calls.check(only_opens, {"opens_at": None, "closes_at": NOW})
    assert ctx.errors == [("closes_at", "closes_at must be after opens_at")]
    assert only_opens.errors == [("opens_at", "closes_at must be after opens_at")]


def test_a_project_resolves_its_three_references_and_notes_its_amount() -> None:
    projects = t.Projects()
    ctx = Ctx(cells={"amount_cny": "300000"}, at_line=5, refs={
        "catalog": {(2026, "A01"): 1}, "organizations": {USCC: 2}, "departments": {"MZ": 3}})
    row: dict[str, Any] = {"code": "P-1", "year": 2026, "catalog_code": "A01", "uscc": USCC, "department_code": "MZ",
                           "amount_cny": 30_000_000}
    assert projects.convert(ctx, row)
    assert (row["catalog_item_id"], row["organization_id"], row["department_id"], row["amount_fen"]) == (1, 2, 3, 30_000_000)
    assert ctx.project_amounts == {"P-1": (30_000_000, 5, "300000")}
    bad: dict[str, Any] = {**row, "year": 2025, "uscc": USCC2, "department_code": "CL"}
    assert not projects.convert(ctx, bad)
    assert ctx.errors == [
        ("catalog_code", "no such catalog item of 2025 in the package or the database"),
        ("uscc", "no such organization in the package or the database"),
        ("department_code", "no such department in the package or the database"),
    ]


@pytest.mark.parametrize(("grade", "score", "error"), [
    ("excellent", 90, None), ("excellent", 89, "grade 'excellent' disagrees with evaluation score 89 (good)"),
    ("good", 90, "grade 'good' disagrees with evaluation score 90 (excellent)"), ("good", 80, None),
    ("pass", 79, None), ("pass", 60, None), ("fail", 59, None), ("fail", 0, None), ("excellent", 100, None),
    ("pass", 59, "grade 'pass' disagrees with evaluation score 59 (fail)"), ("good", None, None), (None, 10, None),
])
def test_a_project_grade_agrees_with_its_score(grade: str | None, score: int | None, error: str | None) -> None:
    ctx = Ctx(cells={"grade": grade, "evaluation_score": score})
    t.Projects().check(ctx, {"start_on": date(2026, 1, 1), "end_on": date(2026, 1, 1), "grade": grade,
                             "evaluation_score": score})
    assert ctx.errors == ([] if error is None else [("grade", error)])


def test_a_project_check_names_the_column_the_file_carries() -> None:
    only_score = Ctx(cells={"evaluation_score": 95})
    t.Projects().check(only_score, {"start_on": date(2026, 3, 1), "end_on": date(2026, 2, 28), "grade": "good",
                                    "evaluation_score": 95})
    assert only_score.errors == [("start_on", "end_on is before start_on"),
                                 ("evaluation_score", "grade 'good' disagrees with evaluation score 95 (excellent)")]
    both = Ctx(cells={"start_on": 1, "end_on": 1})
    t.Projects().check(both, {"start_on": date(2026, 3, 1), "end_on": date(2026, 2, 28), "grade": None,
                              "evaluation_score": None})
    assert both.errors == [("end_on", "end_on is before start_on")]


def test_rows_of_a_project_need_the_project_and_a_milestone_is_not_done_in_the_future() -> None:
    ctx = Ctx(refs={"projects": {"P-1": 4, "P-2": None}})
    milestones = t.Milestones()
    row: dict[str, Any] = {"project_code": "P-1", "done_at": NOW}
    assert milestones.convert(ctx, row) and row["project_id"] == 4
    assert milestones.convert(ctx, {"project_code": "P-2", "done_at": None})
    assert not milestones.convert(ctx, {"project_code": "P-1", "done_at": NOW.replace(hour=3)})
    assert not t.Inspections().convert(ctx, {"project_code": "P-9"})
    assert ctx.errors == [("done_at", "in the future"), ("project_code", "no such project in the package or the database")]


def test_disbursements_are_collected_for_the_rules_across_rows() -> None:
    ctx = Ctx(cells={"amount_cny": "100.5"}, refs={"projects": {"P-1": 4}}, at_line=3)
    row: dict[str, Any] = {"project_code": "P-1", "installment": 2, "amount_cny": 10050}
    assert t.Disbursements().convert(ctx, row) and row["amount_fen"] == 10050
    assert not t.Disbursements().convert(ctx, {"project_code": "P-9", "installment": 1, "amount_cny": 1})
    assert ctx.disbursements == {"P-1": [(2, 10050, 3, "100.5")]}


def test_a_member_binds_one_role() -> None:
    members = t.Members()
    ctx = Ctx(refs={"departments": {"MZ": 1}, "organizations": {USCC: 2}, "experts": {"E1": 3}})
    row: dict[str, Any] = {"channel": "telegram", "external_id": "12345", "role": "org", "ref": USCC}
    assert members.convert(ctx, row)
    assert (row["department_id"], row["organization_id"], row["expert_id"]) == (None, 2, None)
    row = {"channel": "web", "external_id": "abc", "role": "expert", "ref": "E1"}
    assert members.convert(ctx, row) and row["expert_id"] == 3
    assert not members.convert(ctx, {"channel": "telegram", "external_id": "@alice", "role": "staff", "ref": "MZ"})
    assert not members.convert(ctx, {"channel": "console", "external_id": "x", "role": "staff", "ref": "CL"})
    assert ctx.errors == [("external_id", "not a Telegram user id (expected digits)"),
                          ("ref", "no such department in the package or the database")]
    assert members.extra(ctx, row) == (NOW, False)


def test_survey_answers_are_parsed_by_their_item_and_agree_within_a_response() -> None:
    spec = t.SurveyResponses()
    ctx = Ctx(refs={"projects": {"P-1": 4, "P-2": 5}})
    overall: dict[str, Any] = {"response_id": "R1", "project_code": "P-1", "submitted_on": "2026-03-01",
                               "item": "overall", "value": "5"}
    assert spec.convert(ctx, overall) and (overall["value_int"], overall["value_text"]) == (5, None)
    text: dict[str, Any] = {**overall, "item": "suggestion", "value": "多一些活动"}
    ctx.at_line = 3
    assert spec.convert(ctx, text) and (text["value_int"], text["value_text"]) == (None, "多一些活动")
    assert not spec.convert(ctx, {**overall, "item": "recommend", "value": "11"})
    assert not spec.convert(ctx, {**overall, "item": "age_group", "value": "old"})
    assert not spec.convert(ctx, {**overall, "project_code": "P-2"})
    assert not spec.convert(ctx, {**overall, "submitted_on": "2026-03-02"})
    assert ctx.responses == {"R1": ("P-1", "2026-03-01", 2)}
    assert ctx.errors == [
        ("value", "must be between 0 and 10 for item recommend"),
        ("value", "unknown value (expected one of: under_18, 18_59, 60_79, 80_plus) for item age_group"),
        ("project_code", "differs from line 2 of response R1 (P-1)"),
        ("submitted_on", "differs from line 2 of response R1 (2026-03-01)"),
    ]


def test_every_spec_names_real_columns() -> None:
    """Keys, fields and list columns name columns of the file; the specs are in dependency order."""
    seen: set[str] = set()
    for spec in t.SPECS:
        names = {c.name for c in spec.columns}
        assert set(spec.key) <= names | {"text_digest"}, spec.name
        assert {f.carried_by for f in spec.fields} <= names, spec.name
        assert spec.child is None or spec.child.source in names
        assert set(spec.needs) <= seen, spec.name
        if spec.provides:
            seen.add(spec.provides)


# --- the loader and the rules, on each database --------------------------------------------------


async def load(engine: AsyncEngine, folder: Path, files: dict[str, str]) -> ImportResult:
    folder.mkdir(exist_ok=True)
    for path in folder.iterdir():
        path.unlink()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return await import_package(engine, folder, zone=ZONE, now=NOW)


async def errors(engine: AsyncEngine, folder: Path, files: dict[str, str]) -> list[str]:
    with pytest.raises(ImportFailed) as failed:
        await load(engine, folder, files)
    return [str(e) for e in failed.value.errors]


async def rows(engine: AsyncEngine, sql: str) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(r) for r in await conn.exec_driver_sql(sql)]


async def audit(engine: AsyncEngine) -> list[tuple[str, str, str, dict[str, Any]]]:
    found = await rows(engine, "SELECT action, entity, entity_key, detail FROM audit_log ORDER BY id")
    return [(a, e, k, d if isinstance(d, dict) else json.loads(d)) for a, e, k, d in found]


def counts(result: ImportResult) -> dict[str, tuple[int, int, int]]:
    return {name: (c.inserted, c.updated, c.unchanged) for name, c in result.counts.items()}


async def test_one_table_into_an_empty_database_then_unchanged_then_updated(engine: AsyncEngine, tmp_path: Path) -> None:
    folder = tmp_path / "pkg"
    first = {"departments.csv": "code,name_zh,name_en\nMZ,民政局,\nCL,残联,Federation\n"}
    assert counts(await load(engine, folder, first)) == {"departments": (2, 0, 0)}
    assert await rows(engine, "SELECT code, name_zh, name_en FROM departments ORDER BY code") == [
        ("CL", "残联", "Federation"), ("MZ", "民政局", None)]
    assert await audit(engine) == [("import", "departments", "departments.csv",
                                    {"file": "departments.csv", "inserted": 2, "updated": 0, "unchanged": 0})]

    assert counts(await load(engine, folder, first)) == {"departments": (0, 0, 2)}
    assert len(await audit(engine)) == 1  # nothing changed, nothing audited

    # the file is the truth for the columns it carries: an empty cell clears (column order is free)
    second = {"departments.csv": "name_en,code,name_zh\nCivil Affairs,MZ,民政局\n,CL,残联\n"}
    assert counts(await load(engine, folder, second)) == {"departments": (0, 2, 0)}
    assert await rows(engine, "SELECT code, name_zh, name_en FROM departments ORDER BY code") == [
        ("CL", "残联", None), ("MZ", "民政局", "Civil Affairs")]
    assert (await audit(engine))[1:] == [
        ("import.update", "departments", "MZ", {"source": "departments.csv:2", "changes": {"name_en": [None, "Civil Affairs"]}}),
        ("import.update", "departments", "CL", {"source": "departments.csv:3", "changes": {"name_en": ["Federation", None]}}),
        ("import", "departments", "departments.csv", {"file": "departments.csv", "inserted": 0, "updated": 2, "unchanged": 0}),
    ]


async def test_the_file_s_own_errors(engine: AsyncEngine, tmp_path: Path) -> None:
    folder = tmp_path / "pkg"
    assert await errors(engine, folder, {
        "departments.csv": "code,nmae_zh,code,name_en,\nMZ,x,MZ,,\n",
    }) == [
        "departments.csv:1: nmae_zh: : unknown column",
        "departments.csv:1: code: : duplicate column",
        "departments.csv:1: name_zh: : missing required column",
    ]
    assert await errors(engine, folder, {
        "departments.csv": "code,name_zh\nMZ,民政局\n,残联\n\n,\nMZ,重复\nCL,残联,extra\nWJ," + "长" * 201 + "\n",
    }) == [
        "departments.csv:3: code: : required",
        "departments.csv:6: code: MZ: duplicate key (first on line 2)",  # the second occurrence; blank rows skipped
        "departments.csv:7: column 3: extra: a cell beyond the header",
        f"departments.csv:8: name_zh: {'长' * 79}…: longer than 200 characters",
    ]
    assert await rows(engine, "SELECT count(*) FROM departments") == [(0,)]


BASE = {
    "departments.csv": "code,name_zh\nMZ,民政局\n",
    "organizations.csv": f"uscc,name_zh,kind,qualified_years\n{USCC},福利基金会,foundation,2026;2025\n",
    "catalog.csv": "year,code,level1_zh,name_zh,department_code\n2026,A01,养老服务,居家养老,MZ\n",
    "projects.csv": "code,year,title_zh,catalog_code,uscc,department_code,amount_cny,status,start_on,end_on,brand\n"
                    f"P-1,2026,助老,A01,{USCC},MZ,200,in_progress,2026-03-01,2026-12-31,\n",
}


async def test_references_within_the_package_defaults_and_list_columns(engine: AsyncEngine, tmp_path: Path) -> None:
    folder = tmp_path / "pkg"
    result = await load(engine, folder, {
        **BASE,
        "calls.csv": "code,year,title_zh,opens_at,closes_at,catalog_codes,max_months\n"
                     "C-1,2026,征集,2026-03-01T09:00,2026-03-31,A01,\n",
        "progress.csv": "project_code,reported_on,text_zh,public\nP-1,2026-04-01,首批,\nP-1,2026-04-01,内部,0\n",
    })
    assert counts(result) == {"departments": (1, 0, 0), "organizations": (1, 0, 0), "catalog": (1, 0, 0),
                              "calls": (1, 0, 0), "projects": (1, 0, 0), "progress": (2, 0, 0)}
    # an empty cell of a column with a default is that default
    assert await rows(engine, "SELECT code, brand, amount_fen FROM projects") == [("P-1", False, 20000)]
    assert sorted(await rows(engine, "SELECT text_zh, public FROM progress_updates")) == [("内部", False), ("首批", True)]
    call = await rows(engine, "SELECT code, max_months, opens_at, closes_at FROM calls")
    assert [(c, n) for c, n, _, _ in call] == [("C-1", 12)]
    assert await rows(engine, "SELECT count(*) FROM call_items") == [(1,)]
    assert sorted(await rows(engine, "SELECT year FROM qualifications")) == [(2025,), (2026,)]

    # a list column is compared as a set: the same years in another order change nothing
    same = {"organizations.csv": f"uscc,name_zh,kind,qualified_years\n{USCC},福利基金会,foundation,2025;2026\n"}
    assert counts(await load(engine, folder, same)) == {"organizations": (0, 0, 1)}
    fewer = {"organizations.csv": f"uscc,name_zh,kind,qualified_years\n{USCC},福利基金会,foundation,2027\n"}
    assert counts(await load(engine, folder, fewer)) == {"organizations": (0, 1, 0)}
    assert await rows(engine, "SELECT year FROM qualifications") == [(2027,)]
    assert (await audit(engine))[-2] == ("import.update", "organizations", USCC, {
        "source": "organizations.csv:2", "changes": {"qualified_years": [[2025, 2026], [2027]]}})


async def test_rules_across_rows(engine: AsyncEngine, tmp_path: Path) -> None:
    folder = tmp_path / "pkg"
    assert await errors(engine, folder, {
        **BASE,
        "disbursements.csv": "project_code,installment,amount_cny,paid_on\n"
                             "P-1,1,100,2026-03-01\nP-1,3,50,2026-06-01\nP-1,4,60,2026-07-01\nP-1,5,1,2026-13-01\n",
    }) == [
        "disbursements.csv:3: installment: 3: installments must be numbered 1, 2, … without gaps (missing 2)",
        "disbursements.csv:4: amount_cny: 60: disbursements total 210.00 exceeds the approved amount 200.00",
        f"disbursements.csv:5: paid_on: 2026-13-01: {DATE_REASON}",
    ]
    await load(engine, folder, {**BASE, "disbursements.csv": "project_code,installment,amount_cny,paid_on\n"
                                                           "P-1,1,150,2026-03-01\n"})
    # stored payments count: a second installment of 60 goes past the approved 200
    assert await errors(engine, folder, {
        "disbursements.csv": "project_code,installment,amount_cny,paid_on\nP-1,2,60,2026-06-01\n",
    }) == ["disbursements.csv:2: amount_cny: 60: disbursements total 210.00 exceeds the approved amount 200.00"]
    # a package row replaces the stored one of its installment
    assert counts(await load(engine, folder, {
        "disbursements.csv": "project_code,installment,amount_cny,paid_on\nP-1,1,100,2026-03-01\nP-1,2,100,2026-06-01\n",
    })) == {"disbursements": (1, 1, 0)}
    # lowering the approved amount below what was paid is the project's error
    lowered = BASE["projects.csv"].replace(",200,", ",199.99,")
    assert await errors(engine, folder, {"projects.csv": lowered}) == [
        "projects.csv:2: amount_cny: 199.99: disbursements total 200.00 exceeds the approved amount 199.99"]
    assert await rows(engine, "SELECT installment, amount_fen FROM disbursements ORDER BY installment") == [
        (1, 10000), (2, 10000)]


async def test_survey_answers_and_members(engine: AsyncEngine, tmp_path: Path) -> None:
    folder = tmp_path / "pkg"
    heard: list[tuple[str, int]] = []
    survey = ("response_id,project_code,submitted_on,item,value\n"
              "R1,P-1,2026-05-01,overall,5\nR1,P-1,2026-05-01,suggestion,多一些活动\nR2,P-1,2026-05-02,overall,2\n")
    members = f"channel,external_id,role,ref,locale\ntelegram,1001,org,{USCC},zh-Hant\nweb,w-1,staff,MZ,\n"
    for name, text in {**BASE, "survey_responses.csv": survey, "members.csv": members}.items():
        folder.mkdir(exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    result = await import_package(engine, folder, zone=ZONE, now=NOW, progress=lambda f, n: heard.append((f, n)))
    assert counts(result)["survey_responses"] == (3, 0, 0) and counts(result)["members"] == (2, 0, 0)
    # each file is heard of once it is read, with its row count
    assert heard[-2:] == [("members.csv", 2), ("survey_responses.csv", 3)]
    assert await rows(engine, "SELECT response_key, submitted_on FROM survey_responses ORDER BY response_key") in (
        [("R1", date(2026, 5, 1)), ("R2", date(2026, 5, 2))], [("R1", "2026-05-01"), ("R2", "2026-05-02")])
    assert sorted(await rows(engine, "SELECT item, value_int, value_text FROM survey_answers")) == [
        ("overall", 2, None), ("overall", 5, None), ("suggestion", None, "多一些活动")]
    identities = await rows(engine, "SELECT channel, external_id, role, organization_id IS NOT NULL, department_id IS NOT NULL,"
                                    " locale, unreachable FROM identities ORDER BY channel")
    assert identities == [("telegram", "1001", "org", True, False, "zh-Hant", False),
                          ("web", "w-1", "staff", False, True, None, False)]

    # a changed answer and a moved response are updates, each audited; the rest is unchanged
    changed = survey.replace("overall,5", "overall,4").replace("R2,P-1,2026-05-02", "R2,P-1,2026-05-03")
    again = await load(engine, folder, {"survey_responses.csv": changed, "members.csv": members})
    assert counts(again) == {"members": (0, 0, 2), "survey_responses": (0, 2, 1)}
    updates = [(e, k, d["changes"]) for a, e, k, d in await audit(engine) if a == "import.update"]
    assert updates == [("survey_responses", "R2", {"submitted_on": ["2026-05-02", "2026-05-03"]}),
                       ("survey_answers", "R1/overall", {"value": [5, 4]})]
