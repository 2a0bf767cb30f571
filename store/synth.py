"""Synthetic packages of any size for benchmarks: consistent with the import rules, streamed to disk."""

from __future__ import annotations

import bisect
import csv
import itertools
import random
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from store.demo.catalog import CATALOG, LEVEL1
from store.demo.city import DEPARTMENTS, DISTRICTS
from store.demo.format import SATISFACTION_ITEMS, fmt_money
from store.lifecycle import grade_of
from store.uscc import ALPHABET, make_uscc

# Only the columns synth fills; every name is a column of the import format.
HEADERS: dict[str, tuple[str, ...]] = {
    "departments.csv": ("code", "name_zh", "name_en"),
    "catalog.csv": ("year", "code", "level1_zh", "level1_en", "name_zh", "name_en", "department_code", "ceiling_cny"),
    "organizations.csv": ("uscc", "name_zh", "name_en", "kind", "district", "rating", "qualified_years"),
    "budgets.csv": ("year", "department_code", "amount_cny"),
    "calls.csv": ("code", "year", "title_zh", "title_en", "opens_at", "closes_at", "catalog_codes", "max_months"),
    "projects.csv": (
        "code", "year", "title_zh", "title_en", "catalog_code", "uscc", "department_code", "district",
        "recipients", "amount_cny", "status", "start_on", "end_on", "grade", "evaluation_score", "brand",
    ),
    "milestones.csv": ("project_code", "kind", "due_at", "done_at"),
    "disbursements.csv": ("project_code", "installment", "amount_cny", "paid_on"),
    "progress.csv": ("project_code", "reported_on", "text_zh", "text_en", "public"),
    "inspections.csv": ("project_code", "kind", "held_on", "score", "result"),
    "survey_responses.csv": ("response_id", "project_code", "submitted_on", "item", "value"),
}

_TERM = 364
_MID = _TERM // 2
# (kind, due in days from the start) — four of the six kinds keep the row count near 4 per project.
_MILESTONES = (
    ("contract_signing", -7),
    ("midterm_inspection", _MID + 7),
    ("final_acceptance", _TERM + 30),
    ("performance_evaluation", _TERM + 60),
)
# status -> (weight, range of days since the start today, milestones done)
_STATUSES: dict[str, tuple[int, tuple[int, int], int]] = {
    "publicized": (5, (-40, -10), 0),
    "contracted": (5, (-6, 5), 1),
    "in_progress": (35, (10, _MID + 20), 1),
    "midterm_passed": (20, (_MID + 10, _TERM + 25), 2),
    "closing": (10, (_TERM + 35, _TERM + 80), 3),
    "closed": (22, (_TERM + 65, _TERM + 420), 4),
    "terminated": (3, (_MID + 10, _TERM), 2),
}
_TRANCHES = (50, 30)  # percent; the last tranche is the remainder so the sum is exact
_SURVEYED_SHARE = 0.1
_BATCH = 2_000  # projects per flush: keeps memory flat at any package size
_BUDGET_STEP = 100_000_00  # 100k yuan, in fen
_AGE_GROUPS = ("under_18", "18_59", "60_79", "80_plus")


class _Sink:
    """One CSV writer per file behind bounded row buffers, so rows go out in batches."""

    def __init__(self, stack: ExitStack, out_dir: Path) -> None:
        self.counts = dict.fromkeys(HEADERS, 0)
        self.buffers: dict[str, list[tuple[object, ...]]] = {name: [] for name in HEADERS}
        self._writers: dict[str, Any] = {}
        for name, header in HEADERS.items():
            fh = stack.enter_context((out_dir / name).open("w", encoding="utf-8", newline=""))
            self._writers[name] = csv.writer(fh)
            self._writers[name].writerow(header)

    def flush(self) -> None:
        for name, rows in self.buffers.items():
            self._writers[name].writerows(rows)
            self.counts[name] += len(rows)
            rows.clear()  # in place: callers hold references to these lists


def _org_body(index: int) -> str:
    # A multiplier coprime with 31 maps indexes to distinct codes below 31^6.
    value = (index * 7_368_787 + 1_234_567) % 31**6
    chars = []
    for _ in range(6):
        value, digit = divmod(value, 31)
        chars.append(ALPHABET[digit])
    return "MA" + "".join(chars)


