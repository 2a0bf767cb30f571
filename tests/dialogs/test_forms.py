"""The form toolkit on a form of its own: every field kind read, checked, offered and shown; the form's
buttons as typed payloads; the summary's problems derived from the fields' own checks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.context import Context, DialogSettings
from dialogs.engine import Engine
from dialogs.fields import (
    CHOICE,
    DATE,
    INTEGER,
    MONEY,
    MULTI,
    RATING,
    TEXT,
    YES_NO,
    Choice,
    Field,
    Problem,
    Values,
)
from dialogs.forms import Answer, Edit, Form, Submit
from dialogs.registry import all_flows
from testing.chat import Person
from testing.factories import NOW


async def _options(ctx: Context, values: Values) -> list[Choice]:
    return [Choice("a", "甲方案"), Choice("b", "乙方案")]


async def _many(ctx: Context, values: Values) -> list[Choice]:
    return [Choice("x", "探访"), Choice("y", "陪诊"), Choice("z", "助餐")]


async def _within_count(ctx: Context, value: int, values: Values) -> Problem | None:
    """A budget of at most 100 yuan a person: depends on another answer."""
    limit = (values.get("count") or 0) * 10_000
    return Problem.of("form.error.too_large", value=ctx.money(value), maximum=ctx.money(limit)) if value > limit else None


class Sheet(Form):
    name = "sheet"
    commands = ("sheet",)
    fields = (
        Field("name", TEXT, "form.summary_title", "form.summary_title", max_len=10, minimum=2),
        Field("count", INTEGER, "form.summary_title", "form.summary_title", minimum=1, maximum=5),
        Field("budget", MONEY, "form.summary_title", "form.summary_title", minimum=100, check=_within_count),
        Field("day", DATE, "form.summary_title", "form.summary_title"),
        Field("pick", CHOICE, "form.summary_title", "form.summary_title", choices=_options),
        Field("many", MULTI, "form.summary_title", "form.summary_title", choices=_many),
        Field("score", RATING, "form.summary_title", "form.summary_title"),
        Field("ok", YES_NO, "form.summary_title", "form.summary_title", required=False),
    )

    async def submit(self, ctx: Context, values: Values) -> None:
        ctx.say("submitted " + json.dumps(values, sort_keys=True, ensure_ascii=False))
        ctx.state.clear()


@pytest.fixture
def bot(sessions: async_sessionmaker[AsyncSession]) -> Engine:
    return Engine(sessions, DialogSettings(), [*all_flows(), Sheet()], clock=lambda: NOW)


def data(payload: Any) -> str:
    return str(payload.pack("sheet"))


async def fill(p: Person, **overrides: str) -> None:
    answers = {"name": "张三", "count": "3", "budget": "200元", "day": "2027年3月5日", "pick": "乙", "score": "4"}
    answers.update(overrides)
    await p.say("/sheet")
    for name in ("name", "count", "budget", "day", "pick"):
        await p.say(answers[name])
    await p.press("探访")
    await p.press("助餐")
    await p.press("完成")
    await p.say(answers["score"])
    await p.press("跳过")


async def test_every_kind_reads_checks_and_shows_its_answer(bot: Engine) -> None:
    p = Person(bot, "sheet-1")
    await p.say("/sheet")
    await p.say("张")  # a text's own minimum
    assert "太短" in p.text or "至少" in p.text
    await p.say("张三")
    await p.say("九")  # an integer's own bounds, read in Chinese
    assert "5" in p.text and p.text.startswith("⚠️")
    await p.say("三")
    await p.say("1000元")  # the field's check across answers: at most 300元
    assert "300" in p.text and p.text.startswith("⚠️")
    await p.say("两百元")
    await p.say("明年3月5日")
    assert [b.label for b in p.buttons()][:2] == ["甲方案", "乙方案"]  # the choice's buttons
    await p.say("乙")  # a unique part of a label
    await p.press("陪诊")
    assert "✓ 陪诊" in [b.label for b in p.buttons()]
    await p.press("陪诊")  # ticked off again
    await p.press("探访")
    await p.press("完成")
    assert [b.label for b in p.buttons()][:5] == ["1", "2", "3", "4", "5"]
    await p.say("7")  # a rating's own scale
    assert p.text.startswith("⚠️")
    await p.press("4")
    await p.press("是")
    summary = p.text
    assert "张三" in summary and "3" in summary and "200" in summary and "乙方案" in summary and "探访" in summary
    assert "2027" in summary and "是" in summary
    await p.press_data(data(Submit()))
    values = json.loads(p.last[0].text.removeprefix("submitted "))
    assert values == {"name": "张三", "count": 3, "budget": 20_000, "day": "2027-03-05", "pick": "b", "many": ["x"],
                      "score": 4, "ok": True}


async def test_the_summary_shows_what_the_fields_own_checks_find_and_submission_waits(bot: Engine) -> None:
    """An answer accepted then made wrong by a change to another (the budget was within 3 people's limit,
    then the count is edited to 1): the summary lists the budget's problem and submitting refuses."""
    p = Person(bot, "sheet-2")
    await fill(p)
    assert "⚠️" not in p.text
    await p.press_data(data(Edit("count")))
    await p.say("1")
    assert "100" in p.text and "200" in p.text  # the budget's own check, on the summary
    await p.press_data(data(Submit()))
    assert not p.text.startswith("submitted")
    await p.press_data(data(Edit("budget")))
    await p.say("0.5元")
    assert p.text.startswith("⚠️")  # the money kind's own minimum, 1元
    await p.say("80元")
    assert "⚠️" not in p.text
    await p.press_data(data(Submit()))
    assert json.loads(p.last[0].text.removeprefix("submitted "))["budget"] == 8_000


async def test_answers_to_another_question_and_forged_options_are_stale(bot: Engine) -> None:
    p = Person(bot, "sheet-3")
    await p.say("/sheet")
    await p.say("张三")
    await p.press_data(data(Answer("name", "李四")))  # the question before
    assert p.text.startswith("这个按钮已经失效了。")
    await p.say("2")
    await p.say("100元")
    await p.say("明天")
    await p.press_data(data(Answer("pick", "c")))  # no such option
    assert p.text.startswith("⚠️") or p.text.startswith("这个按钮已经失效了。")
    await p.press("甲方案")
    await p.press_data(data(Answer("many", "w")))  # a multiple choice's forged option
    assert p.text.startswith("这个按钮已经失效了。")
    await p.press_data(data(Answer("many", "~skip")))  # skipping a required question
    assert p.text.startswith("这个按钮已经失效了。")
    await p.press_data(data(Submit()))  # the summary's button before the summary
    assert p.text.startswith("这个按钮已经失效了。")
