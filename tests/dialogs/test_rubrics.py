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


def test_operator_folder_replaces_a_bundled_rubric_and_bad_files_list_every_problem(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "approval.yml").write_text(
        "code: approval\ntitle: {zh-Hans: 简化评分表, en: Short rubric}\ncriteria:\n"
        "  - {code: merit, points: 60, label: {zh-Hans: 综合, en: Merit}}\n"
        "  - {code: cost, points: 40, label: {zh-Hans: 成本, en: Cost}}\n", encoding="utf-8")
    rubrics.use_folder(tmp_path)
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
        rubrics.use_folder(None)


def test_a_dotenv_file_names_the_rubric_template_and_nlu_cache_folders(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from bot.app import App, use_data_folders
    from bot.config import load_settings
    from dialogs.surveys import templates
    from store.db import create_engine, sessionmaker

    for name in ("CIVICBOT_REVIEW_RUBRICS", "CIVICBOT_SURVEY_TEMPLATES", "CIVICBOT_NLU_CACHE"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "rubrics").mkdir()
    (tmp_path / "rubrics" / "approval.yml").write_text(
        "code: approval\ntitle: {zh-Hans: 简化评分表, en: Short rubric}\ncriteria:\n"
        "  - {code: merit, points: 100, label: {zh-Hans: 综合, en: Merit}}\n", encoding="utf-8")
    (tmp_path / "surveys").mkdir()
    standard = (templates.BUNDLED_DIR / "standard.yml").read_text(encoding="utf-8")
    (tmp_path / "surveys" / "mine.yml").write_text(standard.replace("code: standard", "code: mine"), encoding="utf-8")
    (tmp_path / ".env").write_text(f"CIVICBOT_REVIEW_RUBRICS={tmp_path / 'rubrics'}\n"
                                   f"CIVICBOT_SURVEY_TEMPLATES={tmp_path / 'surveys'}\n"
                                   f"CIVICBOT_NLU_CACHE={tmp_path / 'nlu'}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert (settings.review_rubrics, settings.survey_templates, settings.nlu_cache) == (
        tmp_path / "rubrics", tmp_path / "surveys", tmp_path / "nlu")
    use_data_folders(settings)
    try:
        assert rubrics.rubric_for("approval").codes == ["merit"]
        assert templates.get_template("mine") is not None
        db = create_engine("sqlite+aiosqlite://")
        assert App(settings, db, sessionmaker(db)).understanding.cache_dir == tmp_path / "nlu"
    finally:
        rubrics.use_folder(None)
        templates.use_folder(None)
