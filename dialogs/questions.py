"""What a public question asks, as a value: the answer wanted and its filters (``Question``), its compact
encoding in button data, the words in a question that narrow it (statuses, grades, ratings), what it is
about (the answer its words ask for, its words beyond the names and scaffolding, its intent corrected by
the names it holds), whether it continues the previous one, the language to answer in, and the
how-it-works knowledge file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

from dialogs.buttons import parse_id
from nlu.normalize import fold
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
WORDS_MAX = 16  # title words in button data (Telegram allows 64 bytes)

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Particles and punctuation that end a name inside a Chinese question.
_PARTICLES = re.compile(r"[的了吗呢吧啊呀么是在有和与及给、，。？！?!,.;；:：\s]+")

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
    words: str | None = None  # a topic not in the catalog: words of project titles
    page: int = 0

    def filter(self, *, defaults: bool = True) -> public.ProjectFilter:
        """The project filter of this question; ``defaults`` adds the statuses its answer lists by default."""
        statuses = self.statuses or (DEFAULT_STATUSES.get(self.intent, ()) if defaults else ())
        return public.ProjectFilter(
            year=self.year, catalog_code=self.item, level1=self.level1, district=self.district,
            organization=self.organization, department=self.department, statuses=statuses,
            grades=self.grades, brand=self.brand, title=title_root(self.words) if self.words else None,
        )

    @property
    def has_filters(self) -> bool:
        return any((self.year, self.item, self.level1, self.district, self.organization, self.department,
                    self.statuses, self.grades, self.brand, self.words))


_KEYS = {
    "project": "p", "organization": "o", "year": "y", "item": "c", "level1": "l", "district": "d",
    "department": "t", "statuses": "s", "grades": "g", "brand": "b", "rating": "r", "topic": "q", "words": "w", "page": "n",
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
        elif name == "words":
            values[name] = value[:WORDS_MAX]
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


# --- what a question is about ------------------------------------------------------------------

# The answer that holds what a question about one project asks for, by its words, tried in this order
# (满意度评价 is about satisfaction, 拨款什么时候 about payments). Latin cues match at a word's start.
ASPECT_CUES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("query_satisfaction", ("满意", "好评", "口碑", "satisf", "happy with", "feedback")),
    ("query_funding", ("拨", "付款", "支付", "付了", "付钱", "到账", "资金", "经费", "款项", "分期",
                       "paid", "pay", "disburs", "tranche", "funding", "funds", "money")),
    ("query_deadline", ("截止", "节点", "里程碑", "下一步", "下一个", "下个", "到期", "时间表", "安排",
                        "deadline", "milestone", "due", "next", "schedule")),
    ("query_evaluation", ("等级", "评级", "绩效", "评价", "评估", "评分", "得分", "打分", "分数", "多少分", "几分",
                          "验收", "考核",
                          "grade", "evaluat", "score", "rating", "rated", "performance", "acceptance", "assess")),
    ("query_progress", ("进展", "进度", "检查", "督查", "实施情况", "开展情况", "做得", "做到哪", "干得", "搞得",
                        "开展得", "进行得", "办得",
                        "progress", "inspect", "going", "doing", "mid-term", "midterm", "update")),
    ("query_projects", ("部门", "买", "采购", "出资", "出钱", "机构", "组织", "承接", "谁", "金额", "多少钱", "钱",
                        "期限", "周期", "起止", "开始", "结束", "多久", "多长", "哪个区", "哪里", "在哪", "区域",
                        "类别", "类型", "哪一类", "什么类", "属于", "状态", "详情", "介绍", "基本情况",
                        "department", "bought", "buy", "buyer", "purchas", "who", "provider", "organi", "operat",
                        "run", "amount", "cost", "how much", "worth", "term", "start", "end", "finish", "how long",
                        "duration", "district", "where", "category", "type", "kind", "status", "detail", "about")),
)
# "When" asks for the next milestone unless it asks when the term starts or ends.
WHEN_CUES = ("什么时候", "何时", "哪天", "几号", "啥时候", "when")
TERM_CUES = ("开始", "结束", "起止", "期限", "start", "begin", "end", "finish")
# Words that make a text a question rather than a statement (a need, a complaint).
ASKS = re.compile(r"[?？]|哪|什么|多少|几|吗|怎么|如何|是否|有没有|啥|谁|"
                  r"(?<![a-z])(who|whose|what|whats|which|how|when|where|is|are|does|did|has)(?![a-z])")
# Words of a need or a complaint: a text with them asks for something to be done, not for public data.
ACTION_MARKERS = ("希望", "建议", "需要", "缺", "应该", "能不能", "可不可以", "可以不可以", "增加", "多开", "多建",
                  "投诉", "举报", "反映", "不好", "太差", "问题", "want", "need", "should", "suggest", "complain",
                  "report", "lack", "missing")
# Questions about an organization's standing rather than its projects.
STANDING_CUES = ("等级", "评级", "资质", "名录", "几a", "rating", "rated", "qualif", "listed", "accredit")
# Words that make a question about a list of projects, whatever else it names.
TOPIC_CUES = re.compile(r"相关|有关|关于|方面|涉及|一类|这类|(?<![a-z])(about|related|regarding|on|for)(?![a-z])")
SOME_PROJECTS = re.compile(r"(什么|啥|有没有).{0,10}(项目|服务)|的项目[?？!！.。]*$")
# What an organization does, as opposed to its standing.
ITS_PROJECTS = ("项目", "做了", "做过", "做什么", "干什么", "在做", "project", "programme", "program", "work on",
                "works on", "worked on", "working on", "deliver")
PLURAL_PROJECTS = re.compile(r"(?<![a-z])(projects|programmes|programs|services)(?![a-z])")

# The scaffolding of a question: what is left once it and the recognized names are taken out is what
# the question is about (a topic or a name the gazetteer did not recognize).
_SCAFFOLD_ZH = sorted((
    "请问", "请", "我想", "我要", "想要", "想", "知道", "了解", "查询", "查一下", "查查", "查", "看看", "看一下", "看",
    "帮我", "告诉我", "麻烦", "一下", "有哪些", "哪些", "哪几个", "哪个", "哪家", "有没有", "有什么", "是什么",
    "什么", "都有", "还有", "相关的", "相关", "有关的", "有关", "关于", "方面的", "方面", "涉及", "这类", "一类",
    "类的", "项目", "计划", "服务", "情况", "怎么样", "咋样", "如何", "多少", "几个", "名单", "列表", "所有",
    "全部", "年度", "今年", "去年", "明年", "目前", "现在", "正在", "当前", "承接", "负责", "开展", "运营", "举办",
    "实施", "购买", "政府", "主要", "具体", "一共", "总共", "共有", "吗", "呢", "吧", "啊", "呀", "么", "嘛",
    "的", "了", "是", "在", "有", "和", "与", "及", "个", "都", "给", "做", "年", "里", "些", "那", "这", "该",
    "我们", "我", "你们", "你", "它", "其", "哪", "几", "能", "可以", "吗", "啥", "要", "还", "也", "谁", "被",
    "让", "为", "单位", "附近", "周边", "那边", "这边", "那块", "这块", "一带", "住", "时间", "日期", "时候",
    "那个", "这个", "搞", "弄", "一些", "有些", "些什么", "都在", "大家", "老百姓", "居民", "跟", "同", "类",
    "清单", "帮", "针对",
), key=len, reverse=True)
_SCAFFOLD_EN = frozenset((
    "which", "what", "whats", "what's", "are", "is", "was", "were", "be", "the", "there", "any", "all", "list",
    "show", "me", "my", "project", "projects", "programme", "programmes", "program", "programs", "service",
    "services", "related", "about", "on", "in", "of", "for", "to", "do", "does", "did", "you", "have", "has", "a",
    "an", "tell", "i", "want", "know", "see", "find", "give", "with", "please", "can", "could", "how", "many",
    "much", "this", "that", "these", "those", "year", "years", "last", "current", "currently", "now", "run",
    "running", "ongoing", "by", "from", "and", "or", "its", "it", "their", "they", "who", "where", "when",
    "regarding", "concerning", "get", "got", "info", "information", "look", "up", "search", "around", "kind",
    "kinds", "type", "types", "some", "anything", "something", "district", "area", "city", "public", "government",
    "take", "place", "places", "held", "located", "near", "nearby", "live", "work", "works", "working",
    "done", "did", "so", "far", "yet", "still", "please", "thanks", "hi", "hello", "there's", "any", "much",
    "happening", "happens", "going", "on", "new", "here", "local", "our", "we", "us",
))
_LATIN_TOKEN = re.compile(r"[a-z][a-z'\-]*[a-z]|[a-z]")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_CUE_WORDS = tuple(sorted({c for _, cues in ASPECT_CUES for c in cues if not c.isascii()}
                          | {c for cues in STATUS_CUES.values() for c in cues if not c.isascii()}
                          | {c for cues in GRADE_CUES.values() for c in cues if not c.isascii()}
                          | {c for c in BRAND_CUES if not c.isascii()} | {c for c in WHEN_CUES if not c.isascii()}
                          | {c for c in STANDING_CUES if not c.isascii()},
                          key=len, reverse=True))
_LATIN_CUES = tuple(sorted({c for _, cues in ASPECT_CUES for c in cues if c.isascii()}
                           | {c for cues in STATUS_CUES.values() for c in cues if c.isascii()}
                           | {c for cues in GRADE_CUES.values() for c in cues if c.isascii()} | set(BRAND_CUES)
                           | {c for c in STANDING_CUES if c.isascii()}))
_LATIN_STEMS = tuple(c for c in _LATIN_CUES if " " not in c)
# Cue words come out first (满意度 before 满意's scaffolding), then the scaffolding, longest first.
_CUE_WORDS_OUT = re.compile("|".join(map(re.escape, _CUE_WORDS)))
_SCAFFOLD_OUT = re.compile("|".join(map(re.escape, _SCAFFOLD_ZH)))


@cache
def _cue_pattern(cues: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern for a set of cues: Chinese ones anywhere, Latin ones at a word's start."""
    words = sorted(cues, key=len, reverse=True)
    return re.compile("|".join(re.escape(c) if not c.isascii() else rf"(?<![a-z]){re.escape(c)}" for c in words))


