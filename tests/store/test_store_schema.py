"""The schema: migrations equal the models, constraints hold on both databases, lifecycle moves."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from store import models as m
from store.lifecycle import (
    APPLICATION_MOVES,
    PROJECT_MOVES,
    IllegalTransition,
    move_application,
    move_project,
)
from store.migrate import current_revision, head_revision

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)


async def test_migrated_schema_equals_models(engine: AsyncEngine) -> None:
    assert await current_revision(engine) == head_revision()

    def diff(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, m.Base.metadata)

    async with engine.connect() as conn:
        changes = await conn.run_sync(diff)
    assert changes == []


async def _seed(conn) -> dict[str, int]:  # type: ignore[no-untyped-def]
    dept = (await conn.execute(insert(m.Department).values(code="MZ", name_zh="民政局").returning(m.Department.id))).scalar_one()
    item = (
        await conn.execute(
            insert(m.CatalogItem)
            .values(year=2026, code="A01", level1_zh="养老服务", name_zh="居家养老", department_id=dept)
            .returning(m.CatalogItem.id)
        )
    ).scalar_one()
    org = (
        await conn.execute(
            insert(m.Organization)
            .values(uscc="53100000500019795A", name_zh="中国社会福利基金会", kind="foundation")
            .returning(m.Organization.id)
        )
    ).scalar_one()
    return {"dept": dept, "item": item, "org": org}


def _project(ids: dict[str, int], **over: object) -> dict[str, object]:
    values: dict[str, object] = dict(
        code="P-1", year=2026, title_zh="阳光助老", catalog_item_id=ids["item"], organization_id=ids["org"],
        department_id=ids["dept"], amount_fen=30_000_000, status="in_progress",
        start_on=date(2026, 1, 1), end_on=date(2026, 12, 31),
    )
    values.update(over)
    return values


@pytest.mark.parametrize(
    "override",
    [
        {"amount_fen": -1},
        {"evaluation_score": 101},
        {"evaluation_score": -5},
        {"end_on": date(2025, 12, 31)},
        {"status": "finished"},
        {"grade": "superb"},
        {"department_id": 999_999},
    ],
    ids=["negative-amount", "score-over-100", "score-negative", "end-before-start", "bad-status", "bad-grade", "dangling-fk"],
)
async def test_project_constraints_enforced(engine: AsyncEngine, override: dict[str, object]) -> None:
    async with engine.begin() as conn:
        ids = await _seed(conn)
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(insert(m.Project).values(**_project(ids, **override)))
    async with engine.begin() as conn:
        await conn.execute(insert(m.Project).values(**_project(ids)))


async def test_unique_natural_keys(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        ids = await _seed(conn)
        await conn.execute(insert(m.Project).values(**_project(ids)))
        pid = (await conn.execute(select(m.Project.id))).scalar_one()
        await conn.execute(insert(m.Milestone).values(project_id=pid, kind="midterm_report", due_at=NOW))
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(insert(m.Milestone).values(project_id=pid, kind="midterm_report", due_at=NOW))
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(insert(m.CatalogItem).values(
                year=2026, code="A01", level1_zh="x", name_zh="y", department_id=ids["dept"]))


async def test_one_open_draft_per_org_and_call(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        ids = await _seed(conn)
        call = (await conn.execute(insert(m.Call).values(
            code="C1", year=2027, title_zh="征集", opens_at=NOW, closes_at=NOW + timedelta(days=20), max_months=12,
        ).returning(m.Call.id))).scalar_one()
        row = dict(call_id=call, organization_id=ids["org"], created_at=NOW, updated_at=NOW, content={})
        await conn.execute(insert(m.Application).values(status="submitted", **row))
        await conn.execute(insert(m.Application).values(status="draft", **row))
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(insert(m.Application).values(status="draft", **row))


async def test_call_window_and_identity_binding_checks(engine: AsyncEngine) -> None:
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(insert(m.Call).values(code="C2", year=2027, title_zh="x", opens_at=NOW, closes_at=NOW))
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(insert(m.Identity).values(channel="telegram", external_id="1", role="staff", created_at=NOW))


async def test_datetimes_come_back_aware_utc(engine: AsyncEngine) -> None:
    local = datetime(2026, 3, 1, 9, 0, tzinfo=timezone(timedelta(hours=8)))
    async with engine.begin() as conn:
        await conn.execute(insert(m.AuditEntry).values(at=local, actor="t", action="a", entity="e", entity_key="k", detail={"甲": 1}))
    async with engine.connect() as conn:
        row = (await conn.execute(select(m.AuditEntry.at, m.AuditEntry.detail))).one()
    assert row.at == local and row.at.tzinfo is not None and row.at.utcoffset() == timedelta(0)
    assert row.detail == {"甲": 1}


async def test_naive_datetime_refused(engine: AsyncEngine) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        async with engine.begin() as conn:
            await conn.execute(insert(m.AuditEntry).values(
                at=datetime(2026, 3, 1), actor="t", action="a", entity="e", entity_key="k", detail={}))


class _Thing:
    def __init__(self, status: str) -> None:
        self.status = status


def test_every_application_state_has_exactly_its_moves() -> None:
    assert set(APPLICATION_MOVES) == set(m.APPLICATION_STATUSES)
    for current, allowed in APPLICATION_MOVES.items():
        for target in m.APPLICATION_STATUSES:
            thing = _Thing(current)
            if target in allowed:
                move_application(thing, target)
                assert thing.status == target
            else:
                with pytest.raises(IllegalTransition) as info:
                    move_application(thing, target)
                assert thing.status == current
                assert current in str(info.value)
                assert info.value.allowed == allowed


def test_project_lifecycle() -> None:
    assert set(PROJECT_MOVES) == set(m.PROJECT_STATUSES)
    thing = _Thing("publicized")
    for target in ("contracted", "in_progress", "midterm_passed", "closing", "closed"):
        move_project(thing, target)
    with pytest.raises(IllegalTransition, match="allowed from 'closed': none"):
        move_project(thing, "terminated")
    for state in ("publicized", "contracted", "in_progress", "midterm_passed", "closing"):
        thing = _Thing(state)
        move_project(thing, "terminated")
    with pytest.raises(IllegalTransition, match="allowed from 'in_progress': midterm_passed, terminated"):
        move_project(_Thing("in_progress"), "closed")
