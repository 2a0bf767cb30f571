"""Residents' voice: needs and problem reports through the engine, staff follow-up, anonymity, the
needs report (chat, JSON, XLSX) and the abuse limits — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cli import main
from dialogs import i18n
from dialogs.context import DialogSettings, PlainUnderstand
from dialogs.flows.complaint import rank_projects, search_terms
from dialogs.flows.needs_review import Decline, Take
from dialogs.flows.tickets import Move, Open
from dialogs.notices import render_notice
from dialogs.registry import build_engine
from dialogs.voice import normalize_contact
from nlu.normalize import fold
from store import models as m
from store import needs as store_needs
from store.db import create_engine, sessionmaker
from testing.chat import Person
from testing.factories import NOW, World, bind_identity, build_world

SHANGHAI = ZoneInfo("Asia/Shanghai")
YEAR = NOW.year
PREFIXES = ("need", "needs", "voice", "complain", "tickets")
# the core flows run on both databases; variations of them on SQLite only, to keep the file quick
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@dataclass
class Clock:
    now: datetime


@dataclass
class Voice:
    world: World
    jiangbei: m.Project
    staff: m.Identity
    other_staff: m.Identity
    org_member: m.Identity


async def add_world(s: AsyncSession) -> Voice:
    w = await build_world(s)
    jiangbei = m.Project(
        code="LJ-2026-003", year=YEAR, title_zh="江北区助残康复服务项目", title_en="Jiangbei rehabilitation support",
        catalog_item_id=w.project.catalog_item_id, organization_id=w.org2.id, department_id=w.other_dept.id,
        district="江北区", amount_fen=20_000_000, status="in_progress", start_on=date(YEAR, 1, 1),
        end_on=date(YEAR, 12, 31),
    )
    s.add(jiangbei)
    await s.flush()
    staff = await bind_identity(s, "test", "staff_mz", "staff", w.dept.id)
    other_staff = await bind_identity(s, "test", "staff_cl", "staff", w.other_dept.id)
    org_member = await bind_identity(s, "test", "org1", "org", w.org.id)
    return Voice(w, jiangbei, staff, other_staff, org_member)



@pytest.fixture
async def voice(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Voice]:
    async with sessions() as s, s.begin():
        v = await add_world(s)
    yield v


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


def make_bot(sessions, clock: Clock, **settings):  # type: ignore[no-untyped-def]
    base = {"admins": frozenset({("test", "admin1")})}
    return build_engine(sessions, DialogSettings(**{**base, **settings}), clock=lambda: clock.now)


@pytest.fixture
def bot(sessions, clock):  # type: ignore[no-untyped-def]
    return make_bot(sessions, clock)


async def outbox(sessions, identity_id: int | None = None) -> list[m.OutboxMessage]:  # type: ignore[no-untyped-def]
    async with sessions() as s:
        stmt = select(m.OutboxMessage).order_by(m.OutboxMessage.id)
        if identity_id is not None:
            stmt = stmt.where(m.OutboxMessage.identity_id == identity_id)
        return list((await s.execute(stmt)).scalars())


async def identity_id(sessions, external_id: str) -> int:  # type: ignore[no-untyped-def]
    async with sessions() as s:
        found = await s.scalar(select(m.Identity.id).where(m.Identity.external_id == external_id))
        assert found is not None
        return found


async def file_need(p: Person, description: str = "小区独居老人多，附近没有长者饭堂。", *, consent: bool = False,
                    contact: str | None = None) -> None:
    await p.say("/need")
    await p.press("养老服务")
    await p.press("南山区")
    await p.press("老年人")
    await p.say(description)
    await p.press("跳过")
    await p.press("是" if consent else "否")
    if consent:
        if contact is None:
            await p.press("跳过")
        else:
            await p.say(contact)
    assert "请核对您的需求建议" in p.text, p.text
    await p.press("提交")


async def file_complaint(p: Person, description: str = "十一月的上门探访一次都没有来。", contact: str | None = None) -> None:
    await p.say("/complain")
    await p.say("LJ-2026-001")
    await p.press("服务质量差")
    await p.say(description)
    await p.press("跳过")
    if contact is None:
        await p.press("跳过")
    else:
        await p.say(contact)
    assert "请核对您要反映的问题" in p.text, p.text
    await p.press("提交")


# --- suggesting a need --------------------------------------------------------------------

async def test_need_is_anonymous_without_consent(bot, sessions, voice) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "res1")
    await p.say("/need")
    assert [b.label for b in p.buttons()][:3] == ["养老服务", "社区治理", "其他"]
    await p.press("养老服务")
    assert {"南山区", "江北区"} <= {b.label for b in p.buttons()}
    await p.say("南山區")  # Traditional, typed
    await p.press("老年人")
    await p.say("x" * 501)
    assert "太长" in p.text and "500" in p.text
    await p.say("小区独居老人多，附近没有长者饭堂。")
    await p.say("不是照片")
    assert "请发送一张照片" in p.text
    await p.press("跳过")
    await p.press("否")
    assert "请核对" in p.text and "南山区" in p.text and "老年人" in p.text
    await p.press("提交")
    assert f"XQ-{YEAR}-000001" in p.text and "匿名" in p.text
    async with sessions() as s:
        need = (await s.execute(select(m.Need))).scalar_one()
        assert (need.category, need.district, need.target_group) == ("养老服务", "南山区", "elderly")
        assert need.identity_id is None and need.contact is None and not need.contact_consent
        assert need.state == "new" and need.created_at == datetime(2026, 11, 28, 16, tzinfo=UTC)  # the local day only
        audit = (await s.execute(select(m.AuditEntry.actor))).scalars().all()
        assert all(f"identity:{need.id}" not in a for a in audit)
    assert await outbox(sessions) == []


async def test_need_with_consent_keeps_identity_photo_and_contact(bot, sessions, voice, tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "res1")
    await p.say("/need")
    await p.press("其他")
    await p.press("其他 / 不确定")
    await p.press("困难家庭")
    await p.say("希望有课后托管服务。")
    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"jpeg")
    await p.send_photo(str(photo))
    await p.press("是")
    await p.say("abc")
    assert "手机号" in p.text and "微信号" in p.text
    await p.say("＋86 138 0013 8000")  # full-width plus, spaces
    await p.press("提交")
    assert "XQ-" in p.text and "处理结果会在这里告诉您" in p.text
    res = await identity_id(sessions, "res1")
    async with sessions() as s:
        need = (await s.execute(select(m.Need))).scalar_one()
        assert need.identity_id == res and need.contact_consent and need.contact == "tel:13800138000"
        assert need.category == "other" and need.district is None and need.media_path == str(photo)


@sqlite_only
async def test_district_typed_with_a_slip_gets_did_you_mean(bot, voice) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "res1")
    await p.say("/need")
    await p.press("养老服务")
    await p.say("楠山区")
    assert "您是不是要找：南山区" in p.text
    await p.say("１")  # a full-width option number
    assert "哪些人需要" in p.text


@sqlite_only
async def test_need_opened_by_intent_takes_the_district_named(sessions, clock, voice) -> None:  # type: ignore[no-untyped-def]
    def understand(text: str) -> dict:  # type: ignore[type-arg]
        return {"intent": {"name": "submit_demand", "confidence": 0.9},
                "entities": [{"entity": "district", "value": "江北区"}]}

    bot = build_engine(sessions, DialogSettings(), understand=PlainUnderstand(understand), clock=lambda: clock.now)
    p = Person(bot, "res1")
    await p.say("江北区缺少托育服务")
    await p.press("社区治理")
    assert "哪些人需要" in p.text  # the district question was answered by the sentence


# --- staff view of needs -------------------------------------------------------------------

async def test_staff_decide_needs_and_consenting_residents_are_told(bot, sessions, voice) -> None:  # type: ignore[no-untyped-def]
    await file_need(Person(bot, "res1"), "第一条：需要助餐点。", consent=True, contact="wechat: zhang_san88")
    await file_need(Person(bot, "res2"), "第二条：需要上门探访。")
    staff = Person(bot, "staff_mz")
    await staff.say("/needs")
    assert "共收到 2 条" in staff.text and "养老服务 · 南山区：2 条" in staff.text
    await staff.press("最新需求")
    await staff.press(f"XQ-{YEAR}-000001")
    assert "第一条" in staff.text and "微信 zhang_san88" in staff.text
    await staff.press(f"纳入 {YEAR + 1} 年目录")
    assert "已纳入目录" in staff.text
    await staff.press("返回列表")
    await staff.press(f"XQ-{YEAR}-000002")
    assert "匿名提交" in staff.text
    await staff.press("不采纳")
    await staff.say("已有同类项目覆盖")
    assert "不采纳" in staff.text and "已有同类项目覆盖" in staff.text
    res1 = await identity_id(sessions, "res1")
    messages = await outbox(sessions)
    assert [(msg.identity_id, msg.kind) for msg in messages] == [(res1, "needs.notice_taken")]
    text = render_notice(messages[0].notice, "zh-Hans", SHANGHAI).text
    assert f"XQ-{YEAR}-000001" in text and str(YEAR + 1) in text
    async with sessions() as s:
        states = dict((await s.execute(select(m.Need.reference, m.Need.state))).all())
        second = await s.scalar(select(m.Need.decision_note).where(m.Need.reference == f"XQ-{YEAR}-000002"))
    assert states == {f"XQ-{YEAR}-000001": "taken", f"XQ-{YEAR}-000002": "declined"}
    assert second == "已有同类项目覆盖"
    # a decision is final: a button kept from before does nothing
    await staff.press_data(Take(1, YEAR).pack("needs"))
    assert "已经处理过" in staff.text


@sqlite_only
async def test_staff_export_is_an_xlsx_document(bot, voice, clock) -> None:  # type: ignore[no-untyped-def]
    await file_need(Person(bot, "res1"), "=HYPERLINK(\"http://x\")需要助餐")
    staff = Person(bot, "staff_mz")
    await staff.say("/needs")
    await staff.press("导出 Excel")
    document = next(r.document for r in staff.last if r.document is not None)
    assert document.filename.endswith(".xlsx")
    book = load_workbook(BytesIO(document.content))
    summary, detail = book.worksheets
    assert [c.value for c in summary[3]][:2] == ["养老服务", 1]
    assert detail.cell(2, 6).value.startswith("=HYPERLINK") and detail.cell(2, 6).data_type == "s"


# --- reporting a problem -------------------------------------------------------------------

async def test_complaint_found_by_name_notifies_department_staff_only(bot, sessions, voice) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "res1")
    await p.say("/complain")
    await p.say("阳光助老")
    assert "您说的是哪一个" in p.text
    await p.press("LJ-2026-001")
    assert "是什么问题" in p.text
    await p.press("服务没有提供")
    await p.say("十一月的上门探访一次都没有来。")
    await p.press("跳过")
    await p.say("微信 zhang_san88")
    assert "LJ-2026-001" in p.text and "微信 zhang_san88" in p.text
    await p.press("提交")
    assert f"TS-{YEAR}-000001" in p.text and "/tickets" in p.text
    res1 = await identity_id(sessions, "res1")
    async with sessions() as s:
        ticket = (await s.execute(select(m.Ticket))).scalar_one()
        assert ticket.project_id == voice.world.project.id and ticket.kind == "not_delivered"
        assert ticket.reporter_identity_id == res1
        assert ticket.contact == "wechat:zhang_san88" and ticket.state == "received"
    messages = await outbox(sessions)
    assert [msg.identity_id for msg in messages] == [voice.staff.id]
    notice = render_notice(messages[0].notice, "zh-Hans", SHANGHAI)
    assert f"TS-{YEAR}-000001" in notice.text and "服务没有提供" in notice.text
    assert "zhang_san88" not in notice.text and "上门探访" not in notice.text


@sqlite_only
async def test_complaint_project_by_code_title_or_district(bot, sessions, voice) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "res1")
    await p.say("/complain")
    await p.say("lj-2026-003")  # any letter case
    assert "是什么问题" in p.text
    await p.say("/complain")
    await p.say("江北區助殘康復服務項目")  # the exact title, in Traditional characters
    assert "是什么问题" in p.text
    await p.say("/complain")
    await p.say("完全无关的字")
    assert "没有找到" in p.text
    await p.press("江北区")
    assert "江北区的项目（共 1 个）" in p.text
    await p.press("LJ-2026-003")
    assert "是什么问题" in p.text
    await p.press("资金使用问题")
    await p.say("经费去向不明。")
    await p.press("跳过")
    await p.press("跳过")
    await p.press("提交")
    messages = await outbox(sessions)
    assert [msg.identity_id for msg in messages] == [voice.other_staff.id]


class IndexedNames(PlainUnderstand):
    """An ``understand`` with the NLU's name index (``suggest``), recording what it was asked."""

    def __init__(self) -> None:
        super().__init__(lambda text: {"intent": {"name": "out_of_scope", "confidence": 0.2}, "entities": []})
        self.asked: list[tuple[str, str]] = []

    def suggest(self, kind: str, text: str, limit: int = 5) -> list[tuple[str, str, float]]:
        self.asked.append((kind, text))
        if kind == "project":  # the index may still know a project that was deleted since
            return [("LJ-2026-003", "江北区助残康复服务项目", 70.0), ("XX-2020-999", "已删除的项目", 60.0)]
        return [("南山区", "南山区", 66.7), ("不存在区", "不存在区", 55.0)]