def _mentions(folded: str, cues: tuple[str, ...]) -> bool:
    return _cue_pattern(cues).search(folded) is not None


def aspect_cue(folded: str) -> str | None:
    """The answer about one project that the question's words ask for, None when they name none."""
    for intent, cues in ASPECT_CUES:
        if intent == "query_deadline" and _mentions(folded, WHEN_CUES) and not _mentions(folded, TERM_CUES):
            return intent
        if _mentions(folded, cues):
            return intent
    return None


def standing_cue(folded: str) -> bool:
    """Whether a question about an organization asks about its rating or qualification."""
    return _mentions(folded, STANDING_CUES)


def is_list_question(folded: str) -> bool:
    """Whether the question asks for a list of projects (哪些, 相关, 有什么…项目, "projects")."""
    return bool(LIST_CUES.search(folded) or TOPIC_CUES.search(folded) or PLURAL_PROJECTS.search(folded)
                or SOME_PROJECTS.search(folded))


def content_words(folded: str) -> list[str]:
    """What a question (its recognized names already taken out) is about once its scaffolding, cue words
    and particles are gone: Chinese runs of two or more characters and Latin words."""
    text = _CUE_WORDS_OUT.sub(" ", _RATING.sub(" ", folded))
    text = _SCAFFOLD_OUT.sub(" ", text)
    found = [run for run in _CJK_RUN.findall(text) if len(run) >= 2]
    for token in _LATIN_TOKEN.findall(text):
        word = token.strip("'-")
        if len(word) < 3 or word in _SCAFFOLD_EN or word.startswith(_LATIN_STEMS):
            continue
        found.append(word)
    return found


