"""Entity extraction against caller-supplied names (projects, organizations, categories, districts,
departments), regexes, lookup tables, years and amounts, with offsets into the original text."""

from __future__ import annotations

import re
from array import array
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

from nlu.dates import find_years
from nlu.normalize import fold_preserving
from nlu.numbers import find_amounts

PROJECT, ORGANIZATION, CATEGORY, DISTRICT, DEPARTMENT = "project", "organization", "category", "district", "department"
YEAR, AMOUNT = "year", "amount"
KINDS = (PROJECT, ORGANIZATION, CATEGORY, DISTRICT, DEPARTMENT)
# the order in which a synonym's canonical value is looked up, and the kinds whose names may contain it
_SYNONYM_KINDS = (CATEGORY, DISTRICT, DEPARTMENT, ORGANIZATION, PROJECT)
_CONTAINED_KINDS = (CATEGORY, DEPARTMENT)

GAZETTEER_EXTRACTOR = "CivicbotGazetteerExtractor"
REGEX_EXTRACTOR = "RegexEntityExtractor"
YEAR_EXTRACTOR = "CivicbotYearExtractor"
AMOUNT_EXTRACTOR = "CivicbotAmountExtractor"

# Project codes when the training data brings no `regex: project` item.
# (\b does not work next to CJK text, which counts as word characters: lookarounds instead.)
DEFAULT_PROJECT_CODE = r"(?<![A-Za-z0-9])[A-Za-z]{2,4}-\d{4}-\d{3,6}(?![A-Za-z0-9])"
FUZZY_KINDS = (PROJECT, ORGANIZATION)
DERIVED_CONFIDENCE = 0.9  # a short name, synonym or lookup phrase; a full name or code has 1.0
FUZZY_MIN_SCORE = 85.0
FUZZY_MIN_COVERAGE = 0.5  # idf-weighted share of a name's grams that must appear in the text
FUZZY_CANDIDATES = 8
SUGGEST_MIN_SCORE = 40.0
POSTING_BUDGET = 8_000  # how many index postings one lookup may read (rarest grams first)

# The longest match wins an overlap; among equally long ones, this order.
_PRIORITY = {PROJECT: 0, ORGANIZATION: 1, DEPARTMENT: 2, DISTRICT: 3, CATEGORY: 4, YEAR: 5, AMOUNT: 6}

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAS_CJK = re.compile(f"[{_CJK}]")
_GRAM_TOKENS = re.compile(rf"[a-z0-9]+|[{_CJK}]+")
_LATIN_EDGE = re.compile(r"[a-z0-9]")
_EN_STOP = frozenset({"the", "of", "and", "for", "in", "on", "at", "to", "a", "an"})
_TRIM = " \t,.;:!?'\"()[]<>-_/·"

# A leading administrative area: 临江市…, 南山区…, 某某县… (but not …社区, …小区, …园区).
_ADMIN_PREFIX = re.compile(rf"^[{_CJK}]{{2,6}}?(?<![社小园景校片街商])[省市区县]")
_ORG_SUFFIXES_ZH = (
    "有限责任公司", "有限公司", "公司", "服务中心", "发展中心", "指导中心", "中心", "服务社", "工作社",
    "服务站", "工作室", "协会", "促进会", "联合会", "总会", "基金会", "研究会", "研究院", "事务所",
)
_ORG_SUFFIXES_EN = (
    "center", "centre", "association", "society", "foundation", "federation", "services", "service",
    "agency", "club", "organization", "organisation", "co", "ltd", "inc", "limited", "company",
)
_PROJECT_SUFFIXES_ZH = ("服务项目", "项目", "计划", "工程", "行动", "服务")
_PROJECT_SUFFIXES_EN = ("project", "programme", "program", "services", "service", "scheme", "initiative")
_DISTRICT_SUFFIXES = ("新区", "街道", "区", "县", "市", "镇")
_CATEGORY_SUFFIXES = ("服务", "类", "services", "service")
_DEPARTMENT_SUFFIXES_EN = ("bureau", "commission", "office", "department", "committee")


@dataclass
class Gazetteer:
    """The names the extractor recognizes, handed in by the caller (usually read from the database).
    Empty or None names are ignored; `synonyms` map a variant to a name (or value) of an entry."""

    projects: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # code, title_zh, title_en
    organizations: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # uscc, zh, en
    categories: list[tuple[str, ...]] = field(default_factory=list)  # value, name, name, …
    districts: list[str] = field(default_factory=list)
    departments: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # code, zh, en
    synonyms: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Entry:
    kind: str
    value: str
    label: str  # the first (usually Chinese) name, for "did you mean"
    names: tuple[str, ...]  # folded


