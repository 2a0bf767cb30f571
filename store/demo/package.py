"""Writes the demo package (every file of the import format) for a day: the city, its catalog and the
planned projects as they stand that day."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from pathlib import Path

from store.demo.catalog import CATALOG, LEVEL1
from store.demo.city import (
    BARRED_ORG,
    DEPARTMENTS,
    DISTRICTS,
    EXPERTS,
    FAILED_ORG,
    ORGANIZATIONS,
    UNLISTED_ORG,
    Org,
)
from store.demo.format import PACKAGE_HEADERS, fmt_datetime, fmt_money, write_csv
from store.demo.plan import SURVEYED_CLOSED, plan_projects
from store.demo.rows import (
    disbursement_rows,
    inspection_rows,
    milestone_rows,
    progress_rows,
    survey_rows,
    uscc_for,
)
from store.lifecycle import grade_of


def _round_up(value: int, step: int) -> int:
    return -(-value // step) * step


def write_demo_package(out_dir: Path, today: date, seed: int = 2026) -> None:
    """Writes the demo package (all files of the import format) into ``out_dir``."""
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    years = (today.year - 1, today.year, today.year + 1)
    projects = plan_projects(today, rng)
    usccs = {org.key: uscc_for(org, rng) for org in ORGANIZATIONS}

    def write(name: str, rows: Iterable[Mapping[str, object]]) -> None:
        write_csv(out_dir / name, PACKAGE_HEADERS[name], rows)

    write("departments.csv", ({"code": c, "name_zh": zh, "name_en": en} for c, zh, en in DEPARTMENTS))
    write("districts.csv", ({"name_zh": zh, "name_en": f"{en} District"} for zh, (en, _) in DISTRICTS.items()))

    catalog = [
        (year, item) for year in years for item in CATALOG if year >= today.year + item.first_year_offset
    ]
    write("catalog.csv", (
        {
            "year": year, "code": item.code,
            "level1_zh": LEVEL1[item.prefix][0], "level1_en": LEVEL1[item.prefix][1],
            "name_zh": item.name_zh, "name_en": item.name_en,
            "description_zh": item.description_zh, "description_en": item.description_en,
            "department_code": LEVEL1[item.prefix][2], "ceiling_cny": fmt_money(item.ceiling_yuan * 100),
        }
        for year, item in catalog
    ))

    project_years: dict[str, set[int]] = {}
    for p in projects:
        project_years.setdefault(p.org.key, set()).add(p.year)

    def qualified(org: Org) -> str:
        if org.key == UNLISTED_ORG:
            return ""
        listed = set(years)
        if org.key in (FAILED_ORG, BARRED_ORG):
            listed.discard(years[-1])
        return ";".join(str(y) for y in sorted(listed | project_years.get(org.key, set())))

    write("organizations.csv", (
        {
            "uscc": usccs[o.key], "name_zh": o.name_zh, "name_en": o.name_en, "kind": o.kind,
            "district": o.district, "rating": o.rating, "qualified_years": qualified(o),
            "barred_until": (today + timedelta(days=730)).isoformat() if o.key == BARRED_ORG else "",
        }
        for o in ORGANIZATIONS
    ))

    spent: dict[tuple[int, str], int] = {}
    for p in projects:
        key = (p.year, LEVEL1[p.item.prefix][2])
        spent[key] = spent.get(key, 0) + p.amount_yuan
    ceilings: dict[tuple[int, str], int] = {}
    for year, item in catalog:
        key = (year, LEVEL1[item.prefix][2])
        ceilings[key] = ceilings.get(key, 0) + item.ceiling_yuan
    write("budgets.csv", (
        {
            "year": year, "department_code": code,
            # Room for every project funded so far plus the next round, in whole 100k.
            "amount_cny": fmt_money(
                _round_up(max(spent.get((year, code), 0) * 5 // 4, ceilings[(year, code)] * 2), 100_000) * 100
            ),
            "note_zh": f"{year}年度政府购买服务预算", "note_en": f"Purchased services budget {year}",
        }
        for year in years for code, _, _ in DEPARTMENTS
    ))

    def call_codes(year: int) -> str:
        return ";".join(item.code for y, item in catalog if y == year)

    write("calls.csv", (
        {
            "code": f"LJ-CALL-{year}-01", "year": year,
            "title_zh": f"临江市{year}年度政府购买社会服务项目申报指南",
            "title_en": f"Linjiang {year} call for government-purchased social services",
            "opens_at": fmt_datetime(opens, 9), "closes_at": fmt_datetime(closes, 17),
            "catalog_codes": call_codes(year), "max_months": 12,
        }
        for year, opens, closes in (
            (years[1], today - timedelta(days=320), today - timedelta(days=290)),
            (years[2], today - timedelta(days=10), today + timedelta(days=21)),
        )
    ))

    write("projects.csv", (
        {
            "code": p.code, "year": p.year, "title_zh": p.title_zh, "title_en": p.title_en,
            "catalog_code": p.item.code, "uscc": usccs[p.org.key],
            "department_code": LEVEL1[p.item.prefix][2], "district": p.district,
            "recipients": p.recipients or "", "amount_cny": fmt_money(p.amount_yuan * 100),
            "status": p.status, "start_on": p.start.isoformat(), "end_on": p.end.isoformat(),
            "target_group_zh": p.item.target_zh, "target_group_en": p.item.target_en,
            "summary_zh": p.item.description_zh, "summary_en": p.item.description_en,
            "grade": grade_of(p.score) if p.score is not None else "",
            "evaluation_score": "" if p.score is None else p.score,
            "brand": int(p.brand),
        }
        for p in projects
    ))
    write("milestones.csv", (row for p in projects for row in milestone_rows(p)))
    write("disbursements.csv", (row for p in projects for row in disbursement_rows(p, today)))
    write("progress.csv", (row for p in projects for row in progress_rows(p, today, rng)))
    write("inspections.csv", (row for p in projects for row in inspection_rows(p, today, rng)))
    write("experts.csv", (
        {"code": code, "name": name, "field": fld, "affiliation_uscc": usccs[org] if org else ""}
        for code, name, fld, org in EXPERTS
    ))
    write("members.csv", (
        {"channel": "telegram", "external_id": ext, "role": role, "ref": ref, "display_name": name, "locale": loc}
        for ext, role, ref, name, loc in (
            ("700000001", "staff", "MZ", "李文静", "zh-Hans"),
            ("700000002", "staff", "CL", "Chen Hui", "en"),
            ("700000003", "staff", "TW", "周扬", "zh-Hans"),
            ("700000004", "org", usccs["sunshine"], "张晓梅", "zh-Hans"),
            ("700000005", "org", usccs["xinqing"], "林佩君", "zh-Hant"),
            ("700000006", "org", usccs["kangle"], "Grace Wu", "en"),
            ("700000007", "expert", "EXP-001", "王立平", "zh-Hans"),
        )
    ))
    closed = sorted((p for p in projects if p.status == "closed"), key=lambda p: -(p.score or 0))
    write("survey_responses.csv", (
        row for i in SURVEYED_CLOSED for row in survey_rows(closed[i], today, rng)
    ))
