"""Survey templates as data: the bundled YAML files, an operator's own folder, and their validation.

The package ships ``dialogs/surveys/*.yml`` (the standard satisfaction template). An operator can
add templates or replace a bundled one (same ``code``) with YAML files in a folder of their own
(``CIVICBOT_SURVEY_TEMPLATES``, given by the bot through ``use_folder`` at start-up). Every file is checked when first loaded; a bad
one stops with every problem listed as ``FILE: WHERE: problem``. Texts are given per language
(``zh-Hans`` and ``en`` required; ``zh-Hant`` is converted from ``zh-Hans`` when left out).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import opencc
import yaml

from dialogs.i18n import DEFAULT_LOCALE, LOCALES
from store.surveys import KINDS, MULTI, NUMBER, OVERALL, SCALE5, SCALE10, SINGLE, STANDARD_ITEMS, TEXT

TEMPLATES_ENV = "CIVICBOT_SURVEY_TEMPLATES"  # named in messages; read by bot.config
BUNDLED_DIR = Path(__file__).parent
_operator: dict[str, Path | None] = {"folder": None}
STANDARD = "standard"

_TEMPLATE_CODE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")  # surveys.template is 48 characters
_ITEM_CODE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")  # survey_answers.item is 32 characters
_CHOICE_CODE = re.compile(r"^[A-Za-z0-9_]{1,24}$")  # no ";" (answers are joined with it); short for button data
_TEMPLATE_KEYS = {"code", "title", "scale5", "scale10", "items"}
_ITEM_KEYS = {"code", "kind", "required", "label", "question", "choices", "max_len", "min", "max", "when"}
SCALED = (SCALE5, SCALE10, NUMBER)
MAX_TEXT = 2000
DEFAULT_TEXT = 500

Text = dict[str, str]


class TemplateError(ValueError):
    """A template file that cannot be used; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Choice:
    code: str
    label: Text


@dataclass(frozen=True)
class Condition:
    """Ask an item only when an earlier numeric answer lies within [minimum, maximum]."""

    item: str
    minimum: int | None
    maximum: int | None

    def holds(self, values: dict[str, Any]) -> bool:
        value = values.get(self.item)
        if not isinstance(value, int) or isinstance(value, bool):
            return False
        return (self.minimum is None or value >= self.minimum) and (self.maximum is None or value <= self.maximum)


@dataclass(frozen=True)
class Item:
    code: str
    kind: str
    required: bool
    question: Text
    label: Text
    choices: tuple[Choice, ...] = ()
    max_len: int = DEFAULT_TEXT
    minimum: int | None = None
    maximum: int | None = None
    when: Condition | None = None


@dataclass(frozen=True)
class Template:
    code: str
    title: Text
    items: tuple[Item, ...]
    scale5: dict[str, tuple[str, ...]]  # locale -> labels of 1…5
    scale10: tuple[Text, Text] | None  # what 0 and 10 mean
    source: str

    def item(self, code: str) -> Item | None:
        return next((i for i in self.items if i.code == code), None)

    @property
    def kinds(self) -> dict[str, str]:
        return {i.code: i.kind for i in self.items}

    @property
    def free_text_items(self) -> list[str]:
        return [i.code for i in self.items if i.kind == TEXT]


def text(value: Text, locale: str) -> str:
    return value.get(locale) or value[DEFAULT_LOCALE]


def scale5_label(template: Template, score: int, locale: str) -> str:
    labels = template.scale5.get(locale) or template.scale5[DEFAULT_LOCALE]
    return labels[score - 1]


# --- validation ---------------------------------------------------------------------------------

