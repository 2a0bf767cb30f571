"""Typed notices (``store.notices``): the JSON they are stored as, both payload versions read back, and rows
queued in the version-1 format before an upgrade still sent after it, on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.outbox import Dispatcher, RetryPolicy
from store import models as m
from store.db import create_engine, sessionmaker
from store.migrate import upgrade
from store.notices import (
    AboutDigest,
    AboutMilestone,
    Day,
    Moment,
    Money,
    Names,
    Notice,
    Text,
    UnreadableNotice,
    decode,
    encode,
)
from store.outbox import Outgoing, enqueue, enqueue_selected, insert_selected
from testing.reminder_world import ZONE, build_calendar_world, local, no_sleep
from testing.sender import FakeSender
from tests.conftest import _admin, _pg_server_url


def test_a_notice_is_stored_as_versioned_json_and_read_back_the_same() -> None:
    notice = Notice(
        "committee.contract_due",
        {"code": "LJ-1", "title": Names({"zh-Hans": "阳光", "en": "Sun"}), "amount": Money(30_000_000),
         "ended": Day(date(2026, 10, 12)), "at": Moment(datetime(2026, 10, 1, 9, tzinfo=UTC)),
         "stage": Text("committee.stage.approval"), "count": 3, "none": None},
        ((("committee.mark_contracted", "g:run:committee:k1"),),),
        about=AboutMilestone(7, date(2026, 10, 20), "status"), secret={"link": "https://t.me/x?start=s1"},
        kind="contract_due",
    )
    payload = encode(notice)
    # the values' JSON is what version 1 wrote: catalog texts, amounts and days keep their shape
    assert payload["v"] == 2 == Notice.version
    assert payload["values"]["amount"] == {"money": 30_000_000} and payload["values"]["ended"] == {"day": "2026-10-12"}
    assert payload["buttons"] == [[["committee.mark_contracted", "g:run:committee:k1"]]]
    # the milestone is not in the payload: it goes to the row's milestone_id column
    assert payload["about"] == {"due": "2026-10-20", "open": "status"} and "7" not in str(payload["about"])
    assert decode("contract_due", payload, notice.milestone) == notice
    digest = Notice("digest.body", about=AboutDigest(None, date(2026, 10, 13)), kind="digest")
    assert decode("digest", encode(digest)) == digest


def test_version_1_payloads_are_read() -> None:
    """The shapes written until this version: a notice about a milestone with its id inside, a digest, a
    stale-check-only "guard", a secret."""
    reminder = decode("reminder", {"key": "remind.upcoming", "values": {"due": {"day": "2026-10-20"}, "days": 7},
                                   "buttons": [], "about": {"milestone": 5, "due": "2026-10-20", "open": "status"}})
    assert reminder.about == AboutMilestone(5, date(2026, 10, 20), "status")
    assert reminder.values == {"due": Day(date(2026, 10, 20)), "days": 7} and reminder.row_kind == "reminder"
    alert = decode("overdue_alert", {"key": "remind.staff_overdue", "values": {}, "buttons": [],
                                     "about": {"milestone": 6, "due": "2026-10-16"}})
    assert alert.about == AboutMilestone(6, date(2026, 10, 16), "query")
    guarded = decode("reminder", {"key": "remind.upcoming", "values": {}, "buttons": [],
                                  "guard": {"milestone": 5, "due": "2026-10-20"}})
    assert guarded.about == AboutMilestone(5, date(2026, 10, 20), None)
    digest = decode("digest", {"key": "digest.body", "values": {}, "buttons": [],
                               "digest": {"department": 3, "day": "2026-10-13"}})
    assert digest.about == AboutDigest(3, date(2026, 10, 13))
    secret = decode("survey_invitation", {"key": "survey.invitation_notice", "values": {"project": {"zh-Hans": "甲"}},
                                          "buttons": [[["a", "b"]]], "secret": {"link": "L"}})
    assert secret.secret == {"link": "L"} and secret.values == {"project": Names({"zh-Hans": "甲"})}
    assert secret.buttons == ((("a", "b"),),)


@pytest.mark.parametrize("payload", [
    {}, {"v": 3, "key": "common.welcome"}, {"values": {}}, {"v": 2, "key": "x", "about": {"due": "2026-10-20"}},
    {"key": "x", "values": {"due": {"day": "not a day"}}}, {"key": "x", "values": {"n": [1, 2]}},
])
def test_a_payload_that_holds_no_readable_notice_says_so(payload: dict[str, Any]) -> None:
    with pytest.raises(UnreadableNotice):
        decode("x", payload)


async def test_only_enqueue_selected_takes_a_notice_about_each_rows_milestone(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        async with sessionmaker(engine)() as s:
            unknown = Notice("common.welcome", about=AboutMilestone(None, date(2026, 10, 20)))
            with pytest.raises(ValueError, match="needs the milestone"):
                await enqueue(s, Outgoing(1, "k", unknown), datetime.now(UTC))
    finally:
        await engine.dispose()


# --- rows of the version-1 format, queued before the upgrade ---------------------------------------

@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def unmigrated(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An empty database (no schema yet) on each backend."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
        yield engine
        await engine.dispose()
        return
    server = _pg_server_url()
    assert server is not None
    name = f"civicbot_t_{secrets.token_hex(6)}"
    await _admin(server, f'CREATE DATABASE "{name}"')
    engine = create_engine(make_url(server).set(drivername="postgresql+asyncpg", database=name)
                           .render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        await engine.dispose()
        await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_rows_queued_in_the_version_1_format_are_sent_after_the_upgrade(unmigrated: AsyncEngine) -> None:
    await upgrade(unmigrated, "0010")  # the schema before the milestone column
    sessions = sessionmaker(unmigrated)
    world = await build_calendar_world(sessions)
    queued_at = local(2026, 10, 13, 9)
    old = [
        # a reminder about a milestone, its id inside the payload, completed when sent
        (world.member_en.id, "reminder", {"key": "remind.upcoming", "values": {"due": {"day": "2026-10-20"}, "days": 7},
                                          "buttons": [], "about": {"milestone": world.inspection.id,
                                                                   "due": "2026-10-20", "open": "status"}}),
        # the same about a milestone re-dated since: stale
        (world.member_zh.id, "reminder", {"key": "remind.upcoming", "values": {"due": {"day": "2026-10-14"}, "days": 1},
                                          "buttons": [], "about": {"milestone": world.report.id,
                                                                   "due": "2026-10-14", "open": "status"}}),
        # an older row, queued complete, with a stale-check "guard" that still holds
        (world.staff.id, "overdue_alert", {"key": "notify.publicized", "values": {"code": "LJ-2026-009",
                                                                                   "title": {"zh-Hans": "阳光助老"}},
                                           "buttons": [], "guard": {"milestone": world.report.id, "due": "2026-10-16"}}),
        # a digest: department and day, its figures read when sent
        (world.staff.id, "digest", {"key": "digest.body", "values": {}, "buttons": [],
                                    "digest": {"department": world.dept.id, "day": "2026-10-13"}}),
        # a secret value, dropped from the row once sent
        (world.other_staff.id, "survey_invitation", {
            "key": "survey.invitation_notice", "values": {"project": {"zh-Hans": "阳光助老", "en": "Sunshine"},
                                                           "closes": {"day": "2026-10-31"}},
            "buttons": [], "secret": {"link": "https://t.me/civicbot?start=sSECRET"}}),
        # written by a newer version: not read, not retried
        (world.member_zh.id, "status", {"v": 99, "key": "common.welcome"}),
    ]
    async with sessions() as s, s.begin():
        for n, (identity_id, kind, payload) in enumerate(old):
            await s.execute(insert(m.OutboxMessage.__table__).values(
                dedup_key=f"v1:{n}", identity_id=identity_id, kind=kind, payload=payload, state="pending",
                attempts=0, next_attempt_at=queued_at, created_at=queued_at))
    await upgrade(unmigrated)

    sender = FakeSender()
    dispatcher = Dispatcher(sessions, sender, zone=ZONE, default_locale="zh-Hans", policy=RetryPolicy(), sleep=no_sleep)
    counts = await dispatcher.dispatch(local(2026, 10, 13, 10))
    assert (counts.sent, counts.cancelled, counts.dead) == (4, 1, 1)
    [reminder] = sender.to("m-en")
    assert "Sunshine elderly care" in reminder.text and "7" in reminder.text
    assert reminder.data == [[f"g:run:status:p{world.project.id}"]]
    alert, digest = sender.to("s-mz")
    assert "LJ-2026-009" in alert.text and alert.data == []
    assert "工作摘要" in digest.text and "阳光助老" in digest.text
    [invitation] = sender.to("s-cl")
    assert "sSECRET" in invitation.text
    async with sessions() as s:
        rows = {r.dedup_key: r for r in (await s.execute(select(m.OutboxMessage))).scalars()}
    assert rows["v1:1"].state == "cancelled" and rows["v1:5"].state == "dead"
    assert "cannot be read" in (rows["v1:5"].last_error or "")
    assert rows["v1:4"].state == "sent" and "secret" not in rows["v1:4"].payload


async def test_a_fan_out_queues_one_constant_payload_with_each_rows_milestone(engine: AsyncEngine) -> None:
    """``enqueue_selected``: the rows bring (key, recipient, milestone), the notice is the same for all;
    a key queued before is skipped."""
    sessions = sessionmaker(engine)
    world = await build_calendar_world(sessions)
    rows = (select((m.Identity.external_id + ":" + m.Milestone.kind).label("k"), m.Identity.id, m.Milestone.id)
            .join(m.Project, m.Project.organization_id == m.Identity.organization_id)
            .join(m.Milestone, m.Milestone.project_id == m.Project.id)
            .where(m.Identity.role == "org"))
    stmt = insert_selected(rows)
    template = Notice("remind.upcoming", {"due": Day(date(2026, 10, 20)), "days": 7},
                      about=AboutMilestone(None, date(2026, 10, 20), "status"), kind="reminder")
    now = local(2026, 10, 13, 9)
    async with sessions() as s, s.begin():
        assert await enqueue_selected(s, stmt, template, {}, now) == 4
        assert await enqueue_selected(s, stmt, template, {}, now) == 0
        with pytest.raises(ValueError, match="each row's milestone"):
            await enqueue_selected(s, stmt, Notice("x", about=AboutMilestone(1, date(2026, 10, 20))), {}, now)
    async with sessions() as s:
        queued = (await s.execute(select(m.OutboxMessage))).scalars().all()
    assert {q.milestone_id for q in queued} == {world.inspection.id, world.report.id}
    assert {q.notice.about for q in queued} == {AboutMilestone(world.inspection.id, date(2026, 10, 20), "status"),
                                                AboutMilestone(world.report.id, date(2026, 10, 20), "status")}
    assert all(q.kind == "reminder" and q.payload == encode(template) for q in queued)