def same_word(a: str, b: str) -> bool:
    """Whether two English words are forms of one (autism ~ autistic, canteens ~ canteen, elder ~ elderly):
    a long enough common beginning."""
    common = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    shorter = min(len(a), len(b))
    return common >= 0.7 * shorter and (common >= 5 or common == shorter >= 3)


def title_root(word: str) -> str:
    """What a word's forms in titles share: an English word loses its ending (autism -> autis,
    canteens -> canteen), Chinese stays as it is."""
    if not word.isascii() or len(word) <= 5:
        return word
    return word[: max(5, round(len(word) * 0.75))]


# Kinds of names that make a text a question about public data when it holds nothing else.
NAME_KINDS = ("project", "organization", "district", "category", "department")
# Intents that say something of their own however short ("你好", "取消"): never read as a name.
_SOCIAL = ("greet", "goodbye", "thanks", "help", "cancel")
NAME_ONLY_SCORE = 75.0  # a short text this close to a project's or organization's name is that name
NAME_ONLY_CHARS = 12  # …and "short" is at most this many folded characters
UNSURE = 0.8  # a classifier this unsure of a non-question intent yields to the names and words of a question


def short_text(folded: str) -> bool:
    """Whether a text is short enough to be nothing but a name."""
    return 2 <= len(folded.strip(" ?？!！。.")) <= NAME_ONLY_CHARS


