"""Public questions generated over every entity of a city's data (every district, category, organization
and project × every attribute the public data holds, in Chinese, Traditional Chinese and English, with
paraphrase templates), plus hand-written colloquial questions (tests/data/colloquial_questions.yml),
and the judge that asks each through the engine and checks the answer is for the right thing.

Kept apart from the NLU training data (nlu/data): these questions measure it, they never train it.
Used by tests/dialogs/test_question_set.py (a fast subset) and bench/answers.py (the full sets).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import opencc
import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs import i18n
from dialogs.engine import Engine
from dialogs.questions import Question, decode
from dialogs.types import Incoming
from dialogs.understanding import romanized_names
from store import models as m

COLLOQUIAL = Path(__file__).resolve().parents[1] / "tests" / "data" / "colloquial_questions.yml"
HELD_OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "colloquial_heldout.yml"  # written after the rules were tuned
UNTUNED = Path(__file__).resolve().parents[1] / "tests" / "data" / "colloquial_untuned.yml"  # third batch (0.82 before its fixes)
FINAL = Path(__file__).resolve().parents[1] / "tests" / "data" / "colloquial_final.yml"  # fourth batch (0.967 as first measured)
CHANNEL = "question-set"

# attribute -> (answers that hold it, Chinese templates, English templates); {p} is a name or a code
ATTRIBUTES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "department": (("query_projects",),
                   ("{p}是哪个部门买的", "{p}的购买主体是谁", "{p}是哪个单位出钱购买的", "谁买的{p}？"),
                   ("Who bought {p}?", "Which department purchased {p}?", "who is the buyer of {p}")),
    "organization": (("query_projects",),
                     ("{p}是哪个机构承接的", "{p}由谁来做？", "{p}的承接机构是哪家", "哪个组织在做{p}"),
                     ("Who runs {p}?", "Which organization provides {p}?", "who is the provider of {p}")),
    "amount": (("query_projects", "query_funding"),
               ("{p}的立项金额是多少", "{p}多少钱？", "{p}花了多少钱", "{p}金额多少"),
               ("How much is {p} worth?", "What is the approved amount of {p}?", "how much does {p} cost")),
    "payments": (("query_funding",),
                 ("{p}拨了多少钱", "{p}的资金拨付情况", "{p}已经付了几期款", "{p}的钱到账了吗"),
                 ("How much has {p} been paid?", "payments of {p}", "what tranches were disbursed for {p}")),
    "progress": (("query_progress",),
                 ("{p}进展怎么样", "{p}现在做到哪一步了", "{p}的实施进度", "{p}最近开展情况如何"),
                 ("How is {p} going?", "What's the progress of {p}?", "progress update on {p}")),
    "inspections": (("query_progress",),
                    ("{p}的中期检查结果", "{p}中期检查通过了吗", "{p}检查得怎么样"),
                    ("Did {p} pass the mid-term inspection?", "inspection results of {p}")),
    "grade": (("query_evaluation",),
              ("{p}的评估等级是多少", "{p}绩效评价得了什么等级", "{p}评分多少", "{p}验收结果怎么样"),
              ("What grade did {p} get?", "evaluation result of {p}", "what's the performance score of {p}")),
    "satisfaction": (("query_satisfaction",),
                     ("{p}的满意度怎么样", "大家对{p}满意吗", "{p}满意率多少"),
                     ("Are people satisfied with {p}?", "satisfaction rate of {p}", "How satisfied are residents with {p}?")),
    "deadline": (("query_deadline",),
                 ("{p}的下一个节点是什么时候", "{p}什么时候中期检查", "{p}下一步时间安排", "{p}的截止时间"),
                 ("what's the next milestone of {p}", "When is the next deadline of {p}?", "what is due next for {p}")),
    "term": (("query_projects",),
             ("{p}的服务期限是多久", "{p}什么时候开始什么时候结束", "{p}的项目周期", "{p}起止时间"),
             ("When does {p} start and end?", "What is the term of {p}?", "how long does {p} last")),
    "district": (("query_projects",),
                 ("{p}在哪个区", "{p}是哪个区的项目", "{p}在哪里开展"),
                 ("Which district is {p} in?", "where does {p} take place")),
    "category": (("query_projects",),
                 ("{p}属于哪一类服务", "{p}是什么类别的项目", "{p}的服务类别"),
                 ("What category is {p}?", "what kind of service is {p}")),
}
DISTRICT_ZH = ("{d}有哪些项目？", "{d}{y}年有哪些项目", "{d}的项目", "{d}都在做什么项目", "{d}")
DISTRICT_EN = ("{d} projects", "Which projects are in {d}?", "projects in {d} in {y}", "{d}")
ORG_PROJECTS_ZH = ("{o}承接了哪些项目", "{o}做过哪些项目", "{o}的项目有哪些")
ORG_PROJECTS_EN = ("Which projects does {o} run?", "projects of {o}", "what projects has {o} delivered")
ORG_STANDING_ZH = ("{o}的评估等级是多少", "{o}有资质吗", "{o}是几A")
ORG_STANDING_EN = ("What is the rating of {o}?", "Is {o} qualified?")
CATEGORY_ZH = ("{c}有哪些项目", "{c}相关项目有哪些", "{c}类的项目")
CATEGORY_EN = ("{c} projects", "which projects are about {c}?")


@dataclass(frozen=True)
class Expect:
    """What a right answer is about."""

    intents: tuple[str, ...] = ("query_projects",)
    projects: tuple[str, ...] = ()  # codes; more than one when the name is shared
    district: str | None = None
    organization: str | None = None
    item: str | None = None
    level1: str | None = None
    year: int | None = None
    nothing: bool = False  # the data holds nothing about it, and the answer must say so


@dataclass(frozen=True)
class Asked:
    text: str
    expect: Expect
    kind: str  # what is asked (an attribute, "district", "organization"…) for the report
    locale: str  # the language the person uses


@dataclass
class CityNames:
    year: int
    projects: list[tuple[str, str, str | None]]  # code, title_zh, title_en
    organizations: list[tuple[str, str, str | None]]  # uscc, name_zh, name_en
    districts: list[str]
    level1: list[tuple[str, str | None]]
    items: list[tuple[str, str, str | None]]  # code, name_zh, name_en
    codes_of_title: dict[str, tuple[str, ...]] = field(default_factory=dict)


async def city_names(sessions: async_sessionmaker[AsyncSession], year: int) -> CityNames:
    async with sessions() as s:
        projects = [tuple(r) for r in (await s.execute(
            select(m.Project.code, m.Project.title_zh, m.Project.title_en).order_by(m.Project.code))).all()]
        organizations = [tuple(r) for r in (await s.execute(
            select(m.Organization.uscc, m.Organization.name_zh, m.Organization.name_en).order_by(m.Organization.uscc))).all()]
        districts = sorted({d for (d,) in (await s.execute(select(m.Project.district).distinct())).all() if d})
        level1 = {zh: en for zh, en in (await s.execute(select(m.CatalogItem.level1_zh, m.CatalogItem.level1_en))).all()}
        items = {c: (c, zh, en) for c, zh, en in (await s.execute(
            select(m.CatalogItem.code, m.CatalogItem.name_zh, m.CatalogItem.name_en).order_by(m.CatalogItem.year))).all()}
    names = CityNames(year, projects, organizations, districts, sorted(level1.items()), list(items.values()))  # type: ignore[arg-type]
    shared: dict[str, list[str]] = {}
    for code, zh, en in projects:
        for title in (zh, en):
            if title:
                shared.setdefault(title, []).append(code)
    names.codes_of_title = {title: tuple(codes) for title, codes in shared.items()}
    return names


def _hant() -> opencc.OpenCC:
    return opencc.OpenCC("s2t")


def english_district(name: str) -> str:
    aliases = romanized_names(name)
    return aliases[0].capitalize() if aliases else name


def generate(names: CityNames, *, every: int = 1) -> list[Asked]:
    """Every entity × every attribute in zh, zh-Hant and en; with ``every`` > 1 only every n-th project
    and organization (a subset that still covers each template)."""
    hant = _hant()
    out: list[Asked] = []
    turn = itertools.count()
    for code, title_zh, title_en in names.projects[::every]:
        for kind, (intents, zh, en) in ATTRIBUTES.items():
            n = next(turn)
            expect = Expect(intents, projects=names.codes_of_title.get(title_zh, (code,)))
            out.append(Asked(zh[n % len(zh)].format(p=title_zh), expect, kind, "zh-Hans"))
            out.append(Asked(zh[(n + 1) % len(zh)].format(p=code), Expect(intents, projects=(code,)), kind, "zh-Hans"))
            out.append(Asked(hant.convert(zh[(n + 2) % len(zh)].format(p=title_zh)), expect, kind, "zh-Hant"))
            out.append(Asked(en[n % len(en)].format(p=code), Expect(intents, projects=(code,)), kind, "en"))
            if title_en:
                expect_en = Expect(intents, projects=names.codes_of_title.get(title_en, (code,)))
                out.append(Asked(en[(n + 1) % len(en)].format(p=title_en), expect_en, kind, "en"))
    for district in names.districts:
        english = english_district(district)
        for i, template in enumerate(DISTRICT_ZH):
            year = names.year if "{y}" in template else None
            text = template.format(d=district, y=names.year)
            out.append(Asked(text, Expect(district=district, year=year), "district", "zh-Hans"))
            if i < 2:
                out.append(Asked(hant.convert(text), Expect(district=district, year=year), "district", "zh-Hant"))
        for template in DISTRICT_EN:
            year = names.year if "{y}" in template else None
            out.append(Asked(template.format(d=english, y=names.year), Expect(district=district, year=year),
                             "district", "en"))
    for n, (uscc, name_zh, name_en) in enumerate(names.organizations[::every]):
        listing = Expect(("query_projects",), organization=uscc)
        standing = Expect(("query_organizations",), organization=uscc)
        out.append(Asked(ORG_PROJECTS_ZH[n % 3].format(o=name_zh), listing, "organization", "zh-Hans"))
        out.append(Asked(hant.convert(ORG_PROJECTS_ZH[(n + 1) % 3].format(o=name_zh)), listing, "organization", "zh-Hant"))
        out.append(Asked(ORG_STANDING_ZH[n % 3].format(o=name_zh), standing, "organization standing", "zh-Hans"))
        if name_en:
            out.append(Asked(ORG_PROJECTS_EN[n % 3].format(o=name_en), listing, "organization", "en"))
            out.append(Asked(ORG_STANDING_EN[n % 2].format(o=name_en), standing, "organization standing", "en"))
    for n, (zh, en) in enumerate(names.level1):
        expect = Expect(level1=zh)
        out += [Asked(t.format(c=zh), expect, "category", "zh-Hans") for t in CATEGORY_ZH]
        out.append(Asked(hant.convert(CATEGORY_ZH[n % 3].format(c=zh)), expect, "category", "zh-Hant"))
        if en:
            out += [Asked(t.format(c=en), expect, "category", "en") for t in CATEGORY_EN]
    for n, (code, zh, en) in enumerate(names.items):
        expect = Expect(item=code)
        out.append(Asked(CATEGORY_ZH[n % 3].format(c=zh), expect, "catalog item", "zh-Hans"))
        if en:
            out.append(Asked(CATEGORY_EN[n % 2].format(c=en), expect, "catalog item", "en"))
    return out


def colloquial(names: CityNames, path: Path = COLLOQUIAL) -> list[Asked]:
    """The hand-written questions, their expectations named as people see them (titles, organization
    names) and resolved to codes in this city's data."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    by_title = {zh: code for code, zh, _ in names.projects}
    by_org = {zh: uscc for uscc, zh, _ in names.organizations}
    out = []
    for entry in data["questions"]:
        want: dict[str, Any] = entry.get("expect") or {}
        projects = tuple(by_title[t] for t in _listed(want.get("project")))
        expect = Expect(
            intents=tuple(_listed(want.get("intent"))) or ("query_projects",), projects=projects,
            district=want.get("district"), organization=by_org[want["organization"]] if "organization" in want else None,
            item=want.get("item"), level1=want.get("level1"),
            year=names.year + int(want["year"]) if "year" in want else None, nothing=bool(want.get("nothing")),
        )
        text = str(entry["text"]).format(y=names.year, last=names.year - 1)
        out.append(Asked(text, expect, entry.get("kind", "colloquial"), entry.get("locale", "zh-Hans")))
    return out


