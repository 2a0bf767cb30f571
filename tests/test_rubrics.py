"""Review rubrics as data: the bundled defaults, three languages, and an operator's override folder."""

from __future__ import annotations

import pytest

from dialogs import rubrics


def test_bundled_rubrics_are_review_md_defaults() -> None:
    approval = rubrics.rubric_for("approval")
    assert [(c.code, c.points) for c in approval.criteria] == [
        ("need", 20), ("design", 25), ("plan", 15), ("capacity", 15), ("budget", 15), ("innovation", 10)]
    acceptance = rubrics.rubric_for("acceptance")
    assert [c.points for c in acceptance.criteria] == [30, 25, 20, 15, 10]
    for rubric in (approval, acceptance):
        assert all(set(c.label) == {"zh-Hans", "zh-Hant", "en"} for c in rubric.criteria)
    assert approval.criteria[3].label["zh-Hant"] == "機構能力"


def test_operator_folder_replaces_a_bundled_rubric_and_bad_files_list_every_problem(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "approval.yml").write_text(
        "code: approval\ntitle: {zh-Hans: 简化评分表, en: Short rubric}\ncriteria:\n"
        "  - {code: merit, points: 60, label: {zh-Hans: 综合, en: Merit}}\n"
        "  - {code: cost, points: 40, label: {zh-Hans: 成本, en: Cost}}\n", encoding="utf-8")
    monkeypatch.setenv(rubrics.RUBRICS_ENV, str(tmp_path))
    rubrics.library.cache_clear()
    try:
        assert rubrics.rubric_for("approval").codes == ["merit", "cost"]
        assert rubrics.rubric_for("acceptance").codes[0] == "output"
        (tmp_path / "bad.yml").write_text("code: Bad\ncriteria:\n  - {code: x, points: 0}\n", encoding="utf-8")
        rubrics.library.cache_clear()
        with pytest.raises(rubrics.RubricError) as bad:
            rubrics.rubric_for("approval")
        text = "\n".join(bad.value.problems)
        assert "code" in text and "points" in text and "label" in text and "title" in text
    finally:
        rubrics.library.cache_clear()