# The name table maps a folded name to one code or a tuple of codes; a code is entry * 2 + 1 for a
# derived name (short form, synonym, lookup phrase) and entry * 2 for a full name. Plain ints keep
# a table of 100,000 projects small.
_Codes = int | tuple[int, ...]


def _codes(value: _Codes | None) -> tuple[int, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, int) else value


def _put(table: dict[str, _Codes], key: str, code: int) -> None:
    old = table.get(key)
    if old is None:
        table[key] = code
    elif code not in _codes(old):
        table[key] = (*_codes(old), code)


@dataclass
class _Match:
    start: int
    end: int
    kind: str
    value: Any
    extractor: str
    confidence: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity": self.kind,
            "value": self.value,
            "start": self.start,
            "end": self.end,
            "extractor": self.extractor,
            "confidence": round(self.confidence, 4),
        }


# What fold_preserving does to ASCII, without its per-character work (codes, English names).
_ASCII_SPACES = str.maketrans({chr(c): " " for c in range(128) if chr(c).isspace()})


def _key(text: str) -> str:
    """The comparison form of a name: folded with offsets preserved, so keys line up with texts."""
    if text.isascii():
        return text.lower().translate(_ASCII_SPACES).strip()
    return fold_preserving(text).strip()


def _is_latin(text: str) -> bool:
    return _HAS_CJK.search(text) is None


def _grams(key: str) -> set[str]:
    """Index grams: CJK character bigrams (a lone CJK character stands for itself) and Latin words."""
    out: list[str] = []
    for token in _GRAM_TOKENS.findall(key):
        if token[0].isascii():
            if len(token) >= 2 and token not in _EN_STOP:
                out.append(token)
        elif len(token) == 1:
            out.append(token)
        else:
            out += [a + b for a, b in pairwise(token)]
    return set(out)


def _strip_suffixes(name: str, suffixes: Sequence[str], min_len: int) -> list[str]:
    """Shorter forms of a name by taking off known suffixes (repeatedly), each at least `min_len` long."""
    found: list[str] = []
    latin = _is_latin(name)  # shorter forms keep the script of the name
    frontier = [name]
    while frontier:
        current = frontier.pop()
        for suffix in suffixes:
            if not current.endswith(suffix):
                continue
            shorter = current[: -len(suffix)]
            if latin:
                if not shorter.endswith(" "):
                    continue  # only whole words come off an English name
                shorter = shorter.rstrip()
            if len(shorter) >= min_len and shorter not in found:
                found.append(shorter)
                frontier.append(shorter)
    return found


def _strip_admin_prefix(name: str, districts: Iterable[str]) -> list[str]:
    """The name without leading city/district names (临江市阳光… -> 阳光…)."""
    out = []
    current = name
    for _ in range(3):
        stripped = next((current[len(d) :] for d in districts if d and current.startswith(d)), None)
        if stripped is None:
            match = _ADMIN_PREFIX.match(current)
            stripped = current[match.end() :] if match else None
        if not stripped or len(stripped) < 2:
            break
        out.append(stripped)
        current = stripped
    return out


def _int_array() -> array[int]:
    return array("i")