@sqlite_only
async def test_lookups_use_the_nlu_name_index_when_the_engine_has_one(sessions, clock, voice) -> None:  # type: ignore[no-untyped-def]
    names = IndexedNames()
    bot = build_engine(sessions, DialogSettings(), understand=names, clock=lambda: clock.now)
    p = Person(bot, "res1")
    await p.say("/complain")
    await p.say("助残")
    assert names.asked == [("project", "助残")]
    labels = [b.label for b in p.buttons()]
    assert labels[0].startswith("LJ-2026-003") and not any("XX-2020-999" in label for label in labels)
    await p.say("/need")
    await p.press("养老服务")
    await p.say("楠山区")
    assert ("district", "楠山区") in names.asked
    assert "您是不是要找：南山区？" in p.text


@sqlite_only
async def test_browsing_a_district_pages_through_its_projects(bot, sessions, voice) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        for n in range(10):
            s.add(m.Project(code=f"NS-{n:03d}", year=YEAR, title_zh=f"南山社区项目{n}", catalog_item_id=voice.world.project.catalog_item_id,
                            organization_id=voice.world.org.id, department_id=voice.world.dept.id, district="南山区",
                            amount_fen=1, status="in_progress", start_on=date(YEAR, 1, 1), end_on=date(YEAR, 12, 31)))
    p = Person(bot, "res1")
    await p.say("/complain")
    await p.press("南山区")
    assert "共 12 个" in p.text and "第 1/2 页" in p.text
    await p.press("下一页")
    assert "第 2/2 页" in p.text
    await p.press(p.buttons()[0].label)
    assert "是什么问题" in p.text


