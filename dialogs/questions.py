"""What a public question asks, as a value: the answer wanted and its filters (``Question``), its compact
encoding in button data, the words in a question that narrow it (statuses, grades, ratings), whether it
continues the previous one, the language to answer in, and the how-it-works knowledge file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

from dialogs.listing import parse_id
from nlu.normalize import fold, to_simplified
from store import public
from store.models import GRADES, PROJECT_STATUSES, RATINGS
from store.projects import ACTIVE_STATUSES

FAQ_FILE = Path(__file__).resolve().parent / "knowledge" / "faq.yml"

QUERY_INTENTS = (
    "query_catalog", "query_organizations", "query_budget", "query_projects", "query_funding", "query_progress",
    "query_satisfaction", "query_evaluation", "query_deadline", "faq_process", "faq_eligibility", "take_survey",
)
MENU, MENU_DISTRICT, MENU_CATEGORY, MENU_YEAR = "menu", "menu_district", "menu_category", "menu_year"
# Short names of the answers in button payloads (Telegram allows 64 bytes of callback data).
CODES = {
    "query_projects": "pj", "query_funding": "fd", "query_progress": "pg", "query_satisfaction": "st",
    "query_evaluation": "ev", "query_deadline": "dl", "query_catalog": "ct", "query_organizations": "og",
    "query_budget": "bg", "faq_process": "fp", "faq_eligibility": "fe", "take_survey": "sv",
    MENU: "m", MENU_DISTRICT: "md", MENU_CATEGORY: "mc", MENU_YEAR: "my",
}
INTENT_OF = {code: intent for intent, code in CODES.items()}
# Answers about one project when one is named, about a filtered list otherwise.
PROJECT_INTENTS = (
    "query_projects", "query_funding", "query_progress", "query_satisfaction", "query_evaluation", "query_deadline",
)
# Lists for "which project?" default to the projects the question can be about.
DEFAULT_STATUSES = {
    "query_progress": ACTIVE_STATUSES,
    "query_satisfaction": ("closing", "closed"),
}

MAX_PAGE = 100_000  # page numbers from button data stay small

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")

# Words that narrow a list, matched on folded text (Latin ones as whole words).
STATUS_CUES: dict[tuple[str, ...], tuple[str, ...]] = {
    ("publicized",): ("公示中", "正在公示", "在公示", "publicized", "under public notice"),
    ("contracted",): ("已签约", "签了合同", "contracted", "signed"),
    ACTIVE_STATUSES: ("实施中", "在实施", "正在实施", "进行中", "正在进行", "在做", "正在开展", "在开展",
                      "ongoing", "running", "in progress", "underway", "active", "current"),
    ("closed",): ("已结项", "结项了", "已完成", "完成了", "已结束", "结束了", "completed", "finished", "closed", "ended"),
    ("terminated",): ("终止", "中止", "terminated", "cancelled", "canceled", "stopped"),
}
GRADE_CUES: dict[str, tuple[str, ...]] = {
    "excellent": ("优秀", "excellent", "outstanding", "top rated", "top-rated"),
    "good": ("良好", "good"),
    "pass": ("合格", "pass", "passed", "satisfactory"),
    "fail": ("不合格", "不及格", "fail", "failed", "failing"),
}
BRAND_CUES = ("品牌", "brand", "showcase", "flagship")
# Pronouns and ellipses that point back to what was just discussed.
POINTING_BACK = re.compile(
    r"它|这个|那个|这项|该项目|此项目|"
    r"(?<![a-z])(it|its|this|that|they|them|their|those|these|same|what about|how about)(?![a-z])"
)
ELLIPSIS = "呢"  # "那满意度呢？": the rest of the question is the previous one
# Questions about a whole list are new questions, however short.
LIST_CUES = re.compile(r"哪些|哪几|什么项目|多少个|几个|名单|列表|所有|全部|(?<![a-z])(which|list|all|any)(?![a-z])")
SHORT_FOLLOW_UP = 8  # a project question this short (folded characters) without names continues the topic
_RATING = re.compile(r"(?<![0-9a-z])([1-5])\s*a(?![a-z])(\s*级)?\s*(以上|及以上|或以上|and above|or above|or better|\+)?")


@dataclass(frozen=True)
class Question:
    """What a person asked, resolved: the answer wanted and its filters. Encoded whole in button data."""

    intent: str = MENU
    project: str | None = None  # project code
    organization: str | None = None  # USCC
    year: int | None = None
    item: str | None = None  # catalog item code
    level1: str | None = None  # level-1 category name
    district: str | None = None
    department: str | None = None  # department code
    statuses: tuple[str, ...] = ()
    grades: tuple[str, ...] = ()
    brand: bool = False
    rating: str | None = None  # "4A" exactly, "4A+" at least
    topic: str | None = None  # FAQ topic id
    page: int = 0

    def filter(self, *, defaults: bool = True) -> public.ProjectFilter:
        """The project filter of this question; ``defaults`` adds the statuses its answer lists by default."""
        statuses = self.statuses or (DEFAULT_STATUSES.get(self.intent, ()) if defaults else ())
        return public.ProjectFilter(
            year=self.year, catalog_code=self.item, level1=self.level1, district=self.district,
            organization=self.organization, department=self.department, statuses=statuses,
            grades=self.grades, brand=self.brand,
        )

    @property
    def has_filters(self) -> bool:
        return any((self.year, self.item, self.level1, self.district, self.organization, self.department,
                    self.statuses, self.grades, self.brand))


_KEYS = {
    "project": "p", "organization": "o", "year": "y", "item": "c", "level1": "l", "district": "d",
    "department": "t", "statuses": "s", "grades": "g", "brand": "b", "rating": "r", "topic": "q", "page": "n",
}
_FIELDS = {key: name for name, key in _KEYS.items()}


def _escape(value: str) -> str:
    return value.replace("%", "%25").replace(";", "%3B").replace("=", "%3D")


def encode(q: Question) -> str:
    """``<answer code>;k=v;…`` with only the fields that are set."""
    parts = [CODES[q.intent]]
    for name, key in _KEYS.items():
        value = getattr(q, name)
        if value is None or value == () or value is False or value == 0:
            continue
        if isinstance(value, tuple):
            value = ",".join(value)
        elif value is True:
            value = "1"
        parts.append(f"{key}={_escape(str(value))}")
    return ";".join(parts)


def decode(payload: str) -> Question | None:
    """The question in button data; None for anything malformed (a forged or outdated button)."""
    code, *pairs = payload.split(";")
    intent = INTENT_OF.get(code)
    if intent is None:
        return None
    values: dict[str, Any] = {"intent": intent}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        name = _FIELDS.get(key)
        if not sep or name is None:
            return None
        value = unquote(raw)
        if name in ("year", "page"):
            number = parse_id(value)
            if number is None or number > MAX_PAGE:
                return None
            values[name] = number
        elif name == "statuses":
            values[name] = tuple(s for s in value.split(",") if s in PROJECT_STATUSES)
        elif name == "grades":
            values[name] = tuple(g for g in value.split(",") if g in GRADES)
        elif name == "brand":
            values[name] = value == "1"
        elif name == "rating":
            if value.rstrip("+") not in RATINGS:
                return None
            values[name] = value
        else:
            values[name] = value[:200]
    return Question(**values)



# --- reading the question ---------------------------------------------------------------------


def _has_cue(folded: str, cue: str) -> bool:
    if cue.isascii():
        return re.search(rf"(?<![a-z]){re.escape(cue)}(?![a-z])", folded) is not None
    return cue in folded


def status_cues(folded: str) -> tuple[str, ...]:
    found: list[str] = []
    for statuses, cues in STATUS_CUES.items():
        if any(_has_cue(folded, c) for c in cues):
            found += [s for s in statuses if s not in found]
    return tuple(found)


def grade_cues(folded: str) -> tuple[str, ...]:
    found = []
    for grade, cues in GRADE_CUES.items():
        text = folded
        if grade == "pass":  # 不合格 contains 合格
            for fail in GRADE_CUES["fail"]:
                text = text.replace(fail, " ")
        if any(_has_cue(text, c) for c in cues):
            found.append(grade)
    return tuple(found)


def brand_cue(folded: str) -> bool:
    return any(_has_cue(folded, c) for c in BRAND_CUES)


def rating_cue(folded: str) -> str | None:
    match = _RATING.search(folded)
    if match is None:
        return None
    return f"{match.group(1)}A" + ("+" if match.group(3) else "")


def answer_locale(current: str, text: str) -> str:
    """The language to answer a typed question in: the one it was written in, else the person's."""
    if _CJK.search(text):
        if to_simplified(text) != text:
            return "zh-Hant"
        return "zh-Hans" if current == "en" else current
    if len(_LATIN_WORD.findall(text)) >= 2:
        return "en"
    return current


