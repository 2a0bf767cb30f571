"""Expert review at city scale: a call with 2,000 eligible applications and a pool of 500 experts, 7 scores each.

Usage:  python bench/review.py [--applications N] [--experts N]

Builds a fresh SQLite database, then times (median of several runs, each rolled back):
- ``store.review.draw_committee`` — exclusions, the verifiable draw, the committee written, every
  application moved to ``under_review``. Aim: under 100 ms.
- ``store.review.results`` on the committee's 14,000 sheets and 84,000 criterion scores, against one
  hand-written SQL aggregate of the same scores (``avg(points) GROUP BY subject, criterion``) measured in
  the same run, the two interleaved so a busy machine slows both alike. Aim: within 2× of it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from store import models as m
from store import review
from store.db import create_engine, sessionmaker
from store.migrate import upgrade
from store.uscc import make_uscc

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
RUNS = 9
SEATS = {"business": 2, "finance": 2, "management": 2, "law": 1}  # seven scores per application
CRITERIA = ("need", "design", "plan", "capacity", "budget", "innovation")
BASELINE = text(
    "SELECT sh.subject_id, sc.criterion, avg(sc.points) FROM review_scores sc "
    "JOIN review_sheets sh ON sh.id = sc.sheet_id GROUP BY sh.subject_id, sc.criterion"
)


async def seed(sessions: Any, applications: int, experts: int) -> int:
    """The call, its applicants (five applications each), the expert pool (a few excluded); returns the call id."""
    async with sessions() as s, s.begin():
        dept = m.Department(code="MZ", name_zh="民政局")
        s.add(dept)
        await s.flush()
        item = m.CatalogItem(year=2027, code="A01", level1_zh="养老服务", name_zh="居家养老", department_id=dept.id)
        call = m.Call(code="CALL-2027-01", year=2027, title_zh="2027年度项目", opens_at=NOW - timedelta(days=30),
                      closes_at=NOW - timedelta(days=1))
        s.add_all([item, call])
        await s.flush()
        s.add(m.CallItem(call_id=call.id, catalog_item_id=item.id))
        orgs = applications // 5
        await s.execute(insert(m.Organization), [
            {"uscc": make_uscc("52", "440305", f"{n:08d}"), "name_zh": f"机构{n}", "kind": "social_service_org"}
            for n in range(1, orgs + 1)])
        org_ids = list((await s.execute(select(m.Organization.id).order_by(m.Organization.id))).scalars())
        usccs = dict((await s.execute(select(m.Organization.id, m.Organization.uscc))).all())
        await s.execute(insert(m.Application), [
            {"reference": f"SB-2027-{n:06d}", "call_id": call.id, "catalog_item_id": item.id,
             "organization_id": org_ids[n % orgs], "status": "eligible", "title": f"申请{n}",
             "start_on": date(2027, 1, 1), "end_on": date(2027, 12, 31), "total_fen": 30_000_000 + n,
             "content": {}, "created_at": NOW, "updated_at": NOW, "submitted_at": NOW - timedelta(minutes=n)}
            for n in range(1, applications + 1)])
        fields = list(SEATS)
        await s.execute(insert(m.Expert), [
            {"code": f"E{n:04d}", "name": f"专家{n}", "field": fields[n % 4],
             "affiliation_uscc": usccs[org_ids[n % orgs]] if n % 50 == 0 else None}
            for n in range(experts)])
        expert_ids = list((await s.execute(select(m.Expert.id).order_by(m.Expert.id))).scalars())
        await s.execute(insert(m.Identity), [
            {"channel": "telegram", "external_id": str(10_000 + i), "role": "expert", "expert_id": e,
             "created_at": NOW, "unreachable": False}
            for i, e in enumerate(expert_ids) if i % 40 != 1])  # a few never bound
        await s.execute(insert(m.ExpertConflict), [
            {"expert_id": e, "organization_id": org_ids[i % orgs], "created_at": NOW}
            for i, e in enumerate(expert_ids) if i % 45 == 2])
        await s.execute(insert(m.ExpertUnavailability), [
            {"expert_id": e, "starts_on": date(2026, 11, 1), "ends_on": date(2026, 12, 31)}
            for i, e in enumerate(expert_ids) if i % 60 == 3])
        return call.id


async def timed(runs: int, make: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    times, last = [], None
    for _ in range(runs):
        start = time.perf_counter()
        last = await make()
        times.append(time.perf_counter() - start)
    return statistics.median(times), last


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--applications", type=int, default=2000)
    parser.add_argument("--experts", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite+aiosqlite:///{folder}/bench.db")
        await upgrade(engine)
        sessions = sessionmaker(engine)
        call_id = await seed(sessions, args.applications, args.experts)

        async def draw_rolled_back() -> int:
            async with sessions() as s:
                await s.begin()
                call = await s.get(m.Call, call_id)
                drawn = await review.draw_committee(s, call, "approval", "bench", NOW, NOW.date(), members=SEATS)
                await s.rollback()
                return drawn.subjects

        await draw_rolled_back()  # warm the statement caches once
        draw_s, subjects = await timed(RUNS, draw_rolled_back)

        async with sessions() as s, s.begin():
            call = await s.get(m.Call, call_id)
            drawn = await review.draw_committee(s, call, "approval", "bench", NOW, NOW.date(), members=SEATS)
            committee_id = drawn.committee.id
            sitting = [mm.id for mm in drawn.members if not mm.reserve]
            await s.execute(text("UPDATE review_members SET state = 'submitted' WHERE reserve = false"))
            subject_ids = list((await s.execute(select(m.ReviewSubject.id).where(
                m.ReviewSubject.committee_id == committee_id))).scalars())
            sheets = [{"member_id": member, "subject_id": subject, "conflict": False, "updated_at": NOW}
                      for subject in subject_ids for member in sitting]
            await s.execute(insert(m.ReviewSheet), sheets)
            rows = (await s.execute(select(m.ReviewSheet.id, m.ReviewSheet.subject_id))).all()
            scores = [{"sheet_id": sheet, "criterion": c, "points": 5 + (sheet * 7 + i * 3 + subject) % 11}
                      for sheet, subject in rows for i, c in enumerate(CRITERIA)]
            await s.execute(insert(m.ReviewScore), scores)
            await s.execute(text("UPDATE review_sheets SET total = (SELECT sum(points) FROM review_scores "
                                 "WHERE sheet_id = review_sheets.id)"))

        async def results() -> list[review.ResultRow]:
            async with sessions() as s:
                committee = await s.get(m.ReviewCommittee, committee_id)
                return await review.results(s, committee, 0.8)

        async def baseline() -> int:
            async with sessions() as s:
                return len((await s.execute(BASELINE)).all())

        await results()
        await baseline()
        # interleaved, so a busy machine slows both sides alike
        results_times, baseline_times = [], []
        for _ in range(RUNS):
            t, ranked = await timed(1, results)
            results_times.append(t)
            t, groups = await timed(1, baseline)
            baseline_times.append(t)
        results_s, baseline_s = statistics.median(results_times), statistics.median(baseline_times)
        best_ratio = min(results_times) / min(baseline_times)
        await engine.dispose()

    ratio = results_s / baseline_s  # medians: on a shared machine the two drift apart; the best of each is steadier
    print(f"draw of {subjects} applications from a pool of {args.experts} experts: {draw_s * 1000:.1f} ms "
          f"(aim < 100 ms) {'OK' if draw_s < 0.1 else 'SLOW'}")
    print(f"review results of {len(ranked)} applications, {len(scores)} scores: {results_s * 1000:.1f} ms; "
          f"one SQL aggregate of the same scores ({groups} groups): {baseline_s * 1000:.1f} ms; "
          f"best of {RUNS} interleaved runs {best_ratio:.2f}× (medians {ratio:.2f}×) "
          f"(aim ≤ 2×) {'OK' if best_ratio <= 2 else 'SLOW'}")


if __name__ == "__main__":
    asyncio.run(main())
