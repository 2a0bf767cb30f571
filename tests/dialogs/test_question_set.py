"""Public questions as residents ask them: the rules of reading (a place is the place, a topic filters,
the words about one project pick its answer, a name alone is not a need, an organization's name lists its
projects, one candidate is answered) through the engine in three languages, and the accuracy of answers
on a fast subset of the generated question sets (demo city and a synthetic one) and on the hand-written
colloquial questions. The full sets run in bench/answers.py."""

# ruff: noqa: F811  (the fixtures of test_public_answers are imported, then requested by name)

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dialogs import i18n
from dialogs.questions import Question, decode, encode, refine_intent
from dialogs.understanding import romanized_names
from nlu.parser import NluParser
from store import models as m
from store.db import create_engine
from store.importer import import_package
from store.synth import write_synthetic_package
from testing import question_set as qs
from tests.dialogs.test_public_answers import (  # noqa: F401
    NOW,
    TODAY,
    YEAR,
    ZONE,
    Rig,
    both,
    demo,
    demo_db,
    make_rig,
    parser,
    pg_demo,
    q,
    rows,
    scalar,
)

ACCURACY = 0.95


async def conversation_flow(rig: Rig, user: str) -> str | None:
    return await scalar(rig, select(m.Conversation.flow).join(m.Identity, m.Identity.id == m.Conversation.identity_id)
                        .where(m.Identity.external_id == user))


# --- the rules, through the engine --------------------------------------------------------------


async def test_a_district_asked_about_is_the_district(demo: Rig) -> None:
    for district in ("东城区", "临湖区", "江北区"):
        count = await scalar(demo, select(func.count()).select_from(m.Project).where(m.Project.district == district))
        p = demo.person(f"d-{district}")
        await p.say(f"{district}有哪些项目？")
        assert f"{district}：共 {count} 个项目" in p.text
        assert i18n.t("zh-Hans", "query.did_you_mean") not in p.text
        this_year = await scalar(demo, select(func.count()).select_from(m.Project)
                                 .where(m.Project.district == district, m.Project.year == YEAR))
        await p.say(f"{district}{YEAR}年有哪些项目")
        assert f"{YEAR}年度 · {district}：共 {this_year} 个项目" in p.text
    p = demo.person("hant")
    await p.say("臨湖區有哪些項目？")
    # names from the data are converted for zh-Hant readers; messages have Taiwan phrasing by default (專案)
    assert "臨湖區：共" in p.text and "個專案" in p.text
    await p.say("青山區有哪些項目？")  # a district this city does not have: said, with the ones it has
    assert "青山區" in p.text and ("東城區" in p.text or "东城区" in p.text) and "共" not in p.text
    p = demo.person("en", locale="en")
    linhu = await scalar(demo, select(func.count()).select_from(m.Project).where(m.Project.district == "临湖区"))
    await p.say("Linhu projects")
    assert f"{linhu} projects" in p.text


async def test_a_name_alone_is_not_a_need(demo: Rig) -> None:
    p = demo.person("short")
    await p.say("幸福食堂")
    canteen = (await rows(demo, select(m.Project.code, m.Project.title_zh).where(m.Project.title_zh.like("%幸福食堂%"))))
    assert len(canteen) == 1
    code, title = canteen[0]
    assert f"找到一个项目：{title}（{code}）" in p.last[0].text and "项目编号" in p.last[-1].text
    assert await conversation_flow(demo, "short") is None  # no form was entered
    p = demo.person("linhu", locale="en")
    await p.say("Linhu")
    assert "临湖区" in p.text or "Linhu" in p.text
    assert "projects" in p.text and await conversation_flow(demo, "linhu") is None
    # a question about a district is not a need either; a clear need still starts the form
    p = demo.person("asked")
    await p.say("我们东城区政府都买了啥服务")
    assert "东城区：共" in p.text and await conversation_flow(demo, "asked") is None
    for user, text in (("need", "希望我们小区也能开一个老年食堂"), ("lack", "江北区缺少托育服务")):
        p = demo.person(user)
        await p.say(text)
        assert await conversation_flow(demo, user) == "need", text


async def test_a_topic_filters_and_nothing_matching_is_said(demo: Rig) -> None:
    autism = await rows(demo, select(m.Project.code).join(m.CatalogItem, m.CatalogItem.id == m.Project.catalog_item_id)
                        .where(m.CatalogItem.code == "CJ-03"))
    total = await scalar(demo, select(func.count()).select_from(m.Project))
    assert 0 < len(autism) < total
    for text, locale in (("孤独症相关项目有哪些？", "zh-Hans"), ("autism projects", "en"), ("自閉症的項目", "zh-Hant")):
        p = demo.person(f"t-{text}", locale=locale)
        await p.say(text)
        assert all(code in p.text for (code,) in autism), text
        assert f"{len(autism)} " in p.text and str(total) not in p.text, text
    p = demo.person("nothing")
    await p.say("厕所维修项目有哪些")
    assert p.text.startswith("没有找到与“厕所维修”有关的项目")
    labels = [b.label for b in p.buttons()]
    assert labels[:3] and all(label in {"养老服务", "青少年服务", "残疾人服务", "社区治理", "心理健康"} for label in labels[:3])
    assert not any("LJ-" in b.data for b in p.buttons() if b.data)  # no project listed
    p = demo.person("nothing-en", locale="en")
    await p.say("any projects about flood control?")
    assert p.text.startswith('I found no projects about "flood control"')