# --- ticket follow-up ---------------------------------------------------------------------

async def test_ticket_moves_with_notes_and_the_reporter_is_told(bot, sessions, voice) -> None:  # type: ignore[no-untyped-def]
    resident = Person(bot, "res1")
    await file_complaint(resident, contact="13912345678")
    ticket_id = 1
    staff = Person(bot, "staff_mz")
    await staff.say("/tickets")
    assert f"TS-{YEAR}-000001" in staff.text
    await staff.press(f"TS-{YEAR}-000001")
    assert "上门探访" in staff.text and "电话 13912345678" in staff.text
    assert {b.label for b in staff.buttons()} >= {"🔍 开始调查"}
    assert "✅ 已解决" not in {b.label for b in staff.buttons()}  # received → investigating first
    await staff.press_data(Move(ticket_id, "resolved").pack("tickets"))  # a forged jump
    assert "这个按钮已经失效了" in staff.text and "🔍 开始调查" in {b.label for b in staff.buttons()}
    await staff.press("开始调查")
    await staff.say("已联系机构核实排班。")
    assert "已通知反映人" in staff.text and "调查中" in staff.text
    await staff.press("已解决")
    await staff.say("机构已补上门服务两次。")
    res1 = await identity_id(sessions, "res1")
    notices = [msg for msg in await outbox(sessions, res1)]
    assert [msg.kind for msg in notices] == ["tickets.notice_state", "tickets.notice_state"]
    texts = [render_notice(msg.notice, "en", SHANGHAI).text for msg in notices]
    assert "Under investigation" in texts[0] and "已联系机构核实排班" in texts[0]
    assert "Resolved" in texts[1]
    await resident.say("/tickets")
    assert f"TS-{YEAR}-000001" in resident.text and "已解决" in resident.text
    await resident.press(f"TS-{YEAR}-000001")
    assert "机构已补上门服务两次" in resident.text and "调查中" in resident.text
    assert not any("tickets:move" in (b.data or "") for b in resident.buttons())
    async with sessions() as s:
        events = (await s.execute(select(m.TicketEvent.state).order_by(m.TicketEvent.id))).scalars().all()
    assert events == ["received", "investigating", "resolved"]


