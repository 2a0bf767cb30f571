"""Status, progress and staff decisions, driven as organization members and staff would, on both databases."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.context import SHANGHAI, DialogSettings
from dialogs.flows.progress import FeedPage
from dialogs.flows.review import Act, Open
from dialogs.flows.status import OpenApplication, OpenProject, Withdraw
from dialogs.forms import Answer, Leave
from dialogs.registry import build_engine
from store import models as m
from store.projects import add_progress, department_progress, next_milestones, public_progress
from testing.chat import Person
from testing.factories import NOW, World, bind_identity, build_world

YEAR = NOW.year + 1
CONTENT = {
    "need": "辖区内80岁以上独居老人约300人，缺少日常照料和精神慰藉，需要定期探访。",
    "target_group": "南山区80岁以上独居老人",
    "beneficiaries": 300,
    "objectives": "建立定期探访和紧急联络机制，降低意外风险。",
    "casework": 20,
    "group_sessions": 12,
    "community_events": 6,
    "staff_total": 6,
    "social_workers": 4,
    "outcomes": "服务独居老人 120 人\n开展上门探访 500 次",
}



@pytest.fixture
async def world(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[World]:
    async with sessions() as s, s.begin():
        w = await build_world(s)
        await bind_identity(s, "test", "org1", "org", w.org.id)
        await bind_identity(s, "test", "org2", "org", w.org2.id)
        await bind_identity(s, "test", "org3", "org", w.barred_org.id)
        await bind_identity(s, "test", "staff1", "staff", w.dept.id)
        await bind_identity(s, "test", "staff2", "staff", w.other_dept.id)
    yield w


@pytest.fixture
def bot(sessions):  # type: ignore[no-untyped-def]
    return build_engine(sessions, DialogSettings(), clock=lambda: NOW)


async def add_application(
    s: AsyncSession, w: World, org: m.Organization, *, title: str, status: str = "submitted",
    total: int = 35_000_000, item: m.CatalogItem | None = None, age_days: int = 3,
) -> m.Application:
    """An application as the form leaves it, put straight into the database in ``status``."""
    item = item or w.item
    at = NOW - timedelta(days=age_days)
    app = m.Application(
        call_id=w.call.id, catalog_item_id=item.id, organization_id=org.id, status=status, title=title,
        start_on=date(YEAR, 1, 1), end_on=date(YEAR, 12, 31), total_fen=total,
        content={**CONTENT, "call": str(w.call.id), "item": str(item.id), "title": title, "total": total,
                 "term": [f"{YEAR}-01-01", f"{YEAR}-12-31"]},
        created_at=at, updated_at=at, submitted_at=None if status == "draft" else at,
    )
    s.add(app)
    await s.flush()
    if status != "draft":
        app.reference = f"SQ-{YEAR}-{app.id:06d}"
        shares = {"personnel": 60, "activities": 20, "materials": 10, "administration": 5, "other": 5}
        s.add_all(m.BudgetLine(application_id=app.id, kind=k, amount_fen=total * v // 100) for k, v in shares.items())
        await s.flush()
    return app


async def one(sessions: async_sessionmaker[AsyncSession], model: type, ident: int):  # type: ignore[no-untyped-def]
    async with sessions() as s:
        return await s.get(model, ident)


# -- /status -------------------------------------------------------------------------------------

async def test_status_shows_only_the_organizations_own_records(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        mine = await add_application(s, world, world.org, title="阳光长者探访")
        draft = await add_application(s, world, world.org, title="阳光草稿", status="draft")
        await add_application(s, world, world.org2, title="彩虹青少年成长")
    p = Person(bot, "org1")
    await p.say("/status")
    assert "阳光长者探访" in p.text and mine.reference in p.text and "已提交" in p.text
    assert "草稿《阳光草稿》" in p.text and world.project.code in p.text
    assert "彩虹青少年成长" not in p.text and world.other_project.code not in p.text
    q = Person(bot, "org2")
    await q.say("/status")
    assert "彩虹青少年成长" in q.text and world.other_project.code in q.text
    assert "阳光" not in q.text and world.project.code not in q.text
    # forged buttons with the other organization's ids: refused on every path
    for data in (OpenApplication(mine.id).pack("status"), OpenApplication(draft.id).pack("status"),
                 OpenProject(world.project.id).pack("status"), f"g:run:status:a{mine.id}",
                 Withdraw(mine.id).pack("status")):
        await q.press_data(data)
        assert "不属于您的机构" in q.text, data
        assert "阳光长者探访" not in q.text and "阳光草稿" not in q.text
    assert (await one(sessions, m.Application, mine.id)).status == "submitted"
    await p.press("阳光草稿")
    assert "尚未提交" in p.text and p.button("撤回申报") and p.button("继续填写")


async def test_status_project_detail_has_payments_and_deadlines(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    day = timedelta(days=1)
    async with sessions() as s, s.begin():
        pid = world.project.id
        s.add_all([
            m.Milestone(project_id=pid, kind="contract_signing", due_at=NOW - 300 * day, done_at=NOW - 301 * day),
            m.Milestone(project_id=pid, kind="midterm_report", due_at=NOW - 3 * day),
            m.Milestone(project_id=pid, kind="midterm_inspection", due_at=NOW + 6 * day),
            m.Milestone(project_id=pid, kind="final_report", due_at=NOW + 40 * day),
            m.Disbursement(project_id=pid, installment=1, amount_fen=15_000_000, paid_on=date(2026, 2, 1)),
            m.Disbursement(project_id=pid, installment=2, amount_fen=9_000_000, paid_on=date(2026, 7, 1)),
        ])
    p = Person(bot, "org1")
    await p.say("/status")
    assert "已拨付 24万元；下一个截止：中期报告 2026年11月26日" in p.text
    await p.press(world.project.title_zh)
    text = p.text
    assert "实施中" in text and "✓公示中 → ✓已签约 → ●实施中 → ○中期检查通过" in text
    assert "已拨付：24万元（2 笔）" in text and "第 2 笔：9万元，2026年7月1日" in text
    assert "合同签订，2026年2月1日 完成" in text
    ahead = text[text.index("接下来的截止日期"):]
    assert ahead.index("中期报告") < ahead.index("中期检查") < ahead.index("结项报告") and "合同签订" not in ahead
    assert "中期报告：2026年11月26日 截止，已逾期 3 天" in text and "中期检查：2026年12月5日 截止，还有 6 天" in text
    async with sessions() as s:
        deadlines = await next_milestones(s, pid, NOW, limit=2)
    assert [(d.kind, d.overdue) for d in deadlines] == [("midterm_report", True), ("midterm_inspection", False)]
    en = Person(bot, "org1", locale="en")
    await en.say("/status")
    assert "application(s)" in en.text and world.project.code in en.text


async def test_withdrawal_asks_for_confirmation(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        app = await add_application(s, world, world.org, title="阳光长者探访", status="eligible")
    p = Person(bot, "org1")
    await p.say("/status")
    await p.press("阳光长者探访")
    await p.press("撤回申报")
    assert "确定要撤回" in p.text
    await p.press("不撤回")
    assert "没有撤回" in p.text
    assert (await one(sessions, m.Application, app.id)).status == "eligible"
    await p.press("撤回申报")
    await p.press("确认撤回")
    assert "已撤回《阳光长者探访》" in p.text and not any("撤回" in b.label for b in p.buttons())
    assert "✓ 2026年11月29日 撤回申报" in p.text
    async with sessions() as s:
        assert (await s.get(m.Application, app.id)).status == "withdrawn"
        entry = (await s.execute(select(m.AuditEntry).where(m.AuditEntry.action == "withdraw"))).scalar_one()
        ident = (await s.execute(select(m.Identity.id).where(m.Identity.external_id == "org1"))).scalar_one()
        assert (entry.entity_key, entry.actor, entry.detail["from"]) == (app.reference, f"identity:{ident}", "eligible")
    await p.press_data(f"status:withdraw:{app.id}")  # an old button: final state now
    assert "不能撤回" in p.text


async def test_withdrawal_after_a_decision_is_refused_by_the_lifecycle(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        app = await add_application(s, world, world.org, title="阳光长者探访", status="under_review")
    p = Person(bot, "org1")
    await p.say("/status")
    await p.press("阳光长者探访")
    await p.press("撤回申报")
    async with sessions() as s, s.begin():  # staff decide while the confirmation is on screen
        (await s.get(m.Application, app.id)).status = "rejected"
    await p.press("确认撤回")
    assert "已经不能撤回" in p.text
    async with sessions() as s:
        assert (await s.get(m.Application, app.id)).status == "rejected"
        assert await s.scalar(select(func.count()).select_from(m.AuditEntry)) == 0
    await p.press_data("status:confirm:yes")  # the same confirmation again: no longer active
    assert "失效" in p.text


async def test_status_list_paginates(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        for n in range(10):
            await add_application(s, world, world.org, title=f"申报第{n:02d}号", age_days=20 - n)
    p = Person(bot, "org1")
    await p.say("/status")
    assert "第 1/2 页" in p.text and len(p.buttons()) == 9  # 8 records + next
    assert "申报第09号" in p.text and "申报第02号" in p.text and "申报第01号" not in p.text
    await p.press("下一页")
    assert "第 2/2 页" in p.text and "申报第01号" in p.text and world.project.code in p.text
    assert "上一页" in p.text or p.button("上一页")
    await p.press("申报第00号")
    assert "申报第00号" in p.text and "办理进度" in p.text
    await p.press("返回列表")
    assert "第 1/2 页" in p.text


# -- /progress -----------------------------------------------------------------------------------

async def test_progress_with_photo_public_and_internal(bot, sessions, world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    photo = str(tmp_path / "visit.jpg")
    p = Person(bot, "org1")
    await p.say("/progress")
    labels = " ".join(b.label for b in p.buttons())
    assert world.project.code in labels and world.other_project.code not in labels
    await p.press(world.project.code)
    await p.say("本月探访独居长者32人次，开展健康讲座2场。")
    await p.send_photo(photo)
    await p.press("是")
    assert "请核对这条进展" in p.text and "photo.jpg" in p.text
    await p.press("提交")
    assert "已提交并公开" in p.text
    await p.say("/progress")
    await p.press(world.project.code)
    await p.say("志愿者培训遇到场地问题，需要协调。")
    await p.press("跳过")
    await p.press("否")
    await p.press("提交")
    assert "仅工作人员可见" in p.text
    async with sessions() as s:
        rows = (await s.execute(select(m.ProgressUpdate).order_by(m.ProgressUpdate.id))).scalars().all()
        ident = (await s.execute(select(m.Identity.id).where(m.Identity.external_id == "org1"))).scalar_one()
        first, second = rows
        assert (first.public, first.media_path, first.media_kind) == (True, photo, "photo")
        assert (second.public, second.media_path) == (False, None)
        assert first.author_identity_id == ident and first.reported_on == NOW.astimezone(SHANGHAI).date()
        assert first.text_digest == hashlib.sha256(first.text_zh.encode()).hexdigest()
        public = await public_progress(s, world.project.id)
        assert [u.id for u in public] == [first.id]
    staff = Person(bot, "staff1")
    await staff.say("/progress")
    assert "共 2 条" in staff.text and "【内部】" in staff.text and "场地问题" in staff.text
    assert "健康讲座" in staff.text and "📎 附照片" in staff.text
    other = Person(bot, "staff2")
    await other.say("/progress")
    assert "还没有项目进展" in other.text


async def test_progress_refuses_foreign_projects_repeats_and_residents(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "org2")
    await p.say("/progress")
    await p.press_data(Answer("project", str(world.project.id)).pack("progress"))  # the other organization's project
    assert "⚠️" in p.text and "选择" in p.text
    await p.press(world.other_project.code)
    await p.say("今天开展青少年小组活动一次。")
    await p.press("跳过")
    await p.press("是")
    await p.press("提交")
    await p.say("/progress")
    await p.press(world.other_project.code)
    await p.say("今天开展青少年小组活动一次。")
    await p.press("跳过")
    await p.press("是")
    await p.press("提交")
    assert "没有重复保存" in p.text
    async with sessions() as s:
        assert [u.project_id for u in (await s.execute(select(m.ProgressUpdate))).scalars()] == [world.other_project.id]
    idle = Person(bot, "org3")
    await idle.say("/progress")
    assert "没有正在实施的项目" in idle.text
    resident = Person(bot, "someone")
    await resident.say("/progress")
    assert "没有权限" in resident.text


async def test_staff_progress_feed_paginates(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        for n in range(10):
            await add_progress(s, world.project.id, reported_on=date(2026, 11, 1 + n), text=f"第{n:02d}次进展",
                               public=n % 2 == 0, author_identity_id=None)
        entries, total = await department_progress(s, world.other_dept.id)
        assert (entries, total) == ([], 0)
    staff = Person(bot, "staff1")
    await staff.say("/progress")
    assert "第 1/2 页" in staff.text and "第09次进展" in staff.text and "第02次进展" in staff.text
    assert "第01次进展" not in staff.text
    await staff.press("下一页")
    assert "第 2/2 页" in staff.text and "第00次进展" in staff.text and "第09次进展" not in staff.text
    await staff.press_data(FeedPage(999).pack("progress"))  # past the end: the last page
    assert "第 2/2 页" in staff.text


# -- /applications -------------------------------------------------------------------------------

async def test_full_decision_path_opens_the_project(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        app = await add_application(s, world, world.org, title="阳光长者探访")
    staff = Person(bot, "staff1")
    await staff.say("/applications")
    assert app.reference in staff.text and "阳光社工服务中心" in staff.text
    await staff.press("阳光长者探访")
    text = staff.text
    assert "独居老人约300人" in text and "评估等级：4A" in text and "人员费用：21万元" in text
    assert "个案 20 个" in text and "开展上门探访 500 次" in text and "持证社工 4 人" in text
    assert "进入评审" not in text
    await staff.press("资格审查通过")
    assert (await one(sessions, m.Application, app.id)).status == "eligible"
    await staff.press("进入评审")
    assert (await one(sessions, m.Application, app.id)).status == "under_review"
    await staff.press("批准立项")
    assert "申请金额 35万元" in staff.text and "核定金额" in staff.text
    await staff.say("60万")
    assert "不能超过申请金额 35万元" in staff.text
    await staff.say("30万")
    assert "请确认：批准" in staff.text
    await staff.press("提交")
    assert f"项目编号 LJ-{YEAR}-001" in staff.text  # the city's codes look like LJ-2026-001
    async with sessions() as s:
        decided = await s.get(m.Application, app.id)
        assert (decided.status, decided.granted_fen, decided.decided_at) == ("approved", 30_000_000, NOW)
        project = (await s.execute(select(m.Project).where(m.Project.application_id == app.id))).scalar_one()
        assert project.code == f"LJ-{YEAR}-001" and project.status == "publicized"
        assert (project.amount_fen, project.organization_id, project.department_id, project.catalog_item_id) == (
            30_000_000, world.org.id, world.dept.id, world.item.id)
        assert (project.start_on, project.end_on, project.title_zh) == (date(YEAR, 1, 1), date(YEAR, 12, 31), "阳光长者探访")
        milestones = (await s.execute(
            select(m.Milestone).where(m.Milestone.project_id == project.id).order_by(m.Milestone.due_at)
        )).scalars().all()
        assert [ms.kind for ms in milestones] == [
            "contract_signing", "midterm_report", "midterm_inspection", "final_report", "final_acceptance"]
        local = [ms.due_at.astimezone(SHANGHAI) for ms in milestones]
        assert local[0].date() == date(YEAR - 1, 12, 25) and local[0].hour == 17
        assert local[3].date() == date(YEAR + 1, 1, 10)
        staff_id = (await s.execute(select(m.Identity.id).where(m.Identity.external_id == "staff1"))).scalar_one()
        entries = (await s.execute(select(m.AuditEntry).order_by(m.AuditEntry.id))).scalars().all()
        assert [(e.action, e.actor) for e in entries] == [
            (a, f"identity:{staff_id}") for a in ("eligible", "review", "approve", "notice.open")]
        assert entries[-2].detail["project"] == project.code
        # every approval opens the public notice, by the same working-day rule as the committee's
        assert await s.get(m.PublicNotice, project.id) is not None
    org = Person(bot, "org1")
    await org.say("/status")
    twins = [b.label for b in org.buttons() if "阳光长者探访" in b.label]  # the application and its project
    assert len(twins) == 2 and "申报" in twins[0] and f"项目 {project.code}" in twins[1], twins
    en = Person(bot, "org1", locale="en")
    await en.say("/status")
    assert [b.label.split(" · ")[0].split(". ", 1)[1].split()[0] for b in en.buttons()[:2]] == ["Application", "Project"]
    await org.say("/status")
    await org.press("阳光长者探访")
    assert "已立项" in org.text and "核定金额：30万元" in org.text and "资格审查通过" in org.text
    assert "批准立项" in org.text and project.code in org.text
    await org.press("查看项目")
    assert "公示中" in org.text and "合同签订" in org.text


async def test_ineligible_and_reject_need_reasons(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        first = await add_application(s, world, world.org, title="阳光长者探访")
        second = await add_application(s, world, world.org, title="阳光社区营造", status="under_review")
        costly = await add_application(s, world, world.org2, title="彩虹社区营造", status="under_review",
                                       total=40_000_000, item=world.item2)
    staff = Person(bot, "staff1")
    await staff.say("/applications")
    await staff.press("阳光长者探访")
    await staff.press("资格审查不通过")
    await staff.say("否")
    assert "太短" in staff.text
    await staff.say("未列入本年度资质名录")
    await staff.press("提交")
    assert "资格审查不通过" in staff.text
    await staff.press("阳光社区营造")
    await staff.press("不予立项")
    await staff.say("服务设计与需求分析不匹配")
    await staff.press("提交")
    await staff.press("彩虹社区营造")
    await staff.press("批准立项")
    await staff.say("35万")
    assert "上限 30万元" in staff.text
    await staff.press_data(Leave().pack("review"))
    assert "没有做出决定" in staff.text
    async with sessions() as s:
        a, b, c = [await s.get(m.Application, x.id) for x in (first, second, costly)]
        assert (a.status, a.decision_reason, a.decided_at) == ("eligibility_failed", "未列入本年度资质名录", NOW)
        assert (b.status, b.decision_reason) == ("rejected", "服务设计与需求分析不匹配")
        assert c.status == "under_review" and await s.scalar(select(func.count()).select_from(m.Project)) == 2
    org = Person(bot, "org1")
    await org.say("/status")
    await org.press("阳光长者探访")
    assert "资格审查未通过" in org.text and "说明：未列入本年度资质名录" in org.text
    assert not any("撤回" in b.label for b in org.buttons())


async def other_department_item(s: AsyncSession, w: World) -> m.CatalogItem:
    item = m.CatalogItem(year=YEAR, code="C01", level1_zh="助残服务", name_zh="康复训练",
                         department_id=w.other_dept.id, ceiling_fen=20_000_000)
    s.add(item)
    await s.flush()
    return item


async def test_only_staff_of_the_department_decide(sessions, bot, world) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        app = await add_application(s, world, world.org, title="阳光长者探访")
        draft = await add_application(s, world, world.org2, title="彩虹草稿", status="draft")
        item3 = await other_department_item(s, world)
    for who in ("someone", "org1"):
        p = Person(bot, who)
        await p.say("/applications")
        assert "没有权限" in p.text
        await p.press_data(f"g:run:review:a{app.id}")
        assert "没有权限" in p.text and "阳光长者探访" not in p.text
    other = Person(bot, "staff2")
    await other.say("/applications")
    assert "没有等待处理的申报" in other.text
    await other.press_data(f"g:run:review:a{app.id}")
    assert "不属于您所在的部门" in other.text and "独居老人" not in other.text
    async with sessions() as s, s.begin():
        await add_application(s, world, world.org2, title="彩虹康复训练", total=10_000_000, item=item3)
    await other.say("/applications")
    assert "彩虹康复训练" in other.text and "阳光长者探访" not in other.text
    for press in (Open(app.id), Act(app.id, "eligible"), Act(app.id, "ineligible")):
        await other.press("彩虹康复训练")  # on a detail of their own, where decisions are pressed
        await other.press_data(press.pack("review"))
        assert "不属于您所在的部门" in other.text, press
    assert (await one(sessions, m.Application, app.id)).status == "submitted"
    staff = Person(bot, "staff1")
    await staff.say("/applications")
    await staff.press_data(Open(draft.id).pack("review"))
    assert "没有找到" in staff.text and "彩虹草稿" not in staff.text
    await staff.press("阳光长者探访")
    await staff.press("资格审查不通过")
    async with sessions() as s, s.begin():  # rebound to another department mid-decision
        ident = (await s.execute(select(m.Identity).where(m.Identity.external_id == "staff1"))).scalar_one()
        ident.department_id = world.other_dept.id
    await staff.say("未列入本年度资质名录")
    assert "不属于您所在的部门" in staff.text
    assert (await one(sessions, m.Application, app.id)).status == "submitted"
    await staff.press_data(Act(app.id, "approve").pack("review"))  # a decision pressed on the queue: not its step
    assert "这个按钮已经失效了" in staff.text and "阳光长者探访" not in staff.text
    assert (await one(sessions, m.Application, app.id)).status == "submitted"


async def test_stale_action_and_admin_sees_every_department(sessions, world) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        mine = await add_application(s, world, world.org, title="阳光长者探访")
        item3 = await other_department_item(s, world)
        theirs = await add_application(s, world, world.org2, title="彩虹康复训练", total=10_000_000, item=item3)
    bot = build_engine(sessions, DialogSettings(admins=frozenset({("test", "boss")})), clock=lambda: NOW)
    admin = Person(bot, "boss")
    await admin.say("/applications")
    assert "阳光长者探访" in admin.text and "彩虹康复训练" in admin.text and "所有部门" in admin.text
    await admin.press("彩虹康复训练")
    await admin.press("资格审查通过")
    assert (await one(sessions, m.Application, theirs.id)).status == "eligible"
    await admin.press_data(Act(theirs.id, "eligible").pack("review"))  # pressed twice
    assert "这个操作已经不适用" in admin.text
    assert (await one(sessions, m.Application, mine.id)).status == "submitted"


async def test_review_queue_paginates_oldest_first(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        for n in range(9):
            await add_application(s, world, world.org, title=f"申报第{n:02d}号", age_days=20 - n)
        await add_application(s, world, world.org, title="已立项的申报", status="approved")
    staff = Person(bot, "staff1")
    await staff.say("/applications")
    assert "共 9 份" in staff.text and "第 1/2 页" in staff.text
    assert "申报第00号" in staff.text and "申报第08号" not in staff.text and "已立项的申报" not in staff.text
    await staff.press("下一页")
    assert "申报第08号" in staff.text and "第 2/2 页" in staff.text
    await staff.say("随便说点什么")
    assert "请使用下面的按钮" in staff.text and "第 2/2 页" in staff.text


@pytest.mark.parametrize(("locale", "withdraw", "confirm", "done"), [
    ("zh-Hans", "撤回申报", "确认撤回", "已撤回"),
    ("zh-Hant", "撤回申報", "確認撤回", "已撤回"),
    ("en", "withdraw", "yes, withdraw", "withdrawn"),
])
async def test_typed_button_labels_work_outside_forms_too(bot, sessions, world, locale, withdraw, confirm, done) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as s, s.begin():
        app = await add_application(s, world, world.org, title="阳光长者探访", status="eligible")
    p = Person(bot, "org1", locale=locale)
    await p.say("/status")
    await p.press("阳光长者探访")
    await p.say(withdraw)
    await p.say(confirm)
    assert done in p.text
    assert (await one(sessions, m.Application, app.id)).status == "withdrawn"


def test_button_labels_are_cut_between_words_keeping_the_code() -> None:
    from dialogs.listing import fill_label, shorten

    assert shorten("Nanshan 24-Hour Psychological Support Hotline", 28) == "Nanshan 24-Hour…"
    assert shorten("南山区二十四小时心理援助热线服务项目", 10) == "南山区二十四小时心…"
    label = fill_label("LJ-2026-012 {title}", "Nanshan 24-Hour Psychological Support Hotline", 30)
    assert label == "LJ-2026-012 Nanshan 24-Hour…" and len(label) <= 30
    assert fill_label("LJ-2026-012 {title}", "Short", 30) == "LJ-2026-012 Short"
