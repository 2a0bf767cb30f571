"""The import format as the demo and synthetic packages write it: files and columns, money and moments."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

# China has one time zone and no daylight saving, so a fixed offset is exact.
CHINA_TZ = timezone(timedelta(hours=8))

PACKAGE_HEADERS: dict[str, tuple[str, ...]] = {
    "departments.csv": ("code", "name_zh", "name_en"),
    "districts.csv": ("name_zh", "name_en"),
    "catalog.csv": (
        "year", "code", "level1_zh", "level1_en", "name_zh", "name_en",
        "description_zh", "description_en", "department_code", "ceiling_cny",
    ),
    "organizations.csv": (
        "uscc", "name_zh", "name_en", "kind", "district", "rating", "qualified_years", "barred_until",
    ),
    "budgets.csv": ("year", "department_code", "amount_cny", "note_zh", "note_en"),
    "calls.csv": ("code", "year", "title_zh", "title_en", "opens_at", "closes_at", "catalog_codes", "max_months"),
    "projects.csv": (
        "code", "year", "title_zh", "title_en", "catalog_code", "uscc", "department_code", "district",
        "recipients", "amount_cny", "status", "start_on", "end_on", "target_group_zh", "target_group_en",
        "summary_zh", "summary_en", "grade", "evaluation_score", "brand",
    ),
    "milestones.csv": ("project_code", "kind", "due_at", "done_at"),
    "disbursements.csv": ("project_code", "installment", "amount_cny", "paid_on"),
    "progress.csv": ("project_code", "reported_on", "text_zh", "text_en", "public"),
    "inspections.csv": ("project_code", "kind", "held_on", "score", "result", "summary_zh", "summary_en"),
    "experts.csv": ("code", "name", "field", "affiliation_uscc"),
    "members.csv": ("channel", "external_id", "role", "ref", "display_name", "locale"),
    "survey_responses.csv": ("response_id", "project_code", "submitted_on", "item", "value"),
}

MILESTONE_KINDS = (
    "contract_signing", "midterm_report", "midterm_inspection",
    "final_report", "final_acceptance", "performance_evaluation",
)
SATISFACTION_ITEMS = ("needs_met", "attitude", "skill", "convenience", "helpfulness", "responsiveness", "overall")


def fmt_money(fen: int) -> str:
    """Yuan with two decimals, as the import format wants (no separators, no unit)."""
    return f"{fen // 100}.{fen % 100:02d}"


def fmt_datetime(day: date, hour: int, minute: int = 0) -> str:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CHINA_TZ).isoformat()


def write_csv(path: Path, header: tuple[str, ...], rows: Iterable[Mapping[str, object]]) -> None:
    """Writes dict rows; a missing key becomes an empty cell, an unknown one is an error."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, extrasaction="raise")
        writer.writeheader()
        writer.writerows(rows)