@sqlite_only
async def test_other_department_and_other_residents_cannot_open_a_ticket(bot, sessions, voice) -> None:  # type: ignore[no-untyped-def]
    await file_complaint(Person(bot, "res1"))
    other_staff = Person(bot, "staff_cl")
    await other_staff.say("/tickets")
    assert "目前没有需要处理" in other_staff.text
    await other_staff.say("/tickets t1")
    assert "无权查看" in other_staff.text and "上门探访" not in other_staff.text
    jiangbei = Person(bot, "res4")  # a report about the other department's own project
    await jiangbei.say("/complain")
    await jiangbei.say("LJ-2026-003")
    await jiangbei.press("其他问题")
    await jiangbei.say("活动室常年锁门。")
    await jiangbei.press("跳过")
    await jiangbei.press("跳过")
    await jiangbei.press("提交")
    await other_staff.say("/tickets")
    assert "活动室常年锁门" in other_staff.text and "上门探访" not in other_staff.text
    await other_staff.press_data(Open(2).pack("tickets"))  # their own department's ticket
    assert "活动室常年锁门" in other_staff.text
    await other_staff.press_data(Move(1, "investigating").pack("tickets"))  # forged with the other department's
    assert "无权查看" in other_staff.text
    await other_staff.say("越权的处理说明")
    other = Person(bot, "res2")
    await other.say("/tickets")
    await other.press_data("tickets:open:1")
    assert "上门探访" not in other.text
    admin = Person(bot, "admin1")
    await admin.say("/tickets t1")
    assert "上门探访" in admin.text
    async with sessions() as s:
        assert await s.scalar(select(m.Ticket.state).where(m.Ticket.id == 1)) == "received"


