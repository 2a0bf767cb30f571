"""The needs report in people's words: labels of categories, districts and groups, the plain-data form
used by ``civicbot needs report --json``, and the XLSX workbook (chat export and the command line)."""

from __future__ import annotations

from io import BytesIO
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook

from dialogs import i18n
from store.models import Need
from store.needs import OTHER_CATEGORY, Counts, NeedsReport

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UNSPECIFIED = "unspecified"  # the JSON key of needs filed without a district


class Labels:
    """Names of a report's keys in one language (catalog classes come from the database)."""

    def __init__(self, locale: str, classes: list[tuple[str, str | None]], districts: dict[str, str] | None = None) -> None:
        self.locale = locale
        self.english = dict(classes)
        self.districts = districts or {}  # the English names the package gives districts

    def t(self, key: str, /, **values: object) -> str:
        return i18n.t(self.locale, key, **values)

    def category(self, category: str) -> str:
        if category == OTHER_CATEGORY:
            return self.t("need.category_other")
        return i18n.name(self.locale, category, self.english.get(category))

    def district(self, district: str | None) -> str:
        return i18n.district(self.locale, district, self.districts) or self.t("need.district_other")

    def group(self, group: str) -> str:
        return self.t(f"need.group.{group}") if i18n.has(f"need.group.{group}") else group

    def state(self, state: str) -> str:
        return self.t(f"needs.state.{state}")


def _counts_data(counts: Counts) -> dict[str, Any]:
    return {
        "since": counts.period.since.isoformat(),
        "until": counts.period.until.isoformat(),
        "days": counts.period.days,
        "total": counts.total,
        "by_category": dict(counts.by_category),
        "by_district": {d or UNSPECIFIED: n for d, n in counts.by_district.items()},
    }


def filed_at(need: Need, zone: ZoneInfo) -> str:
    """When a need was filed, local: the minute with consent to contact, only the day without it."""
    local = need.created_at.astimezone(zone)
    return local.strftime("%Y-%m-%d %H:%M") if need.contact_consent else local.date().isoformat()


def report_data(report: NeedsReport, zone: ZoneInfo, latest: list[Need] | None = None) -> dict[str, Any]:
    """The report as JSON-ready data: totals, by category / district / group / state, the category ×
    district matrix, the previous period of the same length and the change against it."""
    current = report.current
    data = _counts_data(current)
    data["by_target_group"] = dict(current.by_target_group)
    data["by_state"] = dict(current.by_state)
    data["matrix"] = [{"category": c, "district": d, "count": n} for (c, d), n in current.matrix.items()]
    if report.previous is None:
        data["previous"] = None
        data["trend"] = None
    else:
        previous = report.previous
        data["previous"] = _counts_data(previous)
        categories = dict.fromkeys([*current.by_category, *previous.by_category])
        data["trend"] = {
            "total": report.change(),
            "total_pct": _pct(current.total, previous.total),
            "by_category": {c: report.change(c) for c in categories},
        }
    if latest is not None:
        data["latest"] = [
            {
                "reference": n.reference, "created_at": filed_at(n, zone), "category": n.category,
                "district": n.district,
                "target_group": n.target_group, "state": n.state, "description": n.description,
            }
            for n in latest
        ]
    return data


def _pct(current: int, previous: int) -> float | None:
    return None if previous == 0 else round((current - previous) / previous, 4)


def _append(sheet: Any, values: list[Any]) -> None:
    """Append a row; text is always text, so a description starting with "=" never becomes a formula."""
    row = sheet.max_row + 1 if sheet.max_row > 1 or sheet.cell(1, 1).value is not None else 1
    for column, value in enumerate(values, start=1):
        cell = sheet.cell(row, column, value)
        if isinstance(value, str):
            cell.data_type = "s"


def workbook(report: NeedsReport, rows: list[Need], labels: Labels, zone: ZoneInfo) -> bytes:
    """Sheet 1: category × district counts with totals and the change against the previous period;
    sheet 2: every need of the period (no contact details: they stay in the chat for staff)."""
    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = labels.t("needs.xlsx.summary_sheet")
    current = report.current
    districts = list(current.by_district)
    period = labels.t("needs.xlsx.period", since=current.period.since.isoformat(), until=current.period.until.isoformat())
    _append(summary, [period])
    _append(summary, [
        labels.t("needs.xlsx.category"), *(labels.district(d) for d in districts), labels.t("needs.xlsx.total"),
        labels.t("needs.xlsx.previous"), labels.t("needs.xlsx.change"),
    ])
    for category, total in current.by_category.items():
        previous = report.previous.by_category.get(category, 0) if report.previous else None
        _append(summary, [
            labels.category(category), *(current.matrix.get((category, d), 0) for d in districts), total,
            previous, report.change(category),
        ])
    _append(summary, [
        labels.t("needs.xlsx.total"), *(current.by_district[d] for d in districts), current.total,
        report.previous.total if report.previous else None, report.change(),
    ])
    detail = book.create_sheet(labels.t("needs.xlsx.detail_sheet"))
    _append(detail, [labels.t(f"needs.xlsx.column.{c}") for c in
                   ("reference", "created", "category", "district", "target_group", "description", "state", "decision")])
    for need in rows:
        decision = need.decision_note or (str(need.catalog_year) if need.catalog_year else "")
        _append(detail, [
            need.reference, filed_at(need, zone), labels.category(need.category),
            labels.district(need.district), labels.group(need.target_group), need.description, labels.state(need.state),
            decision,
        ])
    out = BytesIO()
    book.save(out)
    return out.getvalue()