class _FuzzyIndex:
    """An inverted index from grams to names of one kind, for candidate generation before scoring.
    Frozen, all postings live in one int32 array, sliced per gram (no object per gram)."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.entries: list[int] = []
        self._building: defaultdict[str, array[int]] | None = defaultdict(_int_array)
        self._slot: dict[str, int] = {}  # gram -> its postings are flat[offsets[slot]:offsets[slot + 1]]
        self._flat = np.zeros(0, dtype=np.int32)
        self._offsets: np.ndarray = np.zeros(1, dtype=np.int64)
        self._idf = np.zeros(0)
        self._weight: np.ndarray = np.zeros(0)  # per name: the idf sum of its grams

    def add(self, key: str, entry: int) -> None:
        assert self._building is not None, "the index is frozen"
        term = len(self.keys)
        self.keys.append(key)
        self.entries.append(entry)
        postings = self._building
        for gram in _grams(key):
            postings[gram].append(term)

    def freeze(self) -> None:
        building: dict[str, array[int]] = self._building or {}
        self._building = None
        self._slot = {gram: slot for slot, gram in enumerate(building)}
        sizes = np.fromiter((len(ids) for ids in building.values()), dtype=np.int64, count=len(building))
        self._offsets = np.concatenate([[0], np.cumsum(sizes)])
        self._flat = np.frombuffer(b"".join(ids.tobytes() for ids in building.values()), dtype=np.int32)
        self._idf = np.log1p(max(len(self.keys), 1) / np.maximum(sizes, 1))
        self._weight = np.bincount(self._flat, weights=np.repeat(self._idf, sizes), minlength=len(self.keys))

    def _postings(self, slot: int) -> np.ndarray:
        return self._flat[self._offsets[slot] : self._offsets[slot + 1]]

    def candidates(self, query: set[str], limit: int) -> list[tuple[int, float]]:
        """(term, coverage) of the names sharing the most idf weight with the query grams, best first.
        Reads the rarest grams first and stops at POSTING_BUDGET postings, so frequent grams
        (服务, 项目, center) cost nothing when rarer ones already narrow the field."""
        slots = {self._slot[g]: g for g in query if g in self._slot}
        if not slots:
            return []
        order = sorted(slots, key=lambda slot: self._offsets[slot + 1] - self._offsets[slot])
        ids, weights, read = [], [], 0
        for slot in order:
            postings = self._postings(slot)
            if read and read + len(postings) > POSTING_BUDGET:
                break
            ids.append(postings)
            weights.append(np.full(len(postings), self._idf[slot]))
            read += len(postings)
        terms, inverse = np.unique(np.concatenate(ids), return_inverse=True)
        shared = np.bincount(inverse, weights=np.concatenate(weights))
        best = np.argsort(-shared, kind="stable")[: limit * 4]
        # exact coverage of the few best, counting every query gram (also those not read above)
        query_idf = {g: float(self._idf[slot]) for slot, g in slots.items()}
        scored = []
        for i in best:
            term = int(terms[i])
            common = sum(query_idf.get(g, 0.0) for g in _grams(self.keys[term]))
            scored.append((term, common / self._weight[term] if self._weight[term] else 0.0))
        scored.sort(key=lambda item: -item[1])
        return scored[:limit]


class EntityExtractor:
    """Finds entities in a text: exact names (indexed by first character and length), fuzzy project
    and organization names (gram index + rapidfuzz on a few candidates), project codes and other
    regexes, lookup tables, years and amounts. Offsets index the original text."""

    def __init__(
        self,
        gazetteer: Gazetteer | None = None,
        synonyms: Mapping[str, str] | None = None,
        regexes: Mapping[str, Sequence[str]] | None = None,
        lookups: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self._sources = (dict(synonyms or {}), dict(regexes or {}), dict(lookups or {}))
        gazetteer = gazetteer or Gazetteer()
        self._synonyms = {_key(k): v for k, v in {**(synonyms or {}), **gazetteer.synonyms}.items()}
        self._entries: list[_Entry] = []
        self._by_kind: dict[str, list[int]] = {kind: [] for kind in KINDS}
        self._exact: dict[str, _Codes] = {}
        self._derived: dict[str, _Codes] = {}
        self._fuzzy = {kind: _FuzzyIndex() for kind in FUZZY_KINDS}
        self._load(gazetteer)
        self._add_synonyms()
        self._add_lookups(lookups or {})
        self._finish_exact()
        patterns = {name: list(p) for name, p in (regexes or {}).items()}
        patterns.setdefault(PROJECT, [DEFAULT_PROJECT_CODE])
        self._regexes = [
            (name, re.compile(pattern, re.IGNORECASE)) for name, plist in patterns.items() for pattern in plist
        ]
        for index in self._fuzzy.values():
            index.freeze()

    def with_gazetteer(self, gazetteer: Gazetteer) -> EntityExtractor:
        """A new extractor over other names (the database changed), same synonyms, regexes and lookups."""
        synonyms, regexes, lookups = self._sources
        return EntityExtractor(gazetteer, synonyms, regexes, lookups)

    # -------------------------------------------------------------------------------------- building

    def _add_entry(self, kind: str, value: str, names: Sequence[str | None], *, listed: bool = True) -> int | None:
        """A gazetteer entry and its full names; `listed` False for values known only from lookup
        tables (not suggested, not a synonym target)."""
        folded = [(n, _key(n)) for n in names if n]
        keys = tuple(dict.fromkeys(k for _, k in folded if k))
        if not value or not keys:
            return None
        label = next(n for n, k in folded if k)
        entry = len(self._entries)
        self._entries.append(_Entry(kind, value, label.strip(), keys))
        if listed:
            self._by_kind[kind].append(entry)
            for key in keys:
                _put(self._exact, key, entry * 2)
        return entry

    def _derive(self, entry: int, shorter: Iterable[str]) -> None:
        names = self._entries[entry].names
        for key in shorter:
            if key not in names:
                _put(self._derived, key, entry * 2 + 1)

    def _load(self, gazetteer: Gazetteer) -> None:
        districts = [_key(d) for d in gazetteer.districts if d]
        for name in gazetteer.districts:
            entry = self._add_entry(DISTRICT, name.strip() if name else "", [name])
            if entry is not None:
                key = self._entries[entry].names[0]
                self._derive(entry, _strip_suffixes(key, _DISTRICT_SUFFIXES, 2))
        for code, name_zh, name_en in gazetteer.departments:
            entry = self._add_entry(DEPARTMENT, code, [name_zh, name_en])
            if entry is not None:
                for key in self._entries[entry].names:
                    shorter = [*_strip_admin_prefix(key, districts), *_strip_suffixes(key, _DEPARTMENT_SUFFIXES_EN, 6)]
                    self._derive(entry, [s for s in shorter if len(s) >= 3])
        for value, *names in gazetteer.categories:
            entry = self._add_entry(CATEGORY, value, names)
            if entry is not None:
                for key in self._entries[entry].names:
                    self._derive(entry, [s for s in _strip_suffixes(key, _CATEGORY_SUFFIXES, 2) if len(s) >= 2])
        for uscc, name_zh, name_en in gazetteer.organizations:
            entry = self._add_entry(ORGANIZATION, uscc, [name_zh, name_en, uscc])
            if entry is None:
                continue
            names = [key for key in self._entries[entry].names if key != _key(uscc)]
            self._derive(entry, self._short_org_names(names, districts))
            for key in names:
                self._fuzzy[ORGANIZATION].add(key, entry)
        for code, title_zh, title_en in gazetteer.projects:
            entry = self._add_entry(PROJECT, code, [title_zh, title_en, code])
            if entry is None:
                continue
            code_key = _key(code)
            for key in self._entries[entry].names:
                if key == code_key:
                    continue
                self._fuzzy[PROJECT].add(key, entry)
                short: list[str] = []
                for base in [key, *_strip_admin_prefix(key, districts)]:
                    short.append(base)
                    suffixes = _PROJECT_SUFFIXES_EN if _is_latin(base) else _PROJECT_SUFFIXES_ZH
                    short += _strip_suffixes(base, suffixes, 4)
                self._derive(entry, [s for s in short if _specific(s)])

    @staticmethod
    def _short_org_names(names: Sequence[str], districts: list[str]) -> list[str]:
        out: list[str] = []
        for name in names:
            bases = [name, *_strip_admin_prefix(name, districts)]
            # 社会工作 is usually said 社工: 春晖社会工作服务社 -> 春晖社工服务社 -> 春晖社工
            bases += [b.replace("社会工作", "社工") for b in bases if "社会工作" in b]
            for base in bases:
                out.append(base)
                if _is_latin(base):
                    words = base.split()
                    base = " ".join(words[1:]) if words and words[0] == "the" else base
                    out += _strip_suffixes(base, _ORG_SUFFIXES_EN, 8)
                else:
                    out += _strip_suffixes(base, _ORG_SUFFIXES_ZH, 3)
        return [s for s in dict.fromkeys(out) if _specific(s)]

    def _resolve(self, kind: str | None, canonical: str) -> int | None:
        """The gazetteer entry a canonical synonym value names: an entry whose value or name equals it,
        else the first category or department whose name contains it (elderly care -> "Elderly care
        services", 民政局 -> 临江市民政局). With `kind` None, any kind."""
        key = _key(canonical)
        kinds = [kind] if kind else list(_SYNONYM_KINDS)
        named = [code // 2 for code in _codes(self._exact.get(key))]
        for k in kinds:
            for entry in named:
                if self._entries[entry].kind == k:
                    return entry
            if k in _CONTAINED_KINDS or k == DISTRICT:  # small kinds: values are not names
                for entry in self._by_kind[k]:
                    if key == _key(self._entries[entry].value):
                        return entry
        for k in kinds:
            if k not in _CONTAINED_KINDS:
                continue
            for entry in self._by_kind[k]:
                if any(key in name for name in self._entries[entry].names):
                    return entry
        return None

    def _add_synonyms(self) -> None:
        for variant, canonical in self._synonyms.items():
            entry = self._resolve(None, canonical)
            if entry is not None and variant:
                _put(self._derived, variant, entry * 2 + 1)

    def _add_lookups(self, lookups: Mapping[str, Sequence[str]]) -> None:
        """Lookup tables name an entity: each phrase (and each synonym of it) is that entity, valued
        as the gazetteer entry it resolves to or else as its canonical synonym."""
        for kind, phrases in lookups.items():
            keys = {_key(p) for p in phrases if p and _key(p)}
            canonicals = {_key(self._synonyms.get(k, k)) for k in keys}
            keys |= {variant for variant, canonical in self._synonyms.items() if _key(canonical) in canonicals}
            unlisted: dict[str, int | None] = {}
            for key in keys:
                canonical = self._synonyms.get(key, key)
                entry = self._resolve(kind, canonical) if kind in KINDS else None
                if entry is None:
                    if canonical not in unlisted:
                        unlisted[canonical] = self._add_entry(kind, canonical, [canonical], listed=False)
                    entry = unlisted[canonical]
                if entry is not None:
                    _put(self._derived, key, entry * 2 + 1)

    def _finish_exact(self) -> None:
        """Merge derived names into the exact table: a derived name naming several entries of one kind
        is ambiguous and left out; a full name always beats a derived one."""
        entries = self._entries
        for key, codes in self._derived.items():
            if key in self._exact:
                continue
            if isinstance(codes, int):
                self._exact[key] = codes
                continue
            by_kind: dict[str, set[str]] = {}
            for code in codes:
                by_kind.setdefault(entries[code // 2].kind, set()).add(entries[code // 2].value)
            kept: dict[tuple[str, str], int] = {}
            for code in codes:
                item = entries[code // 2]
                if len(by_kind[item.kind]) == 1:
                    kept.setdefault((item.kind, item.value), code)
            if kept:
                self._exact[key] = tuple(kept.values()) if len(kept) > 1 else next(iter(kept.values()))
        self._derived = {}
        lengths: dict[str, set[int]] = {}
        for key in self._exact:
            lengths.setdefault(key[0], set()).add(len(key))
        self._lengths = {first: sorted(ls, reverse=True) for first, ls in lengths.items()}

    # ------------------------------------------------------------------------------------- extracting

    def extract(self, text: str, today: date | None = None) -> list[dict[str, Any]]:
        """Rasa entity dicts ({entity, value, start, end, extractor, confidence}) found in `text`,
        ordered by position; overlapping finds resolve to the longest. `today` resolves 今年/last
        year (default: the current date)."""
        folded = fold_preserving(text)
        matches = [*self._exact_matches(folded), *self._regex_matches(text, folded)]
        found_kinds = {m.kind for m in matches}
        for kind in FUZZY_KINDS:
            if kind not in found_kinds:
                matches += self._fuzzy_matches(kind, folded)
        for start, end, year in find_years(text, today or date.today()):
            matches.append(_Match(start, end, YEAR, year, YEAR_EXTRACTOR, 1.0))
        for start, end, fen in find_amounts(text):
            yuan = fen // 100 if fen % 100 == 0 else fen / 100
            matches.append(_Match(start, end, AMOUNT, yuan, AMOUNT_EXTRACTOR, 1.0))
        return [m.as_dict() for m in _resolve_overlaps(matches)]

    def _exact_matches(self, folded: str) -> list[_Match]:
        out = []
        size = len(folded)
        for i, char in enumerate(folded):
            for length in self._lengths.get(char, ()):
                end = i + length
                if end > size:
                    continue
                codes = self._exact.get(folded[i:end])
                if codes is None or not _word_bounded(folded, i, end):
                    continue
                for code in _codes(codes):
                    item = self._entries[code // 2]
                    confidence = DERIVED_CONFIDENCE if code % 2 else 1.0
                    out.append(_Match(i, end, item.kind, item.value, GAZETTEER_EXTRACTOR, confidence))
        return out

    def _regex_matches(self, text: str, folded: str) -> list[_Match]:
        """Regexes run on the folded text (full-width codes match); the value is the text as typed,
        except for project codes, which become the gazetteer's code (or the upper-cased match)."""
        out = []
        for name, pattern in self._regexes:
            for match in pattern.finditer(folded):
                if match.end() == match.start():
                    continue
                if name == PROJECT:
                    entry = self._project_by_code(match.group(0))
                    value = self._entries[entry].value if entry is not None else match.group(0).upper()
                    confidence = 1.0 if entry is not None else 0.8
                else:
                    value, confidence = text[match.start() : match.end()], 1.0
                out.append(_Match(match.start(), match.end(), name, value, REGEX_EXTRACTOR, confidence))
        return out

    def _project_by_code(self, key: str) -> int | None:
        """The project whose code folds to `key` (codes are among a project's full names)."""
        for code in _codes(self._exact.get(key)):
            item = self._entries[code // 2]
            if code % 2 == 0 and item.kind == PROJECT and _key(item.value) == key:
                return code // 2
        return None

    def _fuzzy_matches(self, kind: str, folded: str) -> list[_Match]:
        index = self._fuzzy[kind]
        if not index.keys:
            return []
        out = []
        for term, coverage in index.candidates(_grams(folded), FUZZY_CANDIDATES):
            if coverage < FUZZY_MIN_COVERAGE:
                break
            key = index.keys[term]
            aligned = fuzz.partial_ratio_alignment(key, folded, score_cutoff=FUZZY_MIN_SCORE)
            # the whole name must be matched, not a fragment of it that happens to be in the text
            if aligned is None or aligned.src_end - aligned.src_start < 0.8 * len(key):
                continue
            start, end = _trim(folded, aligned.dest_start, aligned.dest_end, set(key))
            if end - start < 2:
                continue
            entry = self._entries[index.entries[term]]
            out.append(_Match(start, end, kind, entry.value, GAZETTEER_EXTRACTOR, 0.9 * aligned.score / 100))
        # one fuzzy find per kind: the best (several near-identical names compete for the same words)
        return sorted(out, key=lambda m: -m.confidence)[:1]

    # ------------------------------------------------------------------------------------- suggesting

    def suggest(self, kind: str, text: str, limit: int = 5) -> list[tuple[str, str, float]]:
        """Up to `limit` entries of `kind` resembling `text`, for "did you mean…":
        (value, label, score 0–100), best first."""
        query = _key(text)
        if not query or kind not in self._by_kind:
            return []
        if kind in self._fuzzy:
            index = self._fuzzy[kind]
            pool = [(index.keys[t], index.entries[t]) for t, _ in index.candidates(_grams(query), limit * 10)]
            code = self._project_by_code(query) if kind == PROJECT else None
            if code is not None:
                pool.append((query, code))
        else:
            pool = [(name, entry) for entry in self._by_kind[kind] for name in self._entries[entry].names]
        if not pool:
            return []
        best: dict[int, float] = {}
        names = [name for name, _ in pool]
        for _, score, i in process.extract(query, names, scorer=fuzz.WRatio, limit=len(names)):
            entry = pool[i][1]
            best[entry] = max(best.get(entry, 0.0), float(score))
        ranked = sorted(((e, s) for e, s in best.items() if s >= SUGGEST_MIN_SCORE), key=lambda item: -item[1])
        ranked = ranked[:limit]
        return [(self._entries[e].value, self._entries[e].label, round(s, 1)) for e, s in ranked]


def _specific(name: str) -> bool:
    """Whether a derived name is specific enough to stand for one entry on its own."""
    if _is_latin(name):
        return len(name.split()) >= 2 and len(name) >= 8
    return len(name) >= 3


def _word_bounded(text: str, start: int, end: int) -> bool:
    """A Latin match must not start or end inside a word (kids ≠ kidding); CJK has no word breaks."""
    if _LATIN_EDGE.match(text[start]) and start > 0 and _LATIN_EDGE.match(text[start - 1]):
        return False
    return not (_LATIN_EDGE.match(text[end - 1]) and end < len(text) and _LATIN_EDGE.match(text[end]))


def _trim(text: str, start: int, end: int, allowed: set[str]) -> tuple[int, int]:
    """Shrink an aligned window to the characters that belong to the name."""
    while start < end and (text[start] in _TRIM or text[start] not in allowed):
        start += 1
    while end > start and (text[end - 1] in _TRIM or text[end - 1] not in allowed):
        end -= 1
    return start, end


def _resolve_overlaps(matches: list[_Match]) -> list[_Match]:
    """Keep the longest of overlapping matches (then by kind priority and confidence), drop repeats."""
    ordered = sorted(
        matches, key=lambda m: (-(m.end - m.start), _PRIORITY.get(m.kind, 9), -m.confidence, m.start)
    )
    taken: list[_Match] = []
    for match in ordered:
        if all(match.end <= t.start or match.start >= t.end for t in taken):
            taken.append(match)
    return sorted(taken, key=lambda m: m.start)
