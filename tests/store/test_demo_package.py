"""The demo and synthetic packages follow every rule of the import format (spec/import-format.md)."""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest

from store.demo import write_demo_package
from store.synth import write_synthetic_package
from store.uscc import validate_uscc

# Transcribed from import-format.md: file -> (required columns, optional columns, natural key).
SPEC: dict[str, tuple[set[str], set[str], tuple[str, ...]]] = {
    "departments.csv": ({"code", "name_zh"}, {"name_en"}, ("code",)),
    "districts.csv": ({"name_zh"}, {"name_en"}, ("name_zh",)),
    "catalog.csv": (
        {"year", "code", "level1_zh", "name_zh", "department_code"},
        {"level1_en", "name_en", "description_zh", "description_en", "ceiling_cny"},
        ("year", "code"),
    ),
    "organizations.csv": (
        {"uscc", "name_zh", "kind"}, {"name_en", "district", "rating", "qualified_years", "barred_until"}, ("uscc",),
    ),
    "budgets.csv": ({"year", "department_code", "amount_cny"}, {"note_zh", "note_en"}, ("year", "department_code")),
    "calls.csv": (
        {"code", "year", "title_zh", "opens_at", "closes_at", "catalog_codes"}, {"title_en", "max_months"}, ("code",),
    ),
    "projects.csv": (
        {"code", "year", "title_zh", "catalog_code", "uscc", "department_code", "amount_cny", "status",
         "start_on", "end_on"},
        {"title_en", "district", "recipients", "target_group_zh", "target_group_en", "summary_zh", "summary_en",
         "grade", "evaluation_score", "brand"},
        ("code",),
    ),
    "milestones.csv": ({"project_code", "kind", "due_at"}, {"done_at"}, ("project_code", "kind")),
    "disbursements.csv": (
        {"project_code", "installment", "amount_cny", "paid_on"}, set(), ("project_code", "installment"),
    ),
    "progress.csv": ({"project_code", "reported_on", "text_zh"}, {"text_en", "public"},
                     ("project_code", "reported_on", "text_zh")),
    "inspections.csv": (
        {"project_code", "kind", "held_on", "result"}, {"score", "summary_zh", "summary_en"},
        ("project_code", "kind", "held_on"),
    ),
    "experts.csv": ({"code", "name", "field"}, {"affiliation_uscc"}, ("code",)),
    "members.csv": ({"channel", "external_id", "role", "ref"}, {"display_name", "locale"}, ("channel", "external_id")),
    "survey_responses.csv": (
        {"response_id", "project_code", "submitted_on", "item", "value"}, set(), ("response_id", "item"),
    ),
}
ENUMS = {
    ("organizations.csv", "kind"): {"social_group", "social_service_org", "foundation", "enterprise",
                                    "public_institution", "other"},
    ("organizations.csv", "rating"): {"1A", "2A", "3A", "4A", "5A"},
    ("projects.csv", "status"): {"publicized", "contracted", "in_progress", "midterm_passed", "closing", "closed",
                                 "terminated"},
    ("projects.csv", "grade"): {"excellent", "good", "pass", "fail"},
    ("milestones.csv", "kind"): {"contract_signing", "midterm_report", "midterm_inspection", "final_report",
                                 "final_acceptance", "performance_evaluation"},
    ("inspections.csv", "kind"): {"midterm", "final", "evaluation"},
    ("inspections.csv", "result"): {"pass", "rectify", "fail"},
    ("experts.csv", "field"): {"business", "finance", "management", "law"},
    ("members.csv", "role"): {"staff", "org", "expert"},
    ("members.csv", "locale"): {"zh-Hans", "zh-Hant", "en"},
    ("projects.csv", "brand"): {"0", "1"},
    ("progress.csv", "public"): {"0", "1"},
}
SCORED_ITEMS = {"needs_met", "attitude", "skill", "convenience", "helpfulness", "responsiveness", "overall"}
AMOUNT = re.compile(r"^\d+(\.\d{1,2})?$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TZ = timezone(timedelta(hours=8))
TODAY = date(2026, 5, 20)


def read(folder: Path, name: str) -> list[dict[str, str]]:
    with (folder / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def parse_at(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if len(value) == 10:
        return datetime.combine(parsed.date(), time(23, 59, 59), TZ)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=TZ)


def grade_of(score: int) -> str:
    return "excellent" if score >= 90 else "good" if score >= 80 else "pass" if score >= 60 else "fail"


def check_package(folder: Path, today: date) -> dict[str, list[dict[str, str]]]:
    """Asserts the format and cross-row rules of import-format.md; returns the rows per file."""
    start_of_today = datetime.combine(today, time(0), TZ)
    tables: dict[str, list[dict[str, str]]] = {}
    for path in sorted(folder.iterdir()):
        assert path.name in SPEC, f"unknown file {path.name}"
        assert not path.read_bytes().startswith(b"\xef\xbb\xbf")
        required, optional, key = SPEC[path.name]
        with path.open(encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh))
        assert len(header) == len(set(header)), path.name
        assert set(header) <= required | optional, f"{path.name}: {set(header) - required - optional}"
        assert required <= set(header), f"{path.name}: missing {required - set(header)}"
        rows = tables[path.name] = read(folder, path.name)
        keys = Counter(tuple(row[k] for k in key) for row in rows)
        assert not [k for k, n in keys.items() if n > 1], f"duplicate keys in {path.name}"
        for row in rows:
            for column, value in row.items():
                if column in required:
                    assert value != "", f"{path.name}: empty {column}"
                if value == "":
                    continue
                if column.endswith("_on") or column == "barred_until":
                    assert DATE.match(value) and date.fromisoformat(value), (path.name, column, value)
                elif column.endswith("_at"):
                    parse_at(value)
                elif column.endswith("_cny"):
                    assert AMOUNT.match(value), (path.name, column, value)
                elif column in ("year", "installment", "recipients", "max_months"):
                    assert value.isdigit(), (path.name, column, value)
                elif column in ("score", "evaluation_score"):
                    # The importer stores scores as whole numbers.
                    assert value.isdigit() and 0 <= int(value) <= 100, (path.name, column, value)
                if (path.name, column) in ENUMS:
                    assert value in ENUMS[(path.name, column)], (path.name, column, value)

    orgs = {row["uscc"]: row for row in tables.get("organizations.csv", [])}
    departments = {row["code"] for row in tables.get("departments.csv", [])}
    catalog = {(row["year"], row["code"]): row for row in tables.get("catalog.csv", [])}
    projects = {row["code"]: row for row in tables.get("projects.csv", [])}
    experts = {row["code"] for row in tables.get("experts.csv", [])}

    for uscc, org in orgs.items():
        assert validate_uscc(uscc) is None, uscc
        for year in filter(None, org["qualified_years"].split(";")):
            assert year.isdigit()
    for item in catalog.values():
        assert item["department_code"] in departments
    for row in tables.get("budgets.csv", []):
        assert row["department_code"] in departments
    for call in tables.get("calls.csv", []):
        assert parse_at(call["closes_at"]) > parse_at(call["opens_at"])
        for code in call["catalog_codes"].split(";"):
            assert (call["year"], code) in catalog, (call["code"], code)
    for p in projects.values():
        assert p["uscc"] in orgs
        assert p["department_code"] in departments
        item = catalog[(p["year"], p["catalog_code"])]
        assert item["department_code"] == p["department_code"]
        if item["ceiling_cny"]:
            assert float(p["amount_cny"]) <= float(item["ceiling_cny"])
        assert date.fromisoformat(p["end_on"]) >= date.fromisoformat(p["start_on"])
        if p["grade"] and p["evaluation_score"]:
            assert grade_of(int(p["evaluation_score"])) == p["grade"], p["code"]
    for row in tables.get("milestones.csv", []):
        assert row["project_code"] in projects
        if row["done_at"]:
            assert parse_at(row["done_at"]) < start_of_today, row
    paid: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for row in tables.get("disbursements.csv", []):
        assert row["project_code"] in projects
        assert date.fromisoformat(row["paid_on"]) < today
        paid[row["project_code"]].append((int(row["installment"]), float(row["amount_cny"])))
    for code, tranches in paid.items():
        assert sorted(n for n, _ in tranches) == list(range(1, len(tranches) + 1)), code
        assert sum(a for _, a in tranches) <= float(projects[code]["amount_cny"]) + 1e-9, code
    for name, column in (("progress.csv", "reported_on"), ("inspections.csv", "held_on")):
        for row in tables.get(name, []):
            assert row["project_code"] in projects
            assert date.fromisoformat(row[column]) < today
    for row in tables.get("experts.csv", []):
        assert not row["affiliation_uscc"] or row["affiliation_uscc"] in orgs
    for row in tables.get("members.csv", []):
        target = {"staff": departments, "org": orgs, "expert": experts}[row["role"]]
        assert row["ref"] in target, row
    responses: dict[str, dict[str, str]] = defaultdict(dict)
    for row in tables.get("survey_responses.csv", []):
        assert row["project_code"] in projects
        assert date.fromisoformat(row["submitted_on"]) < today
        responses[row["response_id"]][row["item"]] = row["value"]
    for answers in responses.values():
        for item, value in answers.items():
            if item in SCORED_ITEMS:
                assert 1 <= int(value) <= 5
            elif item == "recommend":
                assert 0 <= int(value) <= 10
            elif item == "age_group":
                assert value in {"under_18", "18_59", "60_79", "80_plus"}
            elif item == "sessions":
                assert int(value) >= 1
            else:
                assert item in {"suggestion", "what_went_wrong"}, item
        if "what_went_wrong" in answers:
            assert int(answers["overall"]) <= 2
    return tables


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, str]]]:
    folder = tmp_path_factory.mktemp("demo")
    write_demo_package(folder, TODAY)
    return check_package(folder, TODAY)


