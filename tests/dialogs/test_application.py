"""The guided application, driven as an organization member would, on both databases."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs import i18n
from dialogs.context import DialogSettings
from dialogs.flows.application import parse_outcomes
from dialogs.registry import build_engine
from store import models as m
from testing.chat import Person
from testing.factories import NOW, World, bind_identity, build_world

YEAR = NOW.year + 1



@pytest.fixture
async def world(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[World]:
    async with sessions() as s, s.begin():
        w = await build_world(s)
        for n, org in enumerate((w.org, w.org2, w.barred_org, w.unqualified_org), start=1):
            await bind_identity(s, "test", f"org{n}", "org", org.id)
        await bind_identity(s, "test", "org1b", "org", w.org.id)
    yield w


@pytest.fixture
def bot(sessions):  # type: ignore[no-untyped-def]
    return build_engine(sessions, DialogSettings(), clock=lambda: NOW)


ANSWERS = [
    ("title", "阳光助老·居家探访服务"),
    ("need", "辖区内80岁以上独居老人约300人，缺少日常照料和精神慰藉，需要定期探访。"),
    ("target_group", "南山区80岁以上独居老人"),
    ("beneficiaries", "三百"),
    ("objectives", "建立定期探访和紧急联络机制，降低意外风险。"),
    ("casework", "20"),
    ("group_sessions", "十二"),
    ("community_events", "6"),
    ("term", f"{YEAR}年1月1日至{YEAR}年12月31日"),
    ("total", "35万"),
    ("personnel", "20万"),
    ("activities", "８万"),
    ("materials", "20000"),
    ("administration", "3万"),
    ("other", "2万"),
    ("staff_total", "6"),
    ("social_workers", "4"),
    ("outcomes", "服务独居老人 120 人\n开展上门探访 500 次"),
]


async def fill(p: Person, answers=ANSWERS) -> None:  # type: ignore[no-untyped-def]
    for _, text in answers:
        await p.say(text)
        assert "⚠️" not in p.text, (text, p.text)


async def test_full_application_is_submitted_with_reference(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "org1")
    await p.say("/apply")
    assert "阳光社工服务中心" in p.text
    await p.press(world.call.title_zh)
    await p.press("居家养老服务")
    await fill(p)
    assert "请核对申报书内容" in p.text and "35万元" in p.text
    await p.press("提交")
    assert "SQ-" in p.text
    async with sessions() as s:
        app = (await s.execute(select(m.Application))).scalar_one()
        assert app.status == "submitted" and app.reference == f"SQ-{YEAR}-{app.id:06d}"
        assert app.total_fen == 35_000_000 and app.content["beneficiaries"] == 300
        lines = dict((await s.execute(select(m.BudgetLine.kind, m.BudgetLine.amount_fen))).all())
        assert lines == {"personnel": 20_000_000, "activities": 8_000_000, "materials": 2_000_000,
                         "administration": 3_000_000, "other": 2_000_000}
        assert sum(lines.values()) == app.total_fen
        assert await s.scalar(select(func.count()).select_from(m.AuditEntry).where(m.AuditEntry.action == "submit")) == 1


async def test_validation_explains_and_offers_help_after_two_failures(bot, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "org1")
    await p.say("/apply")
    await p.press(world.call.title_zh)
    await p.press("居家养老服务")
    await p.say("短")
    assert "太短" in p.text and "项目名称" in p.text
    assert len(p.last) == 1  # one message: what is wrong and the question again
    await p.say("x" * 61)
    assert "太长" in p.text
    assert "查看示例" in p.text and "离开" in p.text
    await p.press("查看示例")
    assert "阳光助老" in p.text
    await p.say("合格的项目名称")
    assert "需求分析" in p.text


async def test_budget_rules(bot, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "org1")
    await p.say("/apply")
    await p.press(world.call.title_zh)
    await p.press("居家养老服务")
    await fill(p, ANSWERS[:9])
    await p.say("60万")  # over the 50万 ceiling
    assert "上限" in p.text
    await p.say("35万")
    await fill(p, ANSWERS[10:13])
    await p.say("6万")  # administration over 15% of 35万
    assert "管理费不能超过" in p.text
    await p.say("3万")
    await p.say("1万")  # lines add to 34万
    assert "不一致" in p.text
    await p.say("2万")
    assert "团队" in p.text


async def test_term_rules(bot, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "org1")
    await p.say("/apply")
    await p.press(world.call.title_zh)
    await p.press("居家养老服务")
    await fill(p, ANSWERS[:8])
    await p.say(f"{YEAR}年1月1日至{YEAR + 1}年3月1日")
    assert "12 个月" in p.text
    await p.say("不是日期")
    assert "起止日期" in p.text


async def test_ineligible_organizations_are_told_why(bot, world) -> None:  # type: ignore[no-untyped-def]
    barred = Person(bot, "org3")
    await barred.say("/apply")
    assert "禁入期" in barred.text
    unqualified = Person(bot, "org4")
    await unqualified.say("/apply")
    assert "资质名录" in unqualified.text
    resident = Person(bot, "someone")
    await resident.say("/apply")
    assert "绑定链接" in resident.text  # not a bare refusal: how an organization gets there


async def test_save_exit_and_resume_after_restart(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "org1")
    await p.say("/apply")
    await p.press(world.call.title_zh)
    await p.press("居家养老服务")
    await fill(p, ANSWERS[:3])
    await p.press("保存并退出")
    assert "已保存草稿" in p.text
    restarted = build_engine(sessions, DialogSettings(), clock=lambda: NOW + timedelta(hours=3))
    again = Person(restarted, "org1")
    await again.say("/apply")
    assert "继续填写" in again.text and "受益人数" in again.text
    colleague = Person(restarted, "org1b")  # same organization, other member: same draft
    await colleague.say("/apply")
    assert "受益人数" in colleague.text
    other_org = Person(restarted, "org2")
    await other_org.say("/apply")
    assert "受益人数" not in other_org.text and "项目指南" in other_org.text


async def test_edit_from_summary_returns_to_summary(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "org1")
    await p.say("/apply")
    await p.press(world.call.title_zh)
    await p.press("居家养老服务")
    await fill(p)
    await p.press("修改受益人数")
    assert "受益人数" in p.text and "300" in p.text
    await p.say("450")
    assert "请核对申报书内容" in p.text and "450" in p.text
    await p.press("修改申请金额")
    await p.say("40万")
    assert "不一致" in p.text  # lines no longer add up: listed on the summary
    await p.press("提交")
    assert "请先修改" in p.text
    async with sessions() as s:
        assert (await s.execute(select(m.Application.status))).scalar_one() == "draft"


async def test_stale_button_from_an_earlier_step_is_refused(bot, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "org1")
    await p.say("/apply")
    await p.press(world.call.title_zh)
    item_button = p.button("居家养老服务")
    await p.press_data(item_button.data or "")
    await p.press_data(item_button.data or "")
    assert "失效" in p.text and "项目名称" in p.text


async def test_closed_window_means_no_call(sessions, world) -> None:  # type: ignore[no-untyped-def]
    late = build_engine(sessions, DialogSettings(), clock=lambda: NOW + timedelta(days=30))
    p = Person(late, "org1")
    await p.say("/apply")
    assert "没有正在征集" in p.text


def test_outcome_parsing() -> None:
    assert parse_outcomes("1. 服务老人 120 人\n- 探访：五百次\n满意度 90%") == [
        {"text": "服务老人", "target": 120.0, "unit": "人"},
        {"text": "探访", "target": 500.0, "unit": "次"},
        {"text": "满意度", "target": 90.0, "unit": "%"},
    ]
    assert parse_outcomes("没有数字的目标") is None
    assert parse_outcomes("") is None


async def test_summary_and_submit_read_each_row_once(bot, engine, world) -> None:  # type: ignore[no-untyped-def]
    """The summary's checks and the submit share the turn's rows: the call, the organization and the
    catalog item are read once per turn however many checks need them, and the budget lines go in one
    statement (the slowest turns of the flow, measured by bench/turns.py)."""
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)
        gc.collect()  # the collector may run at any statement: rows nobody holds leave the identity map

    p = Person(bot, "org1")
    await p.say("/apply")
    await p.press(world.call.title_zh)
    await p.press("居家养老服务")
    await fill(p, ANSWERS[:-1])
    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        await p.say(ANSWERS[-1][1])  # the last answer: every check runs for the summary
        assert "请核对申报书内容" in p.text
        summary = list(statements)
        statements.clear()
        await p.press("提交")
        assert "SQ-" in p.text
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)

    def reads(table: str, sql: list[str]) -> int:
        return sum(1 for s in sql if s.lstrip().startswith("SELECT") and f"FROM {table} " in s + " "
                   and f"FROM {table} JOIN" not in s)

    for sql in (summary, statements):
        assert reads("calls", sql) <= 2, sql  # the open calls for the choice's label, and the call itself
        assert reads("organizations", sql) == 1, sql
        assert reads("catalog_items", sql) <= 1, sql
    assert sum(1 for s in statements if s.startswith("INSERT INTO budget_lines")) == 1


async def test_a_turn_reads_a_row_once_even_when_nobody_holds_it(engine, sessions, world) -> None:  # type: ignore[no-untyped-def]
    """The session's identity map holds rows weakly: a row the first check dropped would be read again
    by the next. ``Context.get`` keeps it for the rest of the turn, and reads a deleted one afresh."""
    from dialogs.context import Context, State
    from dialogs.types import Incoming

    selects: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("SELECT") and "FROM calls" in statement:
            selects.append(statement)

    async with sessions() as s, s.begin():
        identity = (await s.execute(select(m.Identity).where(m.Identity.external_id == "org1"))).scalar_one()
        ctx = Context(s, identity, State(), "zh-Hans", NOW, DialogSettings(), Incoming("test", "org1", "1"))
        event.listen(engine.sync_engine, "before_cursor_execute", seen)
        try:
            assert (await ctx.get(m.Call, world.call.id)).code == world.call.code
            gc.collect()
            assert (await ctx.get(m.Call, world.call.id)).code == world.call.code
            assert len(selects) == 1
            await s.delete(await ctx.get(m.Call, world.call.id))
            await s.flush()
            assert await ctx.get(m.Call, world.call.id) is None
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", seen)
        await s.rollback()


LENIENT = {  # the same answers as people type them, per language
    "zh-Hans": {"beneficiaries": "大约三百人", "term": "明年3月1日到明年年底", "total": "350k",
                "outcomes": "服务独居老人120人；开展上门探访500次", "submit": "提交", "leave": "取消",
                "yes": "是，离开"},
    "zh-Hant": {"beneficiaries": "大約三百人", "term": "明年3月1日到明年年底", "total": "350k",
                "outcomes": "服務獨居老人120人、開展上門探訪500次", "submit": "提交", "leave": "退出",
                "yes": "是，離開"},
    "en": {"beneficiaries": "about 300", "term": f"March 1, {YEAR} to the end of next year", "total": "350k",
           "outcomes": "older people served 120; home visits 500", "submit": "submit", "leave": "cancel",
           "yes": "Yes, leave"},
}


@pytest.mark.parametrize("locale", list(LENIENT))
async def test_lenient_answers_and_typed_labels_in_every_language(bot, sessions, world, locale) -> None:  # type: ignore[no-untyped-def]
    typed = LENIENT[locale]
    p = Person(bot, "org1", locale=locale)
    await p.say("/apply")
    await p.press_data(p.buttons()[0].data or "")  # the call
    await p.press_data(p.buttons()[0].data or "")  # the catalog item
    lenient = {**dict(ANSWERS), **{k: v for k, v in typed.items() if k in dict(ANSWERS)}}
    await fill(p, list(lenient.items()))
    await p.say(typed["submit"])  # the summary's button, typed
    assert "SQ-" in p.text
    assert any(b.data == "g:run:apply" for b in p.buttons())  # and the menu, not a bare message
    async with sessions() as s:
        app = (await s.execute(select(m.Application))).scalar_one()
    assert app.status == "submitted" and app.content["beneficiaries"] == 300
    assert (app.start_on.isoformat(), app.end_on.isoformat()) == (f"{YEAR}-03-01", f"{YEAR}-12-31")
    assert app.total_fen == 35_000_000 and len(app.content["outcomes_parsed"]) == 2


@pytest.mark.parametrize("locale", list(LENIENT))
async def test_leave_words_offer_to_leave_and_keep_the_draft(bot, sessions, world, locale) -> None:  # type: ignore[no-untyped-def]
    typed = LENIENT[locale]
    p = Person(bot, "org1", locale=locale)
    await p.say("/apply")
    await p.press_data(p.buttons()[0].data or "")
    await p.press_data(p.buttons()[0].data or "")
    await fill(p, ANSWERS[:2])
    await p.say(typed["leave"])
    assert [b.data for b in p.buttons()] == ["g:leave", "g:stay"]
    await p.press_data("g:stay")
    assert "⚠️" not in p.text and p.buttons()  # the same question again, nothing taken as the answer
    await p.say(typed["leave"])
    await p.say(typed["yes"])  # the offer's button, typed
    saved = i18n.t(locale, "form.saved").split("。")[0].split(".")[0]
    assert saved in p.text and any(b.data == "g:run:apply" for b in p.buttons())
    async with sessions() as s:
        app = (await s.execute(select(m.Application))).scalar_one()
    assert app.status == "draft" and app.title == ANSWERS[0][1]
    await p.say("/apply")
    assert saved not in p.text and len(p.last) >= 2  # resumed where it was left


@pytest.mark.parametrize("locale", ["zh-Hans", "zh-Hant", "en"])
async def test_a_photo_or_contact_on_a_text_step_asks_for_text(bot, world, tmp_path, locale) -> None:  # type: ignore[no-untyped-def]
    expected, empty = i18n.t(locale, "form.error.text_not_media"), i18n.t(locale, "form.error.empty")
    p = Person(bot, "org1", locale=locale)
    await p.say("/apply")
    await p.press_data(p.buttons()[0].data or "")
    await p.press_data(p.buttons()[0].data or "")
    await p.send_photo(str(tmp_path / "x.jpg"))
    assert expected in p.text and empty not in p.text
    await p.send_other("contact")
    assert expected in p.text and empty not in p.text
    assert "名片" in i18n.t("zh-Hans", "form.error.text_not_media") and "contact" in i18n.t("en", "form.error.text_not_media")


async def test_help_offers_an_example_only_where_there_is_one(bot, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "org1")
    await p.say("/apply")
    await p.press_data(p.buttons()[0].data or "")
    for _ in range(2):
        await p.say("不存在的目录项目")
        assert "“不存在的目录项目”不是这里的选项" in p.text and "居家养老服务" in p.text  # the options, named
    assert "查看示例" not in p.text and "离开" in p.text  # the catalog item has no example
    await p.press_data(p.buttons()[0].data or "")
    for _ in range(2):
        await p.say("短")
    assert "查看示例" in p.text and "查看示例" in [b.label for b in p.buttons()]


def test_targets_on_one_line() -> None:
    assert parse_outcomes("个案30个、小组10场；社区活动 6场") == [
        {"text": "个案", "target": 30.0, "unit": "个"},
        {"text": "小组", "target": 10.0, "unit": "场"},
        {"text": "社区活动", "target": 6.0, "unit": "场"},
    ]
    assert parse_outcomes("服务老人、儿童 1,000人") == [{"text": "服务老人、儿童", "target": 1000.0, "unit": "人"}]


@pytest.mark.parametrize("locale", ["zh-Hans", "zh-Hant", "en"])
async def test_apply_and_status_tell_a_resident_how_an_organization_binds(bot, world, locale) -> None:  # type: ignore[no-untyped-def]
    resident = Person(bot, "someone", locale=locale)
    for command in ("/apply", "/status"):
        await resident.say(command)
        assert "/start" in resident.text and resident.buttons()  # how to bind, then the menu