def is_follow_up(folded: str, named: bool, intent: str) -> bool:
    """Whether a question without names of its own continues the previous one: it points back
    ("它", "its") or, about a project, is too short to be about anything else ("进展怎么样？")."""
    if named:
        return False
    if POINTING_BACK.search(folded):
        return True
    if LIST_CUES.search(folded):
        return False
    return ELLIPSIS in folded or (intent in PROJECT_INTENTS and len(folded.strip(" ?？!！。.")) <= SHORT_FOLLOW_UP)


# --- the FAQ knowledge -------------------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    id: str
    intent: str
    keywords: tuple[str, ...]
    title: dict[str, str]
    answer: dict[str, str]


@dataclass(frozen=True)
class Knowledge:
    overview: dict[str, dict[str, str]]
    topics: tuple[Topic, ...]

    def of(self, intent: str) -> list[Topic]:
        return [t for t in self.topics if t.intent == intent]

    def topic(self, topic_id: str | None) -> Topic | None:
        return next((t for t in self.topics if t.id == topic_id), None)

    def detect(self, intent: str, folded: str) -> Topic | None:
        """The topic of ``intent`` whose keywords the question mentions most (longer keywords count more)."""
        scored = [(sum(len(k) for k in t.keywords if _has_cue(folded, fold(k))), t) for t in self.of(intent)]
        best = max(scored, key=lambda s: s[0], default=(0, None))
        return best[1] if best[0] else None


@cache
def knowledge(path: Path = FAQ_FILE) -> Knowledge:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    topics = tuple(
        Topic(t["id"], t["intent"], tuple(t["keywords"]), dict(t["title"]), dict(t["answer"])) for t in data["topics"]
    )
    return Knowledge({k: dict(v) for k, v in data["overview"].items()}, topics)

