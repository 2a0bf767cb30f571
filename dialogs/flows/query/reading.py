"""Reading a public question typed in free text: the NLU parse checked against the database becomes a
``Question`` — the district, organization, category or project it names, the topic it is about — or,
when a name is unclear, a "did you mean…" whose buttons carry the question with each candidate.

Rules that hold for every question: a place asked about is the place unless the question names a
project; an organization's name lists its projects (or its standing when that is what is asked); a
topic filters (catalog names, synonyms, words of titles) and nothing matching is said, with the
nearest categories, never everything; a single candidate is answered, saying which one it is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from dialogs.context import Context
from dialogs.flow import run_button
from dialogs.listing import district, localized, shorten
from dialogs.questions import (
    MENU_CATEGORY,
    MENU_DISTRICT,
    PROJECT_INTENTS,
    QUERY_INTENTS,
    WORDS_MAX,
    Question,
    aspect_cue,
    brand_cue,
    content_words,
    decode,
    encode,
    grade_cues,
    is_follow_up,
    is_list_question,
    knowledge,
    name_pieces,
    rating_cue,
    residue_of,
    same_word,
    short_text,
    standing_cue,
    status_cues,
)
from dialogs.types import Button
from nlu.normalize import fold, fold_preserving
from store import public

NAME = "query"

LABEL_LIMIT = 30
SUGGESTIONS = 5
SUGGEST_FLOOR = 45.0  # below this a name resemblance is noise (scores of nlu's suggest, 0–100)
SUGGEST_STRONG = 60.0  # a list question that clearly names a project gets "did you mean" instead of a list
SUGGEST_WINDOW = 15.0  # candidates this close to the best one are offered too
TIE = 3.0  # a fuzzy name this close to another one is ambiguous
NEAREST_CATEGORIES = 3

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# A district-like place name (青山区, 某某县) but not 社区, 小区, 园区…
_PLACE = re.compile(r"^[\u4e00-\u9fff]{1,3}(?<![社小园景校片街商营学城])[区县]")
# The city or province a question mentions says nothing more than "here".
_CITY = re.compile(r"^[\u4e00-\u9fff]{1,4}[市省]$")
_ORG_SUFFIXES = ("中心", "协会", "服务社", "工作社", "基金会", "公司", "工作室", "促进会", "联合会", "研究会",
                 "center", "centre", "association", "agency", "foundation", "society")
# Answers that can list projects about a topic.
_LISTING = ("query_projects", "query_funding", "query_progress", "query_satisfaction", "query_evaluation")


def run(q: Question) -> str:
    return run_button(NAME, encode(q))


def back(ctx: Context) -> Button:
    return Button(ctx.t("query.menu_back"), run_button(NAME))


def _entity(parse: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((e for e in parse.get("entities") or [] if e.get("entity") == kind), None)


async def read(ctx: Context, parse: dict[str, Any]) -> Question | None:
    """The question a parse asks, with names checked against the database; None after replying
    otherwise ("did you mean…", a place or topic that is not in the data)."""
    text = str(parse.get("text") or "")
    folded = fold(text)
    intent = (parse.get("intent") or {}).get("name")
    q = Question(intent=intent if intent in QUERY_INTENTS else "query_projects")
    named = False
    unresolved: list[str] = []  # category words this city's catalog does not have
    surfaces: list[str] = []  # category words as typed (several together may name one item)
    entities = [_entity(parse, kind) for kind in ("year", "district", "department", "organization")]
    entities += [e for e in parse.get("entities") or [] if e.get("entity") == "category"]
    for entity in entities:
        if entity is None:
            continue
        named = True
        kind = entity.get("entity")
        value = entity.get("value")
        if kind == "year" and isinstance(value, int):
            q = replace(q, year=value)
        elif kind == "district" and isinstance(value, str):
            q = replace(q, district=value)
        elif kind == "department" and isinstance(value, str):
            q = replace(q, department=value)
        elif kind == "organization" and isinstance(value, str):
            q = replace(q, organization=value)
        elif kind == "category" and isinstance(value, str):
            surface = text[entity.get("start", 0):entity.get("end", 0)]
            surfaces.append(fold(surface))
            resolved = None if q.item or q.level1 else await _category(ctx, q, value, surface)
            if resolved is None:
                unresolved.append(fold(surface))
            else:
                q = resolved
    if q.intent in ("query_projects", "query_funding", "query_progress"):
        q = replace(q, statuses=status_cues(folded))
    if q.intent in ("query_projects", "query_evaluation"):
        q = replace(q, grades=grade_cues(folded), brand=brand_cue(folded))
    if q.intent == "query_organizations":
        q = replace(q, rating=rating_cue(folded))
    if q.intent in ("faq_process", "faq_eligibility"):
        topic = knowledge().detect(q.intent, folded)
        q = replace(q, topic=topic.id if topic else None)

    project = _entity(parse, "project")
    if project is not None and q.intent in PROJECT_INTENTS:
        return await _named_project(ctx, q, project, text)
    if q.organization is not None and q.intent == "query_organizations":
        return await _checked_organization(ctx, q, _entity(parse, "organization") or {}, text)
    if q.organization is not None and q.intent not in PROJECT_INTENTS and standing_cue(folded):
        return Question("query_organizations", organization=q.organization)
    residue = residue_of(parse)
    content = [w for w in content_words(fold(residue)) if not _CITY.match(w)]
    if q.intent in (*PROJECT_INTENTS, "query_organizations") and not content and is_follow_up(folded, named, q.intent):
        followed = await _continue(ctx, q)
        if followed.project is not None or followed.organization is not None or followed.has_filters:
            return followed
    if not content and not unresolved:
        return q  # the names and cue words are the whole question: 东城区有哪些项目
    return await _about(ctx, q, folded, residue, [*unresolved, *content], bool(unresolved), text, surfaces)


async def _category(ctx: Context, q: Question, value: str, surface: str) -> Question | None:
    if await public.catalog_item_names(ctx.session, value) is not None:
        return replace(q, item=value)
    wanted = {fold(value), fold(surface)} - {""}
    for zh, en in await public.level1_categories(ctx.session):
        names = {fold(zh), fold(en or "")} - {""}
        if names & wanted or any(w in n for w in wanted for n in names):
            return replace(q, level1=zh)
    return None  # a category word this city's catalog does not have: read as a topic


async def _about(
    ctx: Context, q: Question, folded: str, residue: str, content: list[str], category_word: bool, text: str,
    surfaces: list[str],
) -> Question | None:
    """A question with words beyond the names recognized: a place that is not in the data, a name the
    gazetteer did not pin down (a short or misspelt project or organization name), or a topic."""
    place = next((m.group(0) for w in content if (m := _PLACE.match(w))), None)
    if place is not None and q.district is None and q.organization is None:
        await _unknown_place(ctx, _as_typed(text, place))
        return None
    if q.intent == "query_organizations":
        return await _guess_organization(ctx, q, residue)
    listing = q.intent in _LISTING and (is_list_question(folded) or category_word)
    if q.organization is None and any(w.endswith(_ORG_SUFFIXES) for w in content):
        usccs = _suggest_pieces(ctx, "organization", residue)
        if usccs and usccs[0][1] >= SUGGEST_STRONG:
            return await _offer_organizations(ctx, q, [c for c, s in usccs if s >= usccs[0][1] - TIE])
    if q.intent in PROJECT_INTENTS and not listing:
        # the answer about one project is the one its words ask for; a name alone asks for its record
        one = replace(q, intent=aspect_cue(folded) or ("query_projects" if short_text(folded) else q.intent))
        guessed = await _guess_project(ctx, one, residue, content)
        if guessed is not one:
            return guessed
    if q.intent not in _LISTING:
        return q
    topic = await _topic(ctx, q, content, surfaces)
    if topic is not None:
        return topic
    if q.district or q.item or q.level1 or q.organization or q.department or q.project:
        return q  # the rest was a word we do not know next to a name we do: answer for the name
    await _nothing_about(ctx, " ".join(_as_typed(text, w) for w in content))
    return None


def _as_typed(text: str, word: str) -> str:
    """A word found in the folded question, as the person typed it (Traditional stays Traditional)."""
    start = fold_preserving(text).casefold().find(word)
    return text[start:start + len(word)] if start >= 0 else word


async def _topic(ctx: Context, q: Question, content: list[str], surfaces: Sequence[str] = ()) -> Question | None:
    """The question narrowed to what its words are about: a catalog class or item whose name holds them,
    else projects whose titles hold them. None when nothing in the data is about them."""
    items = await public.catalog_item_list(ctx.session)
    words = sorted(dict.fromkeys(content), key=len, reverse=True)
    every = [*dict.fromkeys([*surfaces, *words])]
    together = [i for i in items if len(every) > 1 and all(_names(w, i) for w in every)]
    if len(together) == 1:  # 残疾人 + 就业, carers + disabled + older people: the one item about all of them
        return replace(q, item=together[0].code)
    if q.item is not None:
        return q  # the item named is the topic; the other words describe it
    if q.level1 is not None:
        # words that pick one item of the class named (残疾人 + 就业 -> supported employment), else the class
        inside = [i for i in items if i.level1_zh == q.level1]
        for word in words:
            matched = [i for i in inside if _names(word, i)]
            if len(matched) == 1:
                return replace(q, item=matched[0].code)
        return q
    for word in words:
        if _CJK.search(word):
            level1 = [i.level1_zh for i in items if word in fold(i.level1_zh)]
        else:
            level1 = [i.level1_zh for i in items if _meets(word, i.level1_en)]
        matched = [i for i in items if _names(word, i)] or [i for i in items if _described(word, i)]
        if level1:
            return replace(q, level1=level1[0])
        if matched:
            if len({i.level1_zh for i in matched}) == 1 and len(matched) > 1:
                return replace(q, level1=matched[0].level1_zh)
            if len(matched) == 1:
                return replace(q, item=matched[0].code)
        title = word[:WORDS_MAX]
        found = await public.find_projects(ctx.session, replace(q, words=title).filter(defaults=False), limit=0)
        if found.total:
            return replace(q, words=title)
    return None


def _names(word: str, item: public.ItemName) -> bool:
    """Whether a word is in a catalog item's name (Chinese: whole, or each of its two-character parts, as
    社区议事 in 社区协商议事) or is a form of one of its words (English)."""
    if not _CJK.search(word):
        return _meets(word, item.name_en)
    name = fold(item.name_zh)
    return word in name or (len(word) >= 4 and all(word[i:i + 2] in name for i in range(0, len(word) - 1, 2)))


def _described(word: str, item: public.ItemName) -> bool:
    """Whether a Chinese word is in a catalog item's description (送餐上门 in the meal service's)."""
    return bool(_CJK.search(word)) and len(word) >= 2 and word in fold(item.description_zh or "")


def _meets(root: str, name: str | None) -> bool:
    """Whether an English word is a form of one of the words of ``name`` (autism ~ "autistic children")."""
    return any(same_word(root, w) for w in re.findall(r"[a-z]+", fold(name or "")))


async def _unknown_place(ctx: Context, place: str) -> None:
    names = await public.districts(ctx.session)
    labels = [await district(ctx, d) for d in names]
    buttons = [Button(label, run(Question("query_projects", district=d))) for d, label in zip(names, labels, strict=True)]
    ctx.tell("query.unknown_place", place=place, districts=ctx.t("query.list_separator").join(labels),
             buttons=[*[buttons[i:i + 3] for i in range(0, len(buttons), 3)], [back(ctx)]])


async def _nothing_about(ctx: Context, words: str) -> None:
    """Nothing is about these words: say so and offer the categories nearest to them."""
    categories = await public.level1_categories(ctx.session)
    near: list[str] = []
    if ctx.understand is not None:
        labels = {zh for zh, _ in categories}
        for value, label, _ in ctx.understand.suggest("category", words, 20):
            for name in (value, label):
                if name in labels and name not in near:
                    near.append(name)
    near += [zh for zh, _ in categories if zh not in near]
    english = dict(categories)
    buttons = [[Button(localized(ctx, zh, english.get(zh)), run(Question("query_projects", level1=zh)))]
               for zh in near[:NEAREST_CATEGORIES]]
    buttons.append([Button(ctx.t("query.browse.category"), run(Question(MENU_CATEGORY))),
                    Button(ctx.t("query.browse.district"), run(Question(MENU_DISTRICT)))])
    ctx.tell("query.nothing_about", topic=shorten(words, LABEL_LIMIT), buttons=[*buttons, [back(ctx)]])


async def _named_project(ctx: Context, q: Question, entity: dict[str, Any], text: str) -> Question | None:
    code = str(entity.get("value") or "")
    if float(entity.get("confidence") or 0) < 1.0:
        surface = text[entity.get("start", 0):entity.get("end", 0)] or text
        ties = _suggest(ctx, "project", surface)
        if len(ties) >= 2 and ties[1][1] >= ties[0][1] - TIE:
            codes = [c for c, s in ties if s >= ties[0][1] - TIE]
            rows = await public.projects_by_code(ctx.session, codes, q.filter(defaults=False))
            return await _offer(ctx, q, rows or await public.projects_by_code(ctx.session, codes), surface)
    if await public.project_record(ctx.session, code) is None:
        ctx.tell("query.not_found_project", name=code)
        await ask_project(ctx)
        return None
    return replace(q, project=code)


async def _checked_organization(ctx: Context, q: Question, entity: dict[str, Any], text: str) -> Question | None:
    if float(entity.get("confidence") or 0) < 1.0:
        surface = text[entity.get("start", 0):entity.get("end", 0)] or text
        ties = _suggest(ctx, "organization", surface)
        if len(ties) >= 2 and ties[1][1] >= ties[0][1] - TIE:
            return await _offer_organizations(ctx, q, [c for c, s in ties if s >= ties[0][1] - TIE])
    return q


async def _continue(ctx: Context, q: Question) -> Question:
    """Fill in what the previous answer was about (its project, organization or filters)."""
    previous = decode(ctx.follow_up or "")
    if previous is None:
        return q
    if previous.project and q.intent in PROJECT_INTENTS:
        return replace(q, project=previous.project)
    if previous.organization and q.intent in ("query_organizations", *PROJECT_INTENTS):
        return replace(q, organization=previous.organization)
    if q.intent in PROJECT_INTENTS:
        return replace(q, year=previous.year, item=previous.item, level1=previous.level1,
                       district=previous.district, department=previous.department, words=previous.words)
    return q


async def _guess_project(ctx: Context, q: Question, residue: str, content: list[str]) -> Question | None:
    """A question naming a project the NLU did not pin down: that project (one candidate), "did you
    mean…" (several), or ``q`` itself when nothing resembles a project enough."""
    candidates = _suggest_pieces(ctx, "project", residue, content)
    if not candidates:
        return q
    # a weak resemblance does not turn a list question into a question about one project
    if candidates[0][1] < SUGGEST_STRONG and q.intent in ("query_projects", "query_evaluation", "query_funding"):
        return q
    codes = [c for c, s in candidates if s >= candidates[0][1] - SUGGEST_WINDOW]
    # only candidates that fit the rest of the question (南山区…: those in 南山区)
    rows = await public.projects_by_code(ctx.session, codes, q.filter(defaults=False))
    if not rows:
        return q
    return await _offer(ctx, q, rows, " ".join(content_words(fold(residue))))