def test_demo_has_every_file_with_enough_rows(demo: dict[str, list[dict[str, str]]]) -> None:
    assert set(demo) == set(SPEC)
    assert len(demo["departments.csv"]) >= 3
    assert len(demo["organizations.csv"]) >= 30
    assert len(demo["projects.csv"]) >= 50
    years = {row["year"] for row in demo["catalog.csv"]}
    assert {str(TODAY.year), str(TODAY.year + 1)} <= years
    assert len(demo["catalog.csv"]) >= 15
    assert len({row["level1_zh"] for row in demo["catalog.csv"]}) >= 5
    assert {(row["year"], row["department_code"]) for row in demo["budgets.csv"]} == {
        (y, d["code"]) for y in years for d in demo["departments.csv"]
    }
    assert len(demo["experts.csv"]) >= 8
    assert {row["field"] for row in demo["experts.csv"]} == {"business", "finance", "management", "law"}
    assert {row["role"] for row in demo["members.csv"]} == {"staff", "org", "expert"}


def test_demo_is_bilingual(demo: dict[str, list[dict[str, str]]]) -> None:
    named = {row["district"] for name in ("organizations.csv", "projects.csv") for row in demo[name]} - {""}
    assert named == {row["name_zh"] for row in demo["districts.csv"]}  # every district has its English name
    for name in ("departments.csv", "districts.csv", "catalog.csv", "organizations.csv", "projects.csv", "calls.csv"):
        for row in demo[name]:
            for column, value in row.items():
                if column.endswith("_en"):
                    assert value and value.isascii(), (name, column, value)
                if column.endswith("_zh"):
                    assert re.search(r"[\u4e00-\u9fff]", value), (name, column, value)