# --- who may do what ----------------------------------------------------------------------

async def test_staff_commands_are_refused_to_residents_and_organizations(bot, sessions, voice) -> None:  # type: ignore[no-untyped-def]
    await file_need(Person(bot, "res1"), "需要助餐点。")
    await file_complaint(Person(bot, "res2"))
    for who in ("res3", "org1"):
        p = Person(bot, who)
        await p.say("/needs")
        assert "没有权限" in p.text
        await p.press_data("g:run:needs:n1")
        assert "没有权限" in p.text and "需要助餐点" not in p.text
        await p.press_data(Take(1, YEAR).pack("needs"))
        await p.press_data(Decline(1).pack("needs"))
        await p.say("伪造的理由")
    org = Person(bot, "org1")
    await org.say("/tickets")
    assert "您还没有反映过问题" in org.text  # their own reports, as anyone's: nobody else's
    await org.press_data(Open(1).pack("tickets"))
    await org.press_data(Move(1, "investigating").pack("tickets"))
    resident = Person(bot, "res3")
    await resident.say("/tickets")  # their (empty) list: the tickets flow is not active
    await resident.press_data(Move(1, "investigating").pack("tickets"))
    await resident.say("我自己改个状态")
    async with sessions() as s:
        assert await s.scalar(select(m.Need.state)) == "new"
        assert await s.scalar(select(m.Ticket.state)) == "received"
        assert await s.scalar(select(func.count()).select_from(m.TicketEvent)) == 1


async def test_organization_member_never_reaches_a_complainant(sessions, clock, voice) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot(sessions, clock)
    secrets = ("张三丰", "13912345678", "独一无二的投诉内容", "zhang_san88")
    complainant = Person(bot, "res-secret")
    await complainant.say("/start")
    async with sessions() as s, s.begin():
        identity = await s.scalar(select(m.Identity).where(m.Identity.external_id == "res-secret"))
        identity.display_name = "张三丰"
    await file_complaint(complainant, "独一无二的投诉内容", contact="13912345678")
    await file_need(Person(bot, "res-secret2"), "独一无二的投诉内容", consent=True, contact="wechat: zhang_san88")
    staff = Person(bot, "staff_mz")
    await staff.say("/tickets t1")
    await staff.press("开始调查")
    await staff.say("独一无二的投诉内容已转交")

    org = Person(bot, "org1")
    seen: list[str] = []

    def collect() -> None:
        for reply in org.last:
            seen.append(reply.text)
            seen.extend(b.label + " " + (b.data or "") for row in reply.buttons for b in row)
            for attachment in (reply.document, reply.image):
                if attachment is not None:
                    seen.append(attachment.content.decode("utf-8", "replace"))

    visited: set[str] = set()
    for command in sorted(bot.commands):
        for payload in (None, "t1", "n1", "p1", "1"):
            await org.say(f"/{command} {payload}" if payload else f"/{command}")
            collect()
            # press each button not pressed before, and what those show, within a budget per command
            frontier = [b.data for b in org.buttons() if b.data]
            pressed = 0
            while frontier and pressed < 10:
                data = frontier.pop(0)
                if data in visited or data.startswith("g:lang"):
                    continue
                visited.add(data)
                await org.press_data(data)
                collect()
                pressed += 1
                frontier.extend(b.data for b in org.buttons() if b.data)
            await org.say("/cancel")
    for flow in bot.flows:
        for arg in ("", "t1", "n1"):
            await org.press_data(f"g:run:{flow}:{arg}" if arg else f"g:run:{flow}")
            collect()
    for data in ("tickets:open:1", "tickets:list:0", "needs:open:1", "needs:latest:0", "needs:export:"):
        await org.press_data(data)
        collect()
    text = "\n".join(seen)
    for secret in secrets:
        assert secret not in text, secret
    assert "TS-" not in text
    assert await outbox(sessions, voice.org_member.id) == []