async def _guess_organization(ctx: Context, q: Question, residue: str) -> Question | None:
    """An organization the NLU did not pin down: the one candidate, "did you mean…" (None), or ``q``."""
    if q.organization:
        return q
    candidates = _suggest_pieces(ctx, "organization", residue)
    if not candidates:
        return q
    return await _offer_organizations(ctx, q, [c for c, s in candidates if s >= candidates[0][1] - SUGGEST_WINDOW])


def _suggest_pieces(ctx: Context, kind: str, text: str, content: Sequence[str] = ()) -> list[tuple[str, float]]:
    """Suggestions for the question as a whole, for each of its Chinese pieces between particles
    ("心晴热线的满意度怎么样" -> 心晴热线, 满意度怎么样) and for what it is about once its scaffolding is
    gone ("手作工坊那个项目属于什么类型" -> 手作工坊), best score per candidate first."""
    best: dict[str, float] = {}
    # an English question as a whole resembles any title through its common words ("project"): its
    # words left once the scaffolding is gone are what to compare
    phrase = " ".join(content)
    pieces = [text, *name_pieces(text)] if _CJK.search(text) or not phrase else []
    # the words left as one phrase ("time bank"), and each Chinese run on its own
    pieces += [w for w in [phrase, *(c for c in content if _CJK.search(c))] if len(w) >= 3 and w not in pieces]
    for piece in pieces:
        for value, score in _suggest(ctx, kind, piece):
            best[value] = max(best.get(value, 0.0), score)
    return sorted(best.items(), key=lambda item: -item[1])[:SUGGESTIONS]