class _ProjectWriter:
    """Turns project number i into its rows in every file, all drawn from one random stream."""

    def __init__(
        self, sink: _Sink, today: date, seed: int, organizations: list[tuple[str, str]], responses: int
    ) -> None:
        self.rng = random.Random(seed)
        # Answers draw from their own stream so that the response count leaves the projects unchanged.
        self.answers_rng = random.Random(f"{seed}/answers")
        self.buffers = sink.buffers
        self.organizations = organizations
        self.responses = responses
        self.years = (today.year - 1, today.year, today.year + 1)
        self.items = [item for item in CATALOG if item.brands]
        self.spent: dict[tuple[int, str], int] = {}
        self.statuses = list(_STATUSES)
        self.weights = list(itertools.accumulate(w for w, _, _ in _STATUSES.values()))
        self.survey_chance = _SURVEYED_SHARE * self.weights[-1] / _STATUSES["closed"][0]
        # Every date a project can touch, formatted once: formatting dominates the cost otherwise.
        lowest = -max(high for _, (_, high), _ in _STATUSES.values()) - 10
        highest = -min(low for _, (low, _), _ in _STATUSES.values()) + _MILESTONES[-1][1] + 5
        self.on = {d: (today + timedelta(days=d)).isoformat() for d in range(lowest, highest + 1)}
        self.due_at = {d: f"{text}T17:00:00+08:00" for d, text in self.on.items()}
        self.done_at = {d: f"{text}T10:30:00+08:00" for d, text in self.on.items()}
        self.year_of = {d: min(max(int(text[:4]), self.years[0]), self.years[2]) for d, text in self.on.items()}

    def between(self, low: int, high: int) -> int:
        # random.randint is several Python frames deep; this is the same distribution, cheaper.
        return low + int(self.rng.random() * (high - low + 1))

    def write(self, i: int) -> None:
        rng, between, on, buffers = self.rng, self.between, self.on, self.buffers
        status = self.statuses[bisect.bisect(self.weights, rng.random() * self.weights[-1])]
        _, (low, high), done_count = _STATUSES[status]
        start = -between(low, high)
        year = self.year_of[start]
        item = self.items[i % len(self.items)]
        department = LEVEL1[item.prefix][2]
        uscc, district = self.organizations[int(rng.random() * len(self.organizations))]
        amount = item.ceiling_yuan * between(50, 100)  # fen: ceiling x percent / 100 x 100
        self.spent[(year, department)] = self.spent.get((year, department), 0) + amount
        code = f"SY-{year}-{i + 1:06d}"
        score = round(rng.triangular(50, 99, 88)) if status == "closed" else None
        name_zh, name_en = item.brands[i % 3]
        buffers["projects.csv"].append((
            code, year, f"{name_zh}（{i + 1}）", f"{name_en} ({i + 1})", item.code, uscc, department, district,
            between(50, 800), fmt_money(amount), status, on[start], on[start + _TERM],
            grade_of(score) if score is not None else "", "" if score is None else score,
            int(score is not None and score >= 95),
        ))

        milestones = buffers["milestones.csv"]
        done: list[int] = []
        for n, (kind, offset) in enumerate(_MILESTONES):
            due = start + offset
            if n < done_count:
                done.append(min(due + between(-3, 2), -1))
                milestones.append((code, kind, self.due_at[due], self.done_at[done[-1]]))
            elif status != "terminated":
                milestones.append((code, kind, self.due_at[due], ""))

        # Tranches follow contract, passed mid-term and acceptance; a failed one stops the money.
        gates = done[:1] if status == "terminated" else done[:3]
        if score is not None and score < 60:
            gates = gates[:2]
        paid = 0
        for n, gate in enumerate(gates):
            if gate + 5 >= 0:
                break
            share = amount * _TRANCHES[n] // 100 if n < len(_TRANCHES) else amount - paid
            paid += share
            buffers["disbursements.csv"].append((code, n + 1, fmt_money(share), on[gate + 5]))

        if start < -20:
            for day in sorted(rng.sample(range(start + 10, min(start + _TERM, -1)), between(0, 2))):
                count = between(20, 300)
                buffers["progress.csv"].append(
                    (code, on[day], f"本期服务{count}人次。", f"{count} service sessions.", int(rng.random() < 0.8))
                )

        inspections = buffers["inspections.csv"]
        if len(done) >= 2:
            failed = status == "terminated"
            inspections.append(
                (code, "midterm", on[done[1]], between(40, 55) if failed else between(65, 98),
                 "fail" if failed else "pass")
            )
        if len(done) >= 3:
            inspections.append((code, "final", on[done[2]], between(65, 98), "pass"))
        if score is not None:
            inspections.append((code, "evaluation", on[done[3]], score, "pass" if score >= 60 else "fail"))
            if rng.random() < self.survey_chance:
                self._write_responses(code, on[min(start + _TERM + 10, -1)])

    def _write_responses(self, code: str, submitted: str) -> None:
        rng, rows = self.answers_rng, self.buffers["survey_responses.csv"]
        for r in range(1, self.responses + 1):
            response_id = f"{code}-S{r:02d}"
            overall = rng.choices((5, 4, 3, 2, 1), (50, 30, 12, 5, 3))[0]
            for item_code in SATISFACTION_ITEMS[:-1]:
                rows.append((response_id, code, submitted, item_code, min(5, max(1, overall + rng.randint(-1, 1)))))
            for item_code, value in (
                ("overall", overall),
                ("recommend", min(10, overall * 2 + rng.randint(-1, 0))),
                ("age_group", rng.choice(_AGE_GROUPS)),
                ("sessions", rng.randint(1, 12)),
            ):
                rows.append((response_id, code, submitted, item_code, value))