def test_demo_organizations_cover_kinds_and_eligibility(demo: dict[str, list[dict[str, str]]]) -> None:
    orgs = demo["organizations.csv"]
    kinds = Counter(row["kind"] for row in orgs)
    assert kinds.most_common(1)[0][0] == "social_service_org"
    assert {"social_group", "foundation", "enterprise"} <= set(kinds)
    assert all(row["uscc"][0] == "5" for row in orgs if row["kind"] == "social_service_org")
    assert all(row["uscc"][0] == "9" for row in orgs if row["kind"] == "enterprise")
    assert any(row["uscc"][0].isalpha() for row in orgs)
    next_year = str(TODAY.year + 1)
    assert any(next_year not in row["qualified_years"].split(";") for row in orgs)
    barred = [row for row in orgs if row["barred_until"]]
    assert barred and all(date.fromisoformat(row["barred_until"]) > TODAY for row in barred)
    # Every provider is on the qualified list for the year of each of its projects.
    listed = {row["uscc"]: row["qualified_years"].split(";") for row in orgs}
    for p in demo["projects.csv"]:
        assert p["year"] in listed[p["uscc"]], p["code"]


def test_demo_calls_one_open_for_next_year_and_one_closed(demo: dict[str, list[dict[str, str]]]) -> None:
    now = datetime.combine(TODAY, time(12), TZ)
    open_calls = [c for c in demo["calls.csv"] if parse_at(c["opens_at"]) < now < parse_at(c["closes_at"])]
    assert len(open_calls) == 1
    call = open_calls[0]
    assert call["year"] == str(TODAY.year + 1)
    assert call["max_months"] == "12"
    assert 14 <= (parse_at(call["closes_at"]).date() - TODAY).days <= 28
    assert any(parse_at(c["closes_at"]) < now for c in demo["calls.csv"])