def _suggest(ctx: Context, kind: str, text: str) -> list[tuple[str, float]]:
    if ctx.understand is None or not text.strip():
        return []
    return [(value, score) for value, _, score in ctx.understand.suggest(kind, text, SUGGESTIONS)
            if score >= SUGGEST_FLOOR]


async def _offer(ctx: Context, q: Question, rows: list[public.ProjectRow], asked: str) -> Question | None:
    """The one candidate (saying which project the answer is for), else "did you mean…"."""
    if len(rows) == 1:
        row = rows[0]
        ctx.tell("query.answer_for", asked=shorten(asked, LABEL_LIMIT) or row.code,
                 title=localized(ctx, row.title_zh, row.title_en), code=row.code)
        return Question(q.intent, project=row.code)
    buttons = [[Button(ctx.t("query.candidate", title=shorten(localized(ctx, r.title_zh, r.title_en), LABEL_LIMIT),
                             code=r.code), run(Question(q.intent, project=r.code)))] for r in rows[:SUGGESTIONS]]
    buttons.append([Button(ctx.t("query.button.none_of_these"), run_button(NAME))])
    ctx.tell("query.did_you_mean", buttons=buttons)
    return None


async def _offer_organizations(ctx: Context, q: Question, usccs: list[str]) -> Question | None:
    """The one organization (its projects, or its record for a question about organizations), else
    "did you mean…"."""
    found = [(u, names) for u in usccs[:SUGGESTIONS] if (names := await public.organization_names(ctx.session, u))]
    if len(found) == 1:
        uscc, names = found[0]
        ctx.tell("query.answer_for_organization", name=localized(ctx, *names))
        return replace(q, organization=uscc)
    buttons = [[Button(localized(ctx, *names), run(Question(q.intent, organization=uscc)))] for uscc, names in found]
    buttons.append([Button(ctx.t("query.button.none_of_these"), run_button(NAME))])
    ctx.tell("query.did_you_mean", buttons=buttons)
    return None


async def ask_project(ctx: Context) -> None:
    example = await public.find_projects(ctx.session, public.ProjectFilter(), limit=1)
    ctx.tell("query.ask_project", example=example.rows[0].code if example.rows else "", buttons=[[back(ctx)]])