def write_synthetic_package(
    out_dir: Path,
    projects: int,
    seed: int = 1,
    today: date | None = None,
    *,
    responses_per_project: int = 2,
) -> dict[str, int]:
    """Writes a package of ``projects`` projects and returns the number of data rows per file."""
    today = today or date.today()
    years = (today.year - 1, today.year, today.year + 1)
    items = [item for item in CATALOG if item.brands]
    out_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        sink = _Sink(stack, out_dir)
        rows = sink.buffers
        rows["departments.csv"].extend(DEPARTMENTS)
        for year in years:
            for item in items:
                level1_zh, level1_en, department = LEVEL1[item.prefix]
                rows["catalog.csv"].append((
                    year, item.code, level1_zh, level1_en, item.name_zh, item.name_en, department,
                    fmt_money(item.ceiling_yuan * 100),
                ))
        opens, closes = today - timedelta(days=10), today + timedelta(days=21)
        rows["calls.csv"].append((
            f"SY-CALL-{years[2]}", years[2], f"{years[2]}年度合成申报指南", f"Synthetic call {years[2]}",
            f"{opens.isoformat()}T09:00:00+08:00", f"{closes.isoformat()}T17:00:00+08:00",
            ";".join(item.code for item in items), 12,
        ))

        org_rng = random.Random(f"{seed}/organizations")
        districts = list(DISTRICTS)
        organizations: list[tuple[str, str]] = []
        for i in range(max(10, projects // 20)):
            district = districts[i % len(districts)]
            uscc = make_uscc("52", DISTRICTS[district][1], _org_body(i))
            organizations.append((uscc, district))
            rows["organizations.csv"].append((
                uscc, f"临江市合成社会服务中心{i + 1:05d}", f"Synthetic Service Center {i + 1:05d}",
                "social_service_org", district, org_rng.choice(("", "3A", "4A", "5A")),
                ";".join(str(y) for y in years),
            ))

        writer = _ProjectWriter(sink, today, seed, organizations, responses_per_project)
        for i in range(projects):
            writer.write(i)
            if i % _BATCH == _BATCH - 1:
                sink.flush()

        for year in years:
            for department, _, _ in DEPARTMENTS:
                # Room for every project plus a quarter, rounded up to whole 100k yuan (amounts are in fen).
                need = writer.spent.get((year, department), 0) * 5 // 4
                budget = max(1, -(-need // _BUDGET_STEP)) * _BUDGET_STEP
                rows["budgets.csv"].append((year, department, fmt_money(budget)))
        sink.flush()
    return sink.counts