def test_demo_projects_cover_the_lifecycle(demo: dict[str, list[dict[str, str]]]) -> None:
    projects = demo["projects.csv"]
    assert {p["status"] for p in projects} == ENUMS[("projects.csv", "status")]
    assert len({p["title_zh"] for p in projects}) == len(projects)
    assert all(re.fullmatch(r"LJ-\d{4}-\d{3}", p["code"]) for p in projects)
    assert sum(1 for p in projects if p["recipients"]) >= len(projects) * 0.8
    closed = [p for p in projects if p["status"] == "closed"]
    assert all(p["grade"] and p["evaluation_score"] for p in closed)
    assert {p["grade"] for p in closed} >= {"excellent", "good", "pass"}
    assert any(p["brand"] == "1" for p in closed)
    assert all(p["brand"] == "0" for p in projects if p["grade"] != "excellent")
    assert not any(p["grade"] for p in projects if p["status"] != "closed")


def test_demo_milestones_match_statuses_and_today(demo: dict[str, list[dict[str, str]]]) -> None:
    status = {p["code"]: p["status"] for p in demo["projects.csv"]}
    by_project: dict[str, dict[str, dict[str, str]]] = defaultdict(dict)
    for row in demo["milestones.csv"]:
        by_project[row["project_code"]][row["kind"]] = row
    assert set(by_project) == set(status)
    for code, kinds in by_project.items():
        done = [k for k, row in kinds.items() if row["done_at"]]
        if status[code] == "publicized":
            assert not done
        if status[code] == "closed":
            assert len(done) == 6
        if status[code] in ("contracted", "in_progress", "midterm_passed", "closing"):
            assert kinds["contract_signing"]["done_at"], code
        if status[code] in ("midterm_passed", "closing"):
            assert kinds["midterm_inspection"]["done_at"], code
    now = datetime.combine(TODAY, time(12), TZ)
    open_rows = [
        row for row in demo["milestones.csv"] if not row["done_at"] and status[row["project_code"]] != "terminated"
    ]
    due_soon = [r for r in open_rows if now < parse_at(r["due_at"]) <= now + timedelta(days=14)]
    overdue = [r for r in open_rows if parse_at(r["due_at"]) < now]
    assert len(due_soon) >= 3
    assert len(overdue) >= 3
    assert {r["kind"] for r in due_soon} >= {"midterm_report", "midterm_inspection"}


