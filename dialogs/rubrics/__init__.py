"""Review rubrics as data: the bundled ``approval.yml`` and ``acceptance.yml``, and an operator's folder.

A YAML file in the operator's folder (``CIVICBOT_REVIEW_RUBRICS``, given by the bot through
``use_folder`` at start-up) replaces the bundled rubric of the same ``code``. Labels are given in ``zh-Hans`` and ``en``; ``zh-Hant`` is converted when left out. Points of a
criterion run from 0 to its ``points``; a rubric's points add up to 100.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import opencc
import yaml

RUBRICS_ENV = "CIVICBOT_REVIEW_RUBRICS"  # named in messages; read by bot.config
BUNDLED_DIR = Path(__file__).parent
_operator: dict[str, Path | None] = {"folder": None}
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")  # review_scores.criterion is 32 characters
TOTAL = 100


class RubricError(ValueError):
    """A rubric file that cannot be used; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Criterion:
    code: str
    points: int
    label: dict[str, str]


@dataclass(frozen=True)
class Rubric:
    code: str
    title: dict[str, str]
    criteria: tuple[Criterion, ...]

    @property
    def codes(self) -> list[str]:
        return [c.code for c in self.criteria]

    def criterion(self, code: str) -> Criterion | None:
        return next((c for c in self.criteria if c.code == code), None)


def _texts(value: Any, where: str, problems: list[str]) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(value.get(k), str) and value[k].strip()
                                              for k in ("zh-Hans", "en")):
        problems.append(f"{where}: needs texts {{zh-Hans: …, en: …}}")
        return {}
    out = {k: str(v) for k, v in value.items()}
    out.setdefault("zh-Hant", opencc.OpenCC("s2t").convert(out["zh-Hans"]))
    return out


def parse_rubric(data: Any, source: str) -> Rubric:
    problems: list[str] = []
    if not isinstance(data, dict):
        raise RubricError([f"{source}: expected a mapping with code, title and criteria"])
    code = data.get("code")
    if not isinstance(code, str) or not _CODE.match(code):
        problems.append(f"{source}: code: expected lowercase letters, digits and _, got {code!r}")
    title = _texts(data.get("title"), f"{source}: title", problems)
    criteria = []
    raw = data.get("criteria")
    if not isinstance(raw, list) or not raw:
        problems.append(f"{source}: criteria: expected a list")
        raw = []
    for n, item in enumerate(raw, start=1):
        where = f"{source}: criteria[{n}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: expected a mapping with code, points and label")
            continue
        c_code, points = item.get("code"), item.get("points")
        if not isinstance(c_code, str) or not _CODE.match(c_code):
            problems.append(f"{where}: code: expected lowercase letters, digits and _, got {c_code!r}")
        if not isinstance(points, int) or isinstance(points, bool) or points < 1:
            problems.append(f"{where}: points: expected a whole number ≥ 1, got {points!r}")
            points = 0
        criteria.append(Criterion(str(c_code), points, _texts(item.get("label"), f"{where}: label", problems)))
    if len({c.code for c in criteria}) != len(criteria):
        problems.append(f"{source}: criteria: codes repeat")
    if criteria and sum(c.points for c in criteria) != TOTAL:
        problems.append(f"{source}: criteria: points add up to {sum(c.points for c in criteria)}, not {TOTAL}")
    if problems:
        raise RubricError(problems)
    return Rubric(str(code), title, tuple(criteria))


def load_directory(folder: Path) -> dict[str, Rubric]:
    if not folder.is_dir():
        raise RubricError([f"{folder}: not a folder of review rubrics ({RUBRICS_ENV})"])
    found: dict[str, Rubric] = {}
    problems: list[str] = []
    for path in sorted(folder.glob("*.yml")) + sorted(folder.glob("*.yaml")):
        try:
            rubric = parse_rubric(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))
        except yaml.YAMLError as exc:
            problems.append(f"{path}: not valid YAML: {exc}")
            continue
        except RubricError as exc:
            problems.extend(exc.problems)
            continue
        found[rubric.code] = rubric
    if problems:
        raise RubricError(problems)
    return found


def use_folder(folder: Path | None) -> None:
    """The operator's folder of rubrics for this process (the settings' ``review_rubrics``)."""
    _operator["folder"] = folder
    library.cache_clear()


@cache
def library() -> dict[str, Rubric]:
    """The bundled rubrics, each replaced by the operator's of the same code."""
    rubrics = load_directory(BUNDLED_DIR)
    folder = _operator["folder"]
    if folder is not None:
        rubrics.update(load_directory(folder))
    return rubrics


def rubric_for(stage: str) -> Rubric:
    """The rubric of a review stage (``approval`` or ``acceptance``)."""
    return library()[stage]
