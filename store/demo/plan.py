"""The demo's projects: how many of each lifecycle scenario, each one's provider, title, term and
milestones placed relative to today."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from store.demo.catalog import CATALOG, ITEMS, LEVEL1, CatalogItem
from store.demo.city import BARRED_ORG, DISTRICTS, FAILED_ORG, ORGANIZATIONS, Org

# (status, scenario, how many) — scenarios place each project in its lifecycle relative to today.
_PLAN = (
    ("publicized", "notice", 5),
    ("contracted", "signed", 5),
    ("in_progress", "early", 5),
    ("in_progress", "report_due_soon", 3),
    ("in_progress", "report_overdue", 2),
    ("in_progress", "rectify", 1),
    ("in_progress", "inspection_due_soon", 3),
    ("in_progress", "inspection_overdue", 2),
    ("midterm_passed", "running", 5),
    ("midterm_passed", "final_report_due_soon", 2),
    ("midterm_passed", "final_report_overdue", 1),
    ("closing", "acceptance_due_soon", 2),
    ("closing", "evaluation_pending", 3),
    ("closing", "evaluation_overdue", 1),
    ("closed", "closed", 10),
    ("terminated", "terminated", 2),
)
# Milestones done (in MILESTONE_KINDS order) per scenario.
_DONE = {
    "notice": 0, "signed": 1, "early": 1, "report_due_soon": 1, "report_overdue": 1, "rectify": 2,
    "inspection_due_soon": 2, "inspection_overdue": 2, "running": 3, "final_report_due_soon": 3,
    "final_report_overdue": 3, "acceptance_due_soon": 4, "evaluation_pending": 5, "evaluation_overdue": 5,
    "closed": 6, "terminated": 3,
}
_CLOSED_SCORES = (95, 92, 90, 88, 86, 84, 81, 76, 68, 56)
SURVEYED_CLOSED = (0, 1, 3, 5, 7, 9)  # indexes into the closed projects, best score first


def _milestone_offsets(term_days: int) -> tuple[int, ...]:
    """Due dates of MILESTONE_KINDS in days from the start, for a term of ``term_days``."""
    mid = term_days // 2
    return (-7, mid - 7, mid + 7, term_days + 10, term_days + 30, term_days + 60)


@dataclass
class PlannedProject:
    code: str
    year: int
    item: CatalogItem
    org: Org
    district: str
    status: str
    scenario: str
    start: date
    term_days: int
    amount_yuan: int
    title_zh: str
    title_en: str
    recipients: int | None
    tranches: tuple[int, ...]
    score: int | None = None
    brand: bool = False
    due: list[date] = field(default_factory=list)
    done: list[date] = field(default_factory=list)

    @property
    def end(self) -> date:
        return self.start + timedelta(days=self.term_days)


def _start_for(scenario: str, today: date, term: int, rng: random.Random) -> date:
    """The start date that puts a project of this scenario where it should be today."""
    mid = term // 2
    # scenario -> (that scenario's anchor milestone in days from the start, its date in days from today)
    anchors: dict[str, tuple[int, Callable[[], int]]] = {
        "notice": (-7, lambda: rng.randint(5, 25)),
        "signed": (0, lambda: rng.randint(1, 14)),
        "early": (0, lambda: -rng.randint(20, mid - 40)),
        "report_due_soon": (mid - 7, lambda: rng.randint(1, 12)),
        "report_overdue": (mid - 7, lambda: -rng.randint(2, 9)),
        "rectify": (mid + 7, lambda: -12),
        "inspection_due_soon": (mid + 7, lambda: rng.randint(1, 10)),
        "inspection_overdue": (mid + 7, lambda: -rng.randint(2, 6)),
        "running": (mid + 7, lambda: -rng.randint(20, term - mid - 40)),
        "final_report_due_soon": (term + 10, lambda: rng.randint(1, 12)),
        "final_report_overdue": (term + 10, lambda: -4),
        "acceptance_due_soon": (term + 30, lambda: rng.randint(2, 15)),
        "evaluation_pending": (term + 60, lambda: rng.randint(5, 20)),
        "evaluation_overdue": (term + 60, lambda: -3),
        "closed": (term + 60, lambda: -rng.randint(20, 150)),
        "terminated": (mid + 7, lambda: -rng.randint(20, 80)),
    }
    offset, when = anchors[scenario]
    return today + timedelta(days=when() - offset)


def plan_projects(today: date, rng: random.Random) -> list[PlannedProject]:
    years = (today.year - 1, today.year, today.year + 1)
    items = [item for item in CATALOG if item.brands]
    orgs_by_prefix = {
        prefix: [o for o in ORGANIZATIONS if prefix in o.serves.split() and o.key != BARRED_ORG]
        for prefix in LEVEL1
    }
    barred = next(o for o in ORGANIZATIONS if o.key == BARRED_ORG)
    failed = next(o for o in ORGANIZATIONS if o.key == FAILED_ORG)
    used_titles: set[str] = set()
    projects: list[PlannedProject] = []
    terminated_seen = closed_seen = 0
    for status, scenario, count in _PLAN:
        for _ in range(count):
            term = rng.choice((364, 364, 303, 273))
            start = _start_for(scenario, today, term, rng)
            # This year's call closed ~290 days ago: later starts are this year's projects.
            year = years[1] if start > today - timedelta(days=270) else years[0]
            score = None
            if status == "closed":
                score = _CLOSED_SCORES[closed_seen]
                closed_seen += 1
            if scenario == "terminated" and terminated_seen == 0:
                item, org = ITEMS["YL-01"], barred
                terminated_seen += 1
            elif score is not None and score < 60:
                item, org = ITEMS["QS-02"], failed
            else:
                item = rng.choice(items)
                org = rng.choice(orgs_by_prefix[item.prefix])
            district, brand_zh, brand_en = _pick_title(item, org.district, used_titles, rng)
            used_titles.add(district + brand_zh)
            amount = item.ceiling_yuan * rng.choice((6, 7, 8, 9, 10)) // 10
            projects.append(PlannedProject(
                code="",
                year=year, item=item, org=org, district=district, status=status, scenario=scenario, start=start,
                term_days=term, amount_yuan=amount,
                title_zh=district + brand_zh, title_en=f"{DISTRICTS[district][0]} {brand_en}",
                # Newly approved projects do not always know their head count yet.
                recipients=None if scenario == "notice" and len(projects) % 2 == 0 else rng.randrange(80, 600, 5),
                tranches=rng.choice(((50, 30, 20), (50, 30, 20), (60, 40))),
                score=score, brand=score is not None and score >= 92,
            ))
    # Codes run in order of start within each year, as a registry would number them.
    projects.sort(key=lambda p: (p.start, p.title_zh))
    serial = dict.fromkeys(years, 0)
    for project in projects:
        serial[project.year] += 1
        project.code = f"LJ-{project.year}-{serial[project.year]:03d}"
        _schedule(project, today, rng)
    return projects


def _pick_title(item: CatalogItem, district: str, used: set[str], rng: random.Random) -> tuple[str, str, str]:
    """A (district, name_zh, name_en) not used yet, preferring the provider's own district."""
    for zh, en in rng.sample(item.brands, len(item.brands)):
        if district + zh not in used:
            return district, zh, en
    return next((d, zh, en) for d in DISTRICTS for zh, en in item.brands if d + zh not in used)


def _schedule(project: PlannedProject, today: date, rng: random.Random) -> None:
    yesterday = today - timedelta(days=1)
    project.due = [project.start + timedelta(days=o) for o in _milestone_offsets(project.term_days)]
    if project.scenario == "rectify":
        # After a 整改 result the re-inspection gets a new date.
        project.due[2] = today + timedelta(days=8)
    for due in project.due[: _DONE[project.scenario]]:
        project.done.append(min(due + timedelta(days=rng.randint(-4, 2)), yesterday))