def test_demo_money_inspections_and_surveys(demo: dict[str, list[dict[str, str]]]) -> None:
    projects = {p["code"]: p for p in demo["projects.csv"]}
    tranches = Counter(row["project_code"] for row in demo["disbursements.csv"])
    assert max(tranches.values()) == 3
    assert not any(projects[c]["status"] == "publicized" for c in tranches)
    results = Counter((row["kind"], row["result"]) for row in demo["inspections.csv"])
    assert results[("midterm", "rectify")] >= 1
    assert results[("midterm", "fail")] >= 1
    for row in demo["inspections.csv"]:
        if row["kind"] == "evaluation":
            assert row["score"] == projects[row["project_code"]]["evaluation_score"]
    assert {row["public"] for row in demo["progress.csv"]} == {"0", "1"}
    assert all(row["text_en"] for row in demo["progress.csv"])
    per_project: dict[str, set[str]] = defaultdict(set)
    items: dict[str, set[str]] = defaultdict(set)
    for row in demo["survey_responses.csv"]:
        assert projects[row["project_code"]]["status"] == "closed"
        per_project[row["project_code"]].add(row["response_id"])
        items[row["response_id"]].add(row["item"])
    assert len(per_project) >= 3
    assert all(len(ids) >= 5 for ids in per_project.values())
    seen = set().union(*items.values())
    assert SCORED_ITEMS | {"recommend", "suggestion", "age_group", "sessions"} <= seen
    assert any("overall" not in answered for answered in items.values())


@pytest.mark.parametrize("today", [date(2026, 1, 2), date(2026, 12, 30), date(2028, 2, 29)])
def test_demo_is_valid_whatever_today_is(tmp_path: Path, today: date) -> None:
    write_demo_package(tmp_path, today)
    tables = check_package(tmp_path, today)
    assert {p["status"] for p in tables["projects.csv"]} == ENUMS[("projects.csv", "status")]


def test_demo_is_deterministic(tmp_path: Path) -> None:
    def snapshot(folder: Path, seed: int) -> dict[str, bytes]:
        write_demo_package(folder, TODAY, seed=seed)
        return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}

    first = snapshot(tmp_path / "a", 7)
    assert snapshot(tmp_path / "b", 7) == first
    assert snapshot(tmp_path / "c", 8) != first


def test_synthetic_package_is_valid_and_counted(tmp_path: Path) -> None:
    counts = write_synthetic_package(tmp_path, 200, seed=3, today=TODAY)
    tables = check_package(tmp_path, TODAY)
    assert counts == {name: len(rows) for name, rows in tables.items()}
    assert counts["projects.csv"] == 200
    assert counts["organizations.csv"] == 10
    assert 3.5 * 200 <= counts["milestones.csv"] <= 4 * 200
    assert 1.4 * 200 <= counts["disbursements.csv"] <= 2.2 * 200
    assert counts["survey_responses.csv"] > 0
    assert {p["status"] for p in tables["projects.csv"]} == ENUMS[("projects.csv", "status")]


def test_synthetic_responses_scale_with_the_keyword(tmp_path: Path) -> None:
    small = write_synthetic_package(tmp_path / "a", 300, seed=5, today=TODAY, responses_per_project=1)
    large = write_synthetic_package(tmp_path / "b", 300, seed=5, today=TODAY, responses_per_project=4)
    assert large["survey_responses.csv"] == 4 * small["survey_responses.csv"] > 0


def test_synthetic_package_is_deterministic(tmp_path: Path) -> None:
    write_synthetic_package(tmp_path / "a", 150, seed=9, today=TODAY)
    write_synthetic_package(tmp_path / "b", 150, seed=9, today=TODAY)
    write_synthetic_package(tmp_path / "c", 150, seed=10, today=TODAY)
    for name in SPEC:
        if (tmp_path / "a" / name).exists():
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "projects.csv").read_bytes() != (tmp_path / "c" / "projects.csv").read_bytes()


def test_synthetic_organizations_scale_with_projects(tmp_path: Path) -> None:
    counts = write_synthetic_package(tmp_path, 1000, seed=2, today=TODAY, responses_per_project=0)
    assert counts["organizations.csv"] == 50
    assert counts["survey_responses.csv"] == 0
    check_package(tmp_path, TODAY)