def residue_of(parse: dict[str, Any]) -> str:
    """The question with its recognized names (and years, amounts) blanked out."""
    text = str(parse.get("text") or "")
    for entity in sorted(parse.get("entities") or [], key=lambda e: -int(e.get("start", 0))):
        text = text[: int(entity.get("start", 0))] + " " + text[int(entity.get("end", 0)):]
    return text


def name_pieces(text: str) -> list[str]:
    """The Chinese pieces of a question between particles, where a name inside it may be
    ("心晴热线的满意度怎么样" -> 心晴热线, 满意度怎么样)."""
    return [p for p in _PARTICLES.split(text) if len(p) >= 3 and _CJK.search(p) and p != text]


Suggest = Callable[[str, str, int], list[tuple[str, str, float]]]


def refine_intent(parse: dict[str, Any], suggest: Suggest | None = None) -> dict[str, Any]:
    """The parse with its intent corrected by what the text names: a text that only names something
    (a short project name, a district in English) asks about it instead of starting a form; a question
    naming one project asks for the answer its words point to (评估等级 → the evaluation, 哪个部门买的 →
    the record), whatever the classifier made of the rest; an organization's name with 项目 asks for its
    projects. ``suggest(kind, text, limit)`` is the gazetteer's fuzzy lookup, for names the extractor
    did not pin down ("四点半课堂" when two projects share it)."""
    intent = str((parse.get("intent") or {}).get("name") or "out_of_scope")
    kinds = {str(e["entity"]) for e in parse.get("entities") or [] if e.get("entity") in NAME_KINDS}
    text = str(parse.get("text") or "")
    folded = fold(text)
    if intent in _SOCIAL:
        # "88" is goodbye and 终止 may cancel, unless part of a question about a name ("…项目（88）", "…为啥终止了")
        named = kinds & {"project", "organization"}
        if not named or (intent in ("help", "cancel") and ASKS.search(folded) is None):
            return parse
    rest_folded = fold(residue_of(parse))
    rest = content_words(rest_folded)
    confidence = float((parse.get("intent") or {}).get("confidence") or 0.0)
    cued = _mentions(rest_folded, _CUE_WORDS + WHEN_CUES + _LATIN_CUES)
    aspect = aspect_cue(folded)
    wanted = intent
    if intent not in QUERY_INTENTS:
        unsure = confidence < UNSURE or ASKS.search(folded) is not None
        if "project" in kinds:
            if not rest or (aspect and unsure):
                wanted = aspect or "query_projects"
        elif "organization" in kinds:
            if not rest:
                wanted = "query_projects" if _mentions(folded, ITS_PROJECTS) else "query_organizations"
        elif kinds:
            asked = ASKS.search(folded) is not None and not _mentions(folded, ACTION_MARKERS)
            if (not rest and not cued) or (asked and confidence < UNSURE) or (asked and intent == "submit_demand"):
                wanted = "query_projects"  # a place or a class alone, or asked about: its projects
        elif confidence < UNSURE and is_list_question(folded) and _mentions(folded, ("项目", "project", "programme")):
            wanted = "query_projects"  # 防欺凌相关项目, projects for…: a list, whatever it is about
        elif suggest is not None and (short_text(folded) or (aspect and unsure)):
            pieces = [text, *name_pieces(text), *rest]
            best = max((s for kind in ("project", "organization") for piece in pieces
                        for _, _, s in suggest(kind, piece, 1)), default=0.0)
            if best >= NAME_ONLY_SCORE and (aspect or not cued):
                wanted = aspect or "query_projects"
    elif "project" in kinds and intent != "take_survey":
        if not rest and not aspect and short_text(folded):
            wanted = "query_projects"  # a project's name alone: its record
        elif intent in PROJECT_INTENTS or intent in ("query_organizations", "query_budget", "query_catalog") or aspect:
            wanted = aspect or (intent if intent in PROJECT_INTENTS else "query_projects")
    elif "organization" in kinds:
        if intent == "query_organizations" and _mentions(folded, ITS_PROJECTS):
            wanted = "query_projects"
        elif intent in PROJECT_INTENTS and standing_cue(folded) and not is_list_question(folded):
            wanted = "query_organizations"
    elif kinds and kinds <= {"district", "category", "department"} and not rest and not cued and intent != "query_budget":
        wanted = "query_projects"  # a place or a class alone: its projects
    if wanted == intent:
        return parse
    return {**parse, "intent": {**(parse.get("intent") or {}), "name": wanted}}


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