# --- the report ---------------------------------------------------------------------------

def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI).astimezone(UTC)


FIXED = [  # (local day, category, district, target group)
    (date(2026, 10, 3), "养老服务", "南山区", "elderly"),
    (date(2026, 10, 20), "养老服务", "江北区", "elderly"),
    (date(2026, 10, 31), "社区治理", "南山区", "everyone"),
    (date(2026, 11, 1), "养老服务", "南山区", "elderly"),
    (date(2026, 11, 5), "养老服务", "南山区", "disability"),
    (date(2026, 11, 5), "养老服务", "江北区", "elderly"),
    (date(2026, 11, 20), "other", None, "families"),
    (date(2026, 11, 29), "社区治理", "南山区", "everyone"),
    (date(2026, 11, 30), "社区治理", "南山区", "everyone"),  # after the period
]


async def seed_fixed(session: AsyncSession) -> None:
    for n, (day, category, district, group) in enumerate(FIXED, start=1):
        # 00:30 local on the 1st of November is still the 31st of October in UTC: counted by local day
        moment = at(day, 0) if day == date(2026, 11, 1) else at(day)
        session.add(m.Need(reference=f"XQ-2026-{n:06d}", category=category, district=district, target_group=group,
                           description=f"需求{n}", contact_consent=False, state="new", created_at=moment))
    await session.flush()


async def test_report_figures_equal_hand_counts_and_trend(sessions, voice) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        await seed_fixed(s)
    period = store_needs.Period(date(2026, 11, 1), date(2026, 11, 29))
    assert period.days == 29 and period.previous() == store_needs.Period(date(2026, 10, 3), date(2026, 10, 31))
    async with sessions() as s:
        report = await store_needs.needs_report(s, period, SHANGHAI)
    current, previous = report.current, report.previous
    assert previous is not None
    assert current.total == 5
    assert current.by_category == {"养老服务": 3, "other": 1, "社区治理": 1}
    assert current.by_district == {"南山区": 3, "江北区": 1, None: 1}
    assert current.matrix == {("other", None): 1, ("养老服务", "南山区"): 2, ("养老服务", "江北区"): 1, ("社区治理", "南山区"): 1}
    assert current.by_target_group == {"elderly": 2, "disability": 1, "everyone": 1, "families": 1}
    assert previous.total == 3 and previous.by_category == {"养老服务": 2, "社区治理": 1}
    assert report.change() == 2 and report.change("养老服务") == 1 and report.change("社区治理") == 0


@sqlite_only
async def test_staff_report_in_chat_shows_trend_by_period(bot, sessions, voice) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        await seed_fixed(s)
    staff = Person(bot, "staff_mz")
    await staff.say("/needs")  # this month: 1–29 November
    assert "共收到 5 条" in staff.text
    assert "（2026年10月3日 至 2026年10月31日，3 条）增加 2 条（67%）" in staff.text
    assert "养老服务：3 条（上期 2 条）" in staff.text and "其他 · 其他 / 不确定：1 条" in staff.text
    await staff.press("自某日起")
    await staff.say("2026年11月20日")
    assert "共收到 2 条" in staff.text  # the 20th and the 29th (the 30th is tomorrow)
    await staff.press("本年")
    assert "共收到 8 条" in staff.text


