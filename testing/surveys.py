"""Synthetic satisfaction surveys at scale: responses like real ones, loaded in bulk.

Shared by bench/survey.py (the results benchmark) and the tests that need a survey of 100,000 responses
(tests/store/test_sqlite_inline.py: the loop stays free while its results are computed).
"""

from __future__ import annotations

import random
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from store import models as m
from store import surveys
from store.db import affected, sessionmaker

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
SCALES = ("needs_met", "attitude", "skill", "convenience", "helpfulness", "responsiveness")
AGES = ("under_18", "18_59", "60_79", "80_plus")

Row = tuple[Any, ...]


@dataclass
class Data:
    invitations: list[Row]  # (survey, token hash, expires, used on, created)
    responses: list[Row]  # (id, key, project, survey, day)
    answers: list[Row]  # (response, item, int, text)


def synthesize(count: int, project_id: int, survey_id: int, closes_at: datetime, seed: int = 1) -> Data:
    """``count`` responses with about ten answers each, like real ones, and 10 % more invitations."""
    rng = random.Random(seed)
    responses: list[Row] = []
    answers: list[Row] = []
    first = date(2026, 11, 1)
    invitations = [
        (survey_id, secrets.token_hex(32), closes_at, first + timedelta(days=n % 28) if n < count else None, NOW)
        for n in range(count + count // 10)
    ]
    for rid in range(1, count + 1):
        responses.append((rid, secrets.token_hex(16), project_id, survey_id, first + timedelta(days=rid % 28)))
        overall = rng.choices((5, 4, 3, 2, 1), (50, 30, 12, 5, 3))[0]
        for item in SCALES:
            if rng.random() < 0.92:
                answers.append((rid, item, min(5, max(1, overall + rng.randint(-1, 1))), None))
        if rng.random() < 0.98:  # a few responses leave the overall item out: not valid
            answers.append((rid, "overall", overall, None))
        if rng.random() < 0.8:
            answers.append((rid, "recommend", min(10, max(0, overall * 2 + rng.randint(-2, 0))), None))
        if overall <= 2 and rng.random() < 0.5:
            answers.append((rid, "what_went_wrong", None, "等待时间太长，约好的时间没有人来"))
        if rng.random() < 0.1:
            answers.append((rid, "suggestion", None, "希望增加周末的活动"))
        if rng.random() < 0.5:
            answers.append((rid, "age_group", None, rng.choice(AGES)))
        if rng.random() < 0.4:
            answers.append((rid, "sessions", rng.randint(1, 30), None))
    return Data(invitations, responses, answers)


async def seed_project(engine: AsyncEngine) -> tuple[int, int, datetime]:
    """One department, catalog item, organization, project and open survey."""
    async with sessionmaker(engine)() as s, s.begin():
        dept = m.Department(code="BENCH", name_zh="基准测试局")
        s.add(dept)
        await s.flush()
        item = m.CatalogItem(year=2026, code="B01", level1_zh="养老服务", name_zh="居家养老", department_id=dept.id)
        org = m.Organization(uscc="52440305MA5F000001", name_zh="基准服务中心", kind="social_service_org")
        s.add_all([item, org])
        await s.flush()
        project = m.Project(code="BENCH-001", year=2026, title_zh="基准项目", catalog_item_id=item.id,
                            organization_id=org.id, department_id=dept.id, recipients=150_000, amount_fen=1,
                            status="closing", start_on=date(2026, 1, 1), end_on=date(2026, 12, 31))
        s.add(project)
        await s.flush()
        survey = await surveys.open_survey(s, project.id, NOW - timedelta(days=30), NOW + timedelta(days=30))
        return project.id, survey.id, survey.closes_at


INVITATION_COLUMNS = ["survey_id", "token_hash", "expires_at", "used_on", "created_at"]
RESPONSE_COLUMNS = ["id", "response_key", "project_id", "survey_id", "submitted_on"]
ANSWER_COLUMNS = ["response_id", "item", "value_int", "value_text"]


def load_sqlite(path: Path, data: Data) -> None:
    """Bulk insert with sqlite3 itself, in the text formats SQLAlchemy writes (datetimes naive UTC)."""
    def iso(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return value.isoformat() if isinstance(value, date) else value

    with sqlite3.connect(path) as db:
        for table, columns, rows in (("survey_invitations", INVITATION_COLUMNS, data.invitations),
                                     ("survey_responses", RESPONSE_COLUMNS, data.responses),
                                     ("survey_answers", ANSWER_COLUMNS, data.answers)):
            marks = ", ".join("?" for _ in columns)
            db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                           [tuple(iso(v) for v in row) for row in rows])
        db.execute("ANALYZE")


async def load_postgres(url: str, data: Data) -> None:
    conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await conn.copy_records_to_table("survey_invitations", records=data.invitations, columns=INVITATION_COLUMNS)
        await conn.copy_records_to_table("survey_responses", records=data.responses, columns=RESPONSE_COLUMNS)
        await conn.copy_records_to_table("survey_answers", records=data.answers, columns=ANSWER_COLUMNS)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


# The same kind of survey generated inside the database (a recursive CTE on SQLite, generate_series on
# PostgreSQL): a 100,000-response survey in seconds, for tests. Deterministic: response r answers
# overall = OVERALL_OF(r), and every 50th response leaves the overall item out (98 % valid).
_SERIES = {
    "sqlite": "WITH RECURSIVE n(r) AS (SELECT 1 UNION ALL SELECT r + 1 FROM n WHERE r < :count) ",
    "postgresql": "WITH n(r) AS (SELECT generate_series(1, :count)) ",
}
_DAY = {"sqlite": "date('2026-11-01', '+' || (r % 28) || ' days')", "postgresql": "DATE '2026-11-01' + (r % 28)"}
_OVERALL = "(CASE WHEN r % 10 < 5 THEN 5 WHEN r % 10 < 8 THEN 4 WHEN r % 10 < 9 THEN 3 WHEN r % 20 = 9 THEN 2 ELSE 1 END)"


async def fill_survey(engine: AsyncEngine, project_id: int, survey_id: int, count: int) -> int:
    """``count`` responses (about nine answers each) to the survey; returns how many answers were written."""
    name = engine.dialect.name
    series, day = _SERIES[name], _DAY[name]
    clamp = "MIN(5, MAX(1, {}))" if name == "sqlite" else "LEAST(5, GREATEST(1, {}))"
    scales = " UNION ALL ".join(
        f"SELECT r AS r, '{item}' AS item, {clamp.format(f'{_OVERALL} + (r + {k}) % 3 - 1')} AS v, "
        f"CAST(NULL AS TEXT) AS t FROM n "
        f"WHERE (r * 7 + {k}) % 25 <> 0" for k, item in enumerate(SCALES))
    ages = "CASE r % 4 " + " ".join(f"WHEN {i} THEN '{age}'" for i, age in enumerate(AGES)) + " END"
    answers = (
        f"{scales} UNION ALL SELECT r, 'overall', {_OVERALL}, NULL FROM n WHERE r % 50 <> 0 "
        f"UNION ALL SELECT r, 'recommend', {_OVERALL} * 2 - r % 3, NULL FROM n WHERE r % 5 <> 0 "
        f"UNION ALL SELECT r, 'age_group', NULL, {ages} FROM n WHERE r % 2 = 0"
    )
    async with engine.begin() as conn:
        start = (await conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM survey_responses"))).scalar_one()
        params = {"count": count, "start": start, "project": project_id, "survey": survey_id}
        await conn.execute(text(
            "INSERT INTO survey_responses (id, response_key, project_id, survey_id, submitted_on) "
            f"{series}SELECT :start + r, 'synthetic-' || (:start + r), :project, :survey, {day} FROM n"), params)
        written = await conn.execute(text(
            "INSERT INTO survey_answers (response_id, item, value_int, value_text) "
            f"{series}SELECT :start + a.r, a.item, a.v, a.t FROM ({answers}) AS a"), params)
        await conn.execute(text("ANALYZE"))
        return affected(written)