def _listed(value: object) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


# --- judging -------------------------------------------------------------------------------------


@dataclass
class Verdict:
    asked: Asked
    right: bool
    got: str  # what the answer was about, for the report
    seconds: float = 0.0  # the engine's turn


@dataclass
class Score:
    verdicts: list[Verdict]

    @property
    def accuracy(self) -> float:
        return sum(v.right for v in self.verdicts) / len(self.verdicts) if self.verdicts else 0.0

    def wrong(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.right]

    def by_kind(self) -> dict[str, tuple[int, int]]:
        kinds: dict[str, tuple[int, int]] = {}
        for v in self.verdicts:
            right, total = kinds.get(v.asked.kind, (0, 0))
            kinds[v.asked.kind] = (right + v.right, total + 1)
        return kinds


_ids = itertools.count()


def _prefix(key: str, **values: object) -> tuple[str, ...]:
    """The fixed beginning of a catalog message in every language."""
    return tuple(i18n.t(locale, key, **values).split("\x00")[0] for locale in i18n.LOCALES)


async def ask(engine: Engine, sessions: async_sessionmaker[AsyncSession], asked: Asked, run: str) -> Verdict:
    """Ask through the engine as a new person and judge the answer by the question it was about (the
    ``topic`` the answer leaves in the conversation) or, for "nothing", by what it says."""
    user = f"{run}-{next(_ids)}"
    started = time.perf_counter()
    replies = await engine.handle(Incoming.from_text(CHANNEL, user, user, asked.text, locale=asked.locale))
    seconds = time.perf_counter() - started
    async with sessions() as s:
        slots = await s.scalar(select(m.Conversation.slots).join(m.Identity, m.Identity.id == m.Conversation.identity_id)
                               .where(m.Identity.channel == CHANNEL, m.Identity.external_id == user))
    answered = decode(str((slots or {}).get("topic") or "")) if slots else None
    text = "\n".join(r.text for r in replies)
    offered = [b.data.rsplit("=", 1)[1] for r in replies for row in r.buttons for b in row
               if b.data and ";p=" in b.data and b.data.count(";") == 1]
    expect = asked.expect
    if expect.nothing:
        said = any(text.startswith(p) for p in (*_prefix("query.nothing_about", topic="\x00"),
                                                 *_prefix("query.unknown_place", place="\x00", districts="")))
        return Verdict(asked, answered is None and said, text[:60], seconds)
    if answered is None:
        dym = any(text.startswith(p) for p in _prefix("query.did_you_mean"))
        right = dym and len(expect.projects) > 1 and set(offered) >= set(expect.projects)
        return Verdict(asked, right, f"did you mean {offered}" if dym else text[:60], seconds)
    return Verdict(asked, _matches(answered, expect), _describe(answered), seconds)


def _matches(q: Question, expect: Expect) -> bool:
    if q.intent not in expect.intents:
        return False
    if expect.projects:
        return q.project in expect.projects
    if q.project is not None:
        return False
    wanted = {"district": expect.district, "organization": expect.organization, "item": expect.item,
              "level1": expect.level1, "year": expect.year}
    return all(getattr(q, name) == value for name, value in wanted.items() if value is not None) and (
        expect.item is not None or expect.level1 is not None or (q.item is None and q.level1 is None and q.words is None))


def _describe(q: Question) -> str:
    fields = {k: v for k, v in q.__dict__.items() if v not in (None, (), False, 0) and k != "intent"}
    return f"{q.intent} {fields}"


async def score(engine: Engine, sessions: async_sessionmaker[AsyncSession], questions: Iterable[Asked],
                run: str = "q") -> Score:
    return Score([await ask(engine, sessions, asked, run) for asked in questions])