def test_cli_needs_report_json_and_xlsx(sqlite_url, monkeypatch, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CIVICBOT_DATABASE_URL", sqlite_url)

    async def seed() -> None:
        engine = create_engine(sqlite_url)
        async with sessionmaker(engine)() as s, s.begin():
            await build_world(s)
            await seed_fixed(s)
        await engine.dispose()

    asyncio.run(seed())
    out = tmp_path / "needs.xlsx"
    assert main(["needs", "report", "--since", "2026-11-01", "--until", "2026-11-29", "--json", "--xlsx", str(out)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total"] == 5 and data["by_category"] == {"养老服务": 3, "other": 1, "社区治理": 1}
    assert data["by_district"] == {"南山区": 3, "江北区": 1, "unspecified": 1}
    assert {"category": "养老服务", "district": "南山区", "count": 2} in data["matrix"]
    assert data["previous"]["total"] == 3 and data["previous"]["since"] == "2026-10-03"
    assert data["trend"]["total"] == 2 and data["trend"]["by_category"]["养老服务"] == 1
    assert data["trend"]["total_pct"] == pytest.approx(0.6667)
    summary, detail = load_workbook(out).worksheets
    header = [c.value for c in summary[2]]
    elderly = dict(zip(header, [c.value for c in summary[3]], strict=True))
    assert elderly["服务类别"] == "养老服务" and elderly["南山区"] == 2 and elderly["江北区"] == 1 and elderly["合计"] == 3
    assert elderly["上期"] == 2 and elderly["增减"] == 1
    assert detail.max_row == 6  # header + the 5 needs of the period
    with time_machine.travel(datetime(2026, 12, 1, 4, tzinfo=UTC), tick=False):
        assert main(["needs", "report", "--json"]) == 0
    everything = json.loads(capsys.readouterr().out)
    assert everything["total"] == len(FIXED) and everything["trend"] is None
    with pytest.raises(SystemExit) as exit_info:
        main(["needs", "report", "--since", "yesterday"])
    assert exit_info.value.code == 2 and "YYYY-MM-DD" in capsys.readouterr().err


# --- abuse limits -------------------------------------------------------------------------

async def test_daily_limit_covers_needs_and_complaints_in_local_days(sessions, clock, voice) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot(sessions, clock, submissions_per_day=2)
    p = Person(bot, "res1")
    await file_need(p, "第一条需求。")
    clock.now += timedelta(minutes=5)
    await file_complaint(p)
    assert "TS-" in p.text
    await p.say("/need")
    assert "每天的上限" in p.text and "2" in p.text
    await p.say("/complain")
    assert "每天的上限" in p.text
    clock.now = datetime(2026, 11, 29, 15, 59, tzinfo=UTC)  # 23:59 in Shanghai: still the same day
    await p.say("/need")
    assert "每天的上限" in p.text
    clock.now = datetime(2026, 11, 29, 16, 1, tzinfo=UTC)  # 00:01 on the 30th in Shanghai
    await file_need(p, "第二天的需求。")
    assert "XQ-" in p.text
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(m.Need)) == 2
        counts = dict((await s.execute(select(m.SubmissionCount.day, m.SubmissionCount.count))).all())
    assert counts == {date(2026, 11, 29): 2, date(2026, 11, 30): 1}


async def test_the_same_submission_within_a_minute_is_recognised(sessions, clock, voice) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot(sessions, clock)
    p = Person(bot, "res1")
    await file_need(p, "完全一样的需求。")
    clock.now += timedelta(seconds=40)
    await file_need(p, "完全一样的需求。")
    assert "已经提交过相同的内容" in p.text
    clock.now += timedelta(seconds=10)
    await file_need(p, "另一条需求。")
    assert "XQ-" in p.text
    clock.now += timedelta(minutes=2)
    await file_complaint(p)
    clock.now += timedelta(seconds=30)
    await file_complaint(p)
    assert "已经提交过相同的内容" in p.text
    clock.now += timedelta(minutes=1)
    await file_complaint(p)  # a minute later the same text is a new report
    assert "TS-" in p.text
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(m.Need)) == 2
        assert await s.scalar(select(func.count()).select_from(m.Ticket)) == 2
        assert await s.scalar(select(m.SubmissionCount.count)) == 4


# --- small parts --------------------------------------------------------------------------

def test_contacts_are_normalized_or_refused() -> None:
    assert normalize_contact("138 0013 8000") == "tel:13800138000"
    assert normalize_contact("+86-138-0013-8000") == "tel:13800138000"
    assert normalize_contact("电话：0755-12345678") == "tel:0755-12345678"
    assert normalize_contact("微信 zhang_san88") == "wechat:zhang_san88"
    assert normalize_contact("wechat123") == "wechat:wechat123"
    for bad in ("abc", "12345", "23800138000", "微信 1abcdef", "<b>x</b>"):
        assert normalize_contact(bad) is None, bad


def test_search_terms_and_ranking() -> None:
    grams, words = search_terms(fold("阳光 助老 LJ-2026-01"))
    assert grams == ["阳光", "助老"] and words == ["lj-2026-01", "lj", "2026", "01"]
    projects = [m.Project(code="LJ-2026-001", title_zh="阳光社工服务中心助老项目"),
                m.Project(code="LJ-2026-002", title_zh="彩虹青少年服务社助老项目")]
    ranked = rank_projects(fold("阳光助老"), projects)
    assert ranked[0][0].code == "LJ-2026-001" and ranked[0][1] == 100


def test_catalog_keys_exist_in_every_language_with_the_same_placeholders() -> None:
    base = {k: v for k, v in i18n.catalog("zh-Hans").items() if k.split(".")[0] in PREFIXES}
    assert len(base) > 100
    for locale in ("zh-Hant", "en"):
        other = {k: v for k, v in i18n.catalog(locale).items() if k.split(".")[0] in PREFIXES}
        assert set(other) == set(base), locale
        for key, template in base.items():
            assert i18n.placeholders(template) == i18n.placeholders(other[key]), (locale, key)


@sqlite_only
async def test_needs_report_with_no_needs_says_so(bot, voice) -> None:  # type: ignore[no-untyped-def]
    staff = Person(bot, "staff_mz")
    await staff.say("/needs")
    assert "共收到 0 条" in staff.text and "持平" in staff.text
    await staff.press("最新需求")
    assert "还没有收到" in staff.text



@pytest.mark.parametrize(("locale", "code", "photo_step", "leave"), [
    ("zh-Hans", "LJ-2026-001", "照片", "取消"), ("zh-Hant", "LJ-2026-001", "照片", "退出"), ("en", "LJ-2026-001", "Photo", "cancel"),
])
async def test_complaint_photo_at_the_description_says_where_photos_go(bot, voice, tmp_path, locale, code, photo_step, leave) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "res-photo", locale=locale)
    await p.say("/complain")
    await p.say(code)
    await p.press_data(p.buttons()[0].data or "")  # a kind
    await p.send_photo(str(tmp_path / "x.jpg"))
    assert photo_step in p.text and "⚠️" in p.text
    await p.say(leave)  # any flow: typed, it offers to leave
    assert [b.data for b in p.buttons()] == ["g:leave", "g:stay"]
    await p.press_data("g:leave")
    assert any(b.data == "g:run:complain" for b in p.buttons())  # after "cancelled", the menu