class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []
        self._hant = opencc.OpenCC("s2t")  # characters only, as scripts/derive_hant.py

    def fail(self, where: str, problem: str) -> None:
        self.problems.append(f"{self.source}: {where}: {problem}")

    def keys(self, where: str, data: dict[str, Any], allowed: set[str]) -> None:
        for key in data:
            if key not in allowed:
                self.fail(where, f"unknown key {key!r} (expected one of {', '.join(sorted(allowed))})")

    def texts(self, where: str, value: Any) -> Text:
        if not isinstance(value, dict):
            self.fail(where, "needs a text per language, e.g. {zh-Hans: …, en: …}")
            return {DEFAULT_LOCALE: ""}
        out: Text = {}
        for locale, words in value.items():
            if locale not in LOCALES:
                self.fail(where, f"unknown language {locale!r} (use {', '.join(LOCALES)})")
            elif not isinstance(words, str) or not words.strip():
                self.fail(f"{where}.{locale}", "must be a non-empty text")
            else:
                out[locale] = words.strip()
        for required in ("zh-Hans", "en"):
            if required not in value:
                self.fail(where, f"missing the {required} text")
        if "zh-Hant" not in out and "zh-Hans" in out:
            out["zh-Hant"] = self._hant.convert(out["zh-Hans"])
        return out or {DEFAULT_LOCALE: ""}

    def integer(self, where: str, value: Any, low: int, high: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(where, f"must be a whole number, got {value!r}")
            return None
        if not low <= value <= high:
            self.fail(where, f"must be between {low} and {high}, got {value}")
            return None
        return value

    def scale5(self, value: Any) -> dict[str, tuple[str, ...]]:
        if not isinstance(value, dict):
            self.fail("scale5", "needs the five labels of 1…5 per language, e.g. {zh-Hans: [非常不满意, …], en: […]}")
            return {}
        out: dict[str, tuple[str, ...]] = {}
        for locale, labels in value.items():
            if locale not in LOCALES:
                self.fail("scale5", f"unknown language {locale!r}")
            elif not isinstance(labels, list) or len(labels) != 5 or not all(isinstance(x, str) and x for x in labels):
                self.fail(f"scale5.{locale}", "must list exactly five labels, from 1 (worst) to 5 (best)")
            else:
                out[locale] = tuple(labels)
        for required in ("zh-Hans", "en"):
            if required not in value:
                self.fail("scale5", f"missing the {required} labels")
        if "zh-Hant" not in out and "zh-Hans" in out:
            out["zh-Hant"] = tuple(self._hant.convert(x) for x in out["zh-Hans"])
        return out

    def choices(self, where: str, value: Any) -> tuple[Choice, ...]:
        if not isinstance(value, list) or not value:
            self.fail(where, "a choice item needs a non-empty list of choices ({code, label})")
            return ()
        out, seen = [], set()
        for n, raw in enumerate(value):
            here = f"{where}[{n}]"
            if not isinstance(raw, dict):
                self.fail(here, "must be a mapping with code and label")
                continue
            self.keys(here, raw, {"code", "label"})
            code = raw.get("code")
            if not isinstance(code, str) or not _CHOICE_CODE.match(code):
                self.fail(f"{here}.code", f"must be a text of letters, digits and _ (quote codes like \"18_59\"), got {code!r}")
                continue
            if code in seen:
                self.fail(f"{here}.code", f"{code!r} appears twice")
            seen.add(code)
            out.append(Choice(code, self.texts(f"{here}.label", raw.get("label"))))
        return tuple(out)


def _item(check: _Checker, n: int, raw: Any, earlier: dict[str, Item]) -> Item | None:
    if not isinstance(raw, dict):
        check.fail(f"items[{n}]", "must be a mapping")
        return None
    code = raw.get("code")
    where = f"items[{n}] ({code})" if isinstance(code, str) else f"items[{n}]"
    check.keys(where, raw, _ITEM_KEYS)
    if not isinstance(code, str) or not _ITEM_CODE.match(code):
        check.fail(where, f"code must be lowercase letters, digits and _ (at most 32), got {code!r}")
        return None
    if code in earlier:
        check.fail(where, f"item code {code!r} appears twice")
    kind = raw.get("kind")
    if kind not in KINDS:
        check.fail(where, f"kind {kind!r} is not one of {', '.join(KINDS)}")
        return None
    if code in STANDARD_ITEMS and STANDARD_ITEMS[code] != kind:
        check.fail(where, f"{code!r} is a standard item of kind {STANDARD_ITEMS[code]} (imported data relies on it)")
    required = raw.get("required", True)
    if not isinstance(required, bool):
        check.fail(f"{where}.required", "must be true or false")
        required = True
    choices = check.choices(f"{where}.choices", raw.get("choices")) if kind in (SINGLE, MULTI) else ()
    if kind not in (SINGLE, MULTI) and "choices" in raw:
        check.fail(where, f"choices only belong to single or multi items, not {kind}")
    max_len = DEFAULT_TEXT
    if "max_len" in raw:
        if kind != TEXT:
            check.fail(where, "max_len only belongs to text items")
        max_len = check.integer(f"{where}.max_len", raw["max_len"], 1, MAX_TEXT) or DEFAULT_TEXT
    minimum = maximum = None
    if kind == NUMBER:
        minimum = check.integer(f"{where}.min", raw.get("min", 0), 0, 10**9)
        maximum = check.integer(f"{where}.max", raw.get("max", 100_000), 0, 10**9)
        if minimum is not None and maximum is not None and minimum > maximum:
            check.fail(where, f"min {minimum} is above max {maximum}")
    elif "min" in raw or "max" in raw:
        check.fail(where, "min and max only belong to number items")
    when = _condition(check, where, raw["when"], earlier) if "when" in raw else None
    return Item(code, kind, required, check.texts(f"{where}.question", raw.get("question")),
                check.texts(f"{where}.label", raw.get("label")), choices, max_len, minimum, maximum, when)


def _condition(check: _Checker, where: str, raw: Any, earlier: dict[str, Item]) -> Condition | None:
    here = f"{where}.when"
    if not isinstance(raw, dict):
        check.fail(here, "must look like {item: overall, max: 2}")
        return None
    check.keys(here, raw, {"item", "min", "max"})
    target = earlier.get(raw.get("item", ""))
    if target is None:
        check.fail(here, f"item {raw.get('item')!r} is not an earlier item of this template")
        return None
    if target.kind not in SCALED:
        check.fail(here, f"can only depend on a {', '.join(SCALED)} item, {target.code!r} is {target.kind}")
        return None
    if "min" not in raw and "max" not in raw:
        check.fail(here, "needs min, max or both")
        return None
    minimum = check.integer(f"{here}.min", raw["min"], -(10**9), 10**9) if "min" in raw else None
    maximum = check.integer(f"{here}.max", raw["max"], -(10**9), 10**9) if "max" in raw else None
    return Condition(target.code, minimum, maximum)


def parse_template(data: Any, source: str) -> Template:
    """Check one template's data (as read from YAML) and build it; TemplateError lists every problem."""
    check = _Checker(source)
    if not isinstance(data, dict):
        raise TemplateError([f"{source}: the file must hold a mapping with code, title and items"])
    check.keys("template", data, _TEMPLATE_KEYS)
    code = data.get("code")
    if not isinstance(code, str) or not _TEMPLATE_CODE.match(code):
        check.fail("code", f"must be lowercase letters, digits and _ (at most 48), got {code!r}")
        code = ""
    title = check.texts("title", data.get("title"))
    raw_items = data.get("items")
    items: dict[str, Item] = {}
    if not isinstance(raw_items, list) or not raw_items:
        check.fail("items", "must be a non-empty list")
        raw_items = []
    for n, raw in enumerate(raw_items):
        item = _item(check, n, raw, items)
        if item is not None and item.code not in items:
            items[item.code] = item
    if items.get(OVERALL) is None or items[OVERALL].kind != SCALE5:
        check.fail("items", f"a satisfaction template needs the item {OVERALL!r} of kind {SCALE5} (the 满意率 is computed on it)")
    scale5: dict[str, tuple[str, ...]] = {}
    if any(i.kind == SCALE5 for i in items.values()) or "scale5" in data:
        scale5 = check.scale5(data.get("scale5"))
    scale10 = None
    if any(i.kind == SCALE10 for i in items.values()) or "scale10" in data:
        raw = data.get("scale10")
        if not isinstance(raw, dict):
            check.fail("scale10", "needs what 0 and 10 mean: {low: {zh-Hans: …, en: …}, high: {…}}")
        else:
            check.keys("scale10", raw, {"low", "high"})
            scale10 = (check.texts("scale10.low", raw.get("low")), check.texts("scale10.high", raw.get("high")))
    if check.problems:
        raise TemplateError(check.problems)
    return Template(code, title, tuple(items.values()), scale5, scale10, source)


# --- loading ----------------------------------------------------------------------------------

def load_directory(folder: Path) -> dict[str, Template]:
    if not folder.is_dir():
        raise TemplateError([f"{folder}: not a folder of survey templates ({TEMPLATES_ENV})"])
    found: dict[str, Template] = {}
    problems: list[str] = []
    for path in sorted(folder.glob("*.yml")) + sorted(folder.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            template = parse_template(data, str(path))
        except yaml.YAMLError as exc:
            problems.append(f"{path}: not valid YAML: {exc}")
            continue
        except TemplateError as exc:
            problems.extend(exc.problems)
            continue
        if template.code in found:
            problems.append(f"{path}: code {template.code!r} is also used by {found[template.code].source}")
        found[template.code] = template
    if problems:
        raise TemplateError(problems)
    return found


def load_templates(override: Path | None = None) -> dict[str, Template]:
    """The bundled templates, then the operator's (a file with the same code replaces a bundled one)."""
    templates = load_directory(BUNDLED_DIR)
    if override is not None:
        templates.update(load_directory(override))
    return templates


def use_folder(folder: Path | None) -> None:
    """The operator's folder of templates for this process (the settings' ``survey_templates``)."""
    _operator["folder"] = folder
    library.cache_clear()


@cache
def library() -> dict[str, Template]:
    """The templates of this process: bundled plus the operator's folder."""
    return load_templates(_operator["folder"])


def get_template(code: str) -> Template | None:
    return library().get(code)
