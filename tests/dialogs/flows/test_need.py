"""The /need flow's own steps (dialogs/flows/needs.py), pressed through the engine on SQLite and
PostgreSQL: each question, consent and contact, the summary, filing; stale and forged presses, typed
text, the language changed midway."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.fields import SKIP
from dialogs.flows.needs import NeedFlow
from dialogs.forms import Answer, Edit, Leave, Submit
from store import models as m
from testing.chat import Person
from testing.factories import World, build_world
from tests.dialogs.flows.saved import saved
from tests.dialogs.test_needs_complaints import identity_id

STALE = "这个按钮已经失效了"
ASK_CATEGORY = "您建议的是哪一类服务？"
ASK_DISTRICT = "在哪个区？"
ASK_GROUP = "主要是哪些人需要这项服务？"
ASK_CONSENT = "是否同意工作人员就这条建议联系您？"
SUMMARY = "请核对您的需求建议"
DESCRIPTION = "小区里独居老人多，附近没有长者饭堂。"


def press(payload: Answer | Edit | Leave | Submit) -> str:
    return payload.pack("need")


@pytest.fixture
async def world(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[World]:
    """The catalog's classes 养老服务 and 社区治理; the district 南山区."""
    async with sessions() as s, s.begin():
        w = await build_world(s)
    yield w


async def needs(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, str | None, str, str, bool, str | None, int | None]]:
    async with sessions() as s:
        rows = (await s.execute(select(m.Need).order_by(m.Need.id))).scalars().all()
    return [(n.category, n.district, n.target_group, n.description, n.contact_consent, n.contact, n.identity_id)
            for n in rows]


async def to_consent(p: Person) -> None:
    await p.say("/need")
    await p.press_data(press(Answer("category", "养老服务")))
    await p.press_data(press(Answer("district", "南山区")))
    await p.press_data(press(Answer("target_group", "elderly")))
    await p.say(DESCRIPTION)
    await p.press_data(press(Answer("photo", SKIP)))
    assert ASK_CONSENT in p.text


def test_the_table_names_every_button_of_the_flow() -> None:
    assert {a: r.payload for a, r in NeedFlow.presses.items()} == {"a": Answer, "edit": Edit, "submit": Submit, "leave": Leave}


async def test_each_step_answered_with_consent_and_contact(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "res1")
    await p.say("/need")
    assert ASK_CATEGORY in p.text and p.button("养老服务").data == press(Answer("category", "养老服务"))
    await p.press_data(press(Answer("category", "养老服务")))
    assert ASK_DISTRICT in p.text and p.button("南山区").data == press(Answer("district", "南山区"))
    await p.press_data(press(Answer("district", "南山区")))
    assert ASK_GROUP in p.text
    await p.press_data(press(Answer("target_group", "elderly")))
    await p.say(DESCRIPTION)
    await p.press_data(press(Answer("photo", SKIP)))
    await p.press_data(press(Answer("consent", "yes")))
    assert "请留下手机号或微信号" in p.text
    await p.say("13912345678")
    assert SUMMARY in p.text and "老年人" in p.text and "13912345678" in p.text
    await p.press_data(press(Edit("target_group")))
    await p.press_data(press(Answer("target_group", "families")))
    assert SUMMARY in p.text and "困难家庭" in p.text
    assert await needs(sessions) == []
    await p.press_data(press(Submit()))
    assert "您的需求建议已提交" in p.text
    res1 = await identity_id(sessions, "res1")
    assert await needs(sessions) == [("养老服务", "南山区", "families", DESCRIPTION, True, "tel:13912345678", res1)]


async def test_without_consent_no_contact_is_asked_and_nobody_is_kept(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "res1")
    await to_consent(p)
    await p.press_data(press(Answer("consent", "no")))
    assert SUMMARY in p.text and "请留下手机号" not in p.text
    await p.press_data(press(Edit("contact")))  # the contact does not apply without consent
    assert STALE in p.text and SUMMARY in p.text
    await p.press_data(press(Submit()))
    assert "已匿名提交" in p.text
    assert await needs(sessions) == [("养老服务", "南山区", "elderly", DESCRIPTION, False, None, None)]


async def test_leaving_files_nothing(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "res1")
    await p.say("/need")
    await p.press_data(press(Answer("category", "养老服务")))
    await p.press_data(press(Leave()))
    assert "已取消" in p.text
    assert await needs(sessions) == [] and (await saved(sessions, "res1"))[:2] == (None, None)


async def test_a_press_from_a_passed_step_is_stale_and_changes_nothing(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "res1")
    await p.say("/need")
    await p.press_data(press(Answer("category", "养老服务")))
    before = await saved(sessions, "res1")
    for passed in (Answer("category", "社区治理"), Answer("consent", "yes"), Edit("category"), Submit()):
        await p.press_data(press(passed))
        assert STALE in p.text and ASK_DISTRICT in p.text, passed
    for forged in ("need:category:养老服务", "need:a:district", "need:a:", "need:edit:", "need:zap:1"):
        await p.press_data(forged)
        assert STALE in p.text and ASK_DISTRICT in p.text, forged
    assert await saved(sessions, "res1") == before
    await p.press_data(press(Answer("district", "南山区")))
    await p.press_data(press(Answer("target_group", "elderly")))
    await p.say(DESCRIPTION)
    await p.press_data(press(Answer("photo", SKIP)))
    await p.press_data(press(Answer("consent", "no")))
    await p.press_data(press(Submit()))
    await p.press_data(press(Submit()))  # pressed twice: the form is over
    assert STALE in p.text
    assert len(await needs(sessions)) == 1


async def test_forged_answers_are_not_taken(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "res1")
    await p.say("/need")
    await p.press_data(press(Answer("category", "不存在的类别")))
    assert "⚠️" in p.text and ASK_CATEGORY in p.text
    await p.press_data(press(Answer("category", "养老服务")))
    await p.press_data(press(Answer("district", "火星区")))
    assert "⚠️" in p.text and ASK_DISTRICT in p.text
    await p.press_data(press(Answer("district", SKIP)))  # the district is required
    assert STALE in p.text and ASK_DISTRICT in p.text
    _, step, slots = await saved(sessions, "res1")
    assert step == "district" and slots["form"]["values"] == {"category": "养老服务"}


async def test_typed_text_is_read_or_explained(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "res1")
    await p.say("/need")
    await p.press_data(press(Answer("category", "养老服务")))
    await p.say("火星区")
    assert "没有找到这个区" in p.text and ASK_DISTRICT in p.text
    await p.say("南山")
    assert ASK_GROUP in p.text  # clearly one district: taken
    await p.press_data(press(Answer("target_group", "elderly")))
    await p.say(DESCRIPTION)
    await p.press_data(press(Answer("photo", SKIP)))
    await p.say("也许吧")
    assert "请回答“是”或“否”" in p.text and ASK_CONSENT in p.text
    await p.say("否")
    await p.say("可以了")
    assert "请使用下面的按钮修改某一项或提交" in p.text and SUMMARY in p.text
    assert await needs(sessions) == []


async def test_after_lang_the_step_is_asked_again_in_the_new_language(bot, sessions, world) -> None:  # type: ignore[no-untyped-def]
    p = Person(bot, "res1")
    await p.say("/need")
    await p.say("/lang en")
    assert "Language set to English" in p.text and "What kind of service do you suggest?" in p.text
    assert p.button("Elderly care").data == press(Answer("category", "养老服务"))
    await p.press_data(press(Answer("category", "养老服务")))
    assert "In which district?" in p.text