async def test_a_complaint_filed_before_binding_stays_reachable(bot, sessions, voice) -> None:  # type: ignore[no-untyped-def]
    """Roles add abilities: binding to an organization or a department never hides one's own reports."""
    for who, role, ref in (("res-later-org", "org", voice.world.org.id), ("res-later-staff", "staff", voice.world.other_dept.id)):
        p = Person(bot, who)
        await file_complaint(p, f"{who} 反映：探访没有来。")
        assert any(b.data == "g:run:tickets" for b in p.buttons())  # 提交成功, then the menu
        async with sessions() as s, s.begin():
            identity = await s.scalar(select(m.Identity).where(m.Identity.external_id == who))
            identity.role = role
            identity.organization_id = ref if role == "org" else None
            identity.department_id = ref if role == "staff" else None
        await p.say("/menu")
        assert any(b.data == "g:run:tickets" for b in p.buttons())
        await p.say("/tickets")
        if role == "staff":  # their department's list (the project is another's), and their own under a button
            assert f"{who} 反映" not in p.text
            await p.press("我本人反映的问题")
        assert "TS-" in p.text or "探访没有来" in p.text
        await p.press_data(p.buttons()[0].data or "")
        assert f"{who} 反映" in p.text
        assert not any("tickets:move:" in (b.data or "") for b in p.buttons())  # seeing is not handling


@pytest.mark.parametrize(("locale", "typed"), [("zh-Hans", "问题反映进度"), ("zh-Hant", "問題反映進度"), ("en", "problem reports")])
async def test_a_menu_label_typed_opens_it(bot, voice, locale, typed) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "res-menu", locale=locale)
    await p.say("/menu")
    await p.say(typed)  # no intent is named like that: the menu's button, typed
    assert i18n.t(locale, "tickets.empty_mine") in p.text