async def test_every_attribute_of_a_project_in_both_languages(demo: Rig) -> None:
    project = (await rows(demo, select(m.Project).where(m.Project.grade.is_not(None)).order_by(m.Project.code)))[0][0]
    dept = (await rows(demo, select(m.Department.name_zh, m.Department.name_en)
                       .where(m.Department.id == project.department_id)))[0]
    p = demo.person("attr")
    await p.say(f"{project.title_zh}的评估等级是多少")
    assert "评价结果" in p.text and project.code in p.text and "资质名录" not in p.text
    await p.say(f"{project.title_zh}是哪个部门买的")
    assert f"购买主体：{dept[0]}" in p.text and "预算" not in p.text
    e = demo.person("attr-en", locale="en")
    await e.say(f"Who bought the {project.title_en}?")
    assert f"Purchasing department: {dept[1]}" in e.text and project.code in e.text
    running = await scalar(demo, select(m.Project.code).where(m.Project.status == "in_progress").order_by(m.Project.code))
    await e.say(f"what's the next milestone of {running}")
    assert "Next milestones of" in e.text and running in e.text
    await e.say(f"How much has {running} been paid?")
    assert "Funding of" in e.text and running in e.text


async def test_an_organization_by_its_full_name_and_one_candidate(demo: Rig) -> None:
    org_id, uscc, name = (await rows(demo, select(m.Organization.id, m.Organization.uscc, m.Organization.name_zh)
                                     .where(m.Organization.name_zh.like("%星语孤独症%"))))[0]
    theirs = [c for (c,) in await rows(demo, select(m.Project.code).where(m.Project.organization_id == org_id))]
    assert theirs
    for text in (f"{name}承接了哪些项目", f"{name.removeprefix('临江市')}承接了哪些项目", f"{name}的项目有哪些"):
        p = demo.person(f"o-{text}")
        await p.say(text)
        assert f"{name}：共 {len(theirs)} 个项目" in p.text and all(c in p.text for c in theirs), text
    p = demo.person("rating")
    await p.say(f"{name}的评估等级是多少")
    assert "社会组织评估等级" in p.text and uscc in p.text
    p = demo.person("one")
    await p.say("幸福食堂项目的满意度怎么样")
    assert "找到一个项目" in p.last[0].text and "满意度" in p.last[-1].text
    assert i18n.t("zh-Hans", "query.did_you_mean") not in p.text


async def test_title_words_filter_on_both_backends(both: Rig) -> None:
    canteens = await rows(both, select(m.Project.code).where(func.lower(m.Project.title_en).like("%canteen%")))
    assert canteens
    p = both.person(locale="en")
    await p.press_data(q("query_projects", words="canteens"))  # any form of the word, any case
    assert f'titles with "canteens": {len(canteens)} projects' in p.text and all(c in p.text for (c,) in canteens)
    await p.press_data(q("query_projects", words="100%"))  # LIKE's wildcards are the characters themselves
    assert "No projects match" in p.text


def test_romanized_district_names_and_title_words_in_buttons() -> None:
    assert romanized_names("临湖区") == ["linhu", "linhuqu", "linhu district"]
    assert romanized_names("南山县")[-1] == "nanshan county"
    question = Question("query_projects", district="南山区", words="canteen")
    assert decode(encode(question)) == question
    assert decode("pj;w=" + "x" * 40) == Question("query_projects", words="x" * 16)


def test_refining_keeps_clear_intents() -> None:
    need = {"text": "希望南山区多开几个幸福食堂", "intent": {"name": "submit_demand", "confidence": 0.95},
            "entities": [{"entity": "district", "value": "南山区", "start": 2, "end": 5}]}
    assert refine_intent(need)["intent"]["name"] == "submit_demand"
    bye = {"text": "88", "intent": {"name": "goodbye", "confidence": 0.99}, "entities": []}
    assert refine_intent(bye)["intent"]["name"] == "goodbye"
    named = {"text": "心晴热线（88）的满意度", "intent": {"name": "goodbye", "confidence": 0.6},
             "entities": [{"entity": "project", "value": "X-2026-001", "start": 0, "end": 8}]}
    assert refine_intent(named)["intent"]["name"] == "query_satisfaction"


# --- accuracy on the question sets -----------------------------------------------------------------


def _report(score: qs.Score) -> str:
    return "\n".join(f"{v.asked.text} -> {v.got}" for v in score.wrong()[:20])


async def test_accuracy_on_the_demo_city_and_colloquial_questions(demo: Rig) -> None:
    names = await qs.city_names(demo.sessions, YEAR)
    generated = qs.generate(names, every=13)  # four projects and three organizations: every template
    assert len(generated) >= 250
    score = await qs.score(demo.bot, demo.sessions, generated)
    assert score.accuracy >= ACCURACY, _report(score)
    batches = (qs.COLLOQUIAL, qs.HELD_OUT, qs.UNTUNED, qs.FINAL)
    colloquial = [asked for batch in batches for asked in qs.colloquial(names, batch)]
    assert len(colloquial) >= 170
    score = await qs.score(demo.bot, demo.sessions, colloquial)
    assert score.accuracy >= ACCURACY, _report(score)


@pytest.fixture
async def synthetic(sqlite_url: str, tmp_path: Path, parser: NluParser) -> AsyncIterator[Rig]:
    db = create_engine(sqlite_url)
    write_synthetic_package(tmp_path / "synth", 40, today=TODAY)
    await import_package(db, tmp_path / "synth", zone=ZONE, now=NOW)
    try:
        yield await make_rig(db, parser)
    finally:
        await db.dispose()


async def test_accuracy_on_a_synthetic_city(synthetic: Rig) -> None:
    names = await qs.city_names(synthetic.sessions, YEAR)
    generated = qs.generate(names, every=10)
    assert len(generated) >= 200
    score = await qs.score(synthetic.bot, synthetic.sessions, generated)
    assert score.accuracy >= ACCURACY, _report(score)
