"""The operator's command line: configuration errors, invitations, the console channel."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest

from bot.channels import console
from bot.channels.console import ConsoleChat, act_as, parse_role, render
from bot.cli import main
from dialogs.context import DialogSettings
from dialogs.registry import build_engine
from dialogs.state import State
from dialogs.types import Button, Reply
from store.db import create_engine, sessionmaker
from testing.factories import NOW, build_world


@pytest.fixture
def db(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CIVICBOT_DATABASE_URL", sqlite_url)
    monkeypatch.delenv("CIVICBOT_TELEGRAM_USERNAME", raising=False)

    async def seed() -> None:
        engine = create_engine(sqlite_url)
        async with sessionmaker(engine)() as s, s.begin():
            await build_world(s)
        await engine.dispose()

    asyncio.run(seed())
    return sqlite_url


def test_unknown_time_zone_is_a_clear_configuration_error(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CIVICBOT_TIMEZONE", "Mars/Olympus")
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert "CIVICBOT_TIMEZONE" in err and "Mars/Olympus" in err


def test_bad_quiet_hours_rejected(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CIVICBOT_QUIET_HOURS", "late-early")
    assert main(["db", "upgrade"]) == 2
    assert "CIVICBOT_QUIET_HOURS" in capsys.readouterr().err


def test_invite_prints_code_then_link_and_lists_and_revokes(db, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CIVICBOT_TELEGRAM_USERNAME", "linjiang_bot")
    assert main(["invite", "staff", "MZ"]) == 0
    code, link = capsys.readouterr().out.strip().splitlines()
    assert code.startswith("b") and len(code) >= 17 and link == f"https://t.me/linjiang_bot?start={code}"
    assert main(["invite", "staff", "MZ", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"code", "link", "expires_at"} and data["code"] != code
    assert main(["invite", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == 2 and all(row["role"] == "staff" for row in listed)
    assert code not in json.dumps(listed)  # only prefixes are shown: the codes are stored hashed
    assert main(["invite", "revoke", code]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["invite", "list", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1


def test_invite_unknown_reference_fails(db, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["invite", "org", "91110000000000000X"]) == 1
    assert "no organization" in capsys.readouterr().err


def test_console_numbers_buttons_and_accepts_number_or_label() -> None:
    replies = [Reply("选择：", [[Button("甲", "f:s:a"), Button("乙", "f:s:b")]])]
    text, buttons = render(replies)
    assert "[1] 甲" in text and "[2] 乙" in text
    chat = ConsoleChat(None, None, "u")  # type: ignore[arg-type]
    chat.buttons = buttons
    assert chat.to_incoming("2").button == "f:s:b"  # type: ignore[union-attr]
    assert chat.to_incoming("甲").button == "f:s:a"  # type: ignore[union-attr]
    assert chat.to_incoming("/apply").command == "apply"  # type: ignore[union-attr]
    assert chat.to_incoming("你好").text == "你好"  # type: ignore[union-attr]


def test_console_numbers_on_a_rating_are_its_values() -> None:
    """On a scale the buttons are numbers: a typed number is that value, the other buttons get letters."""
    scale5 = [[Button(f"{v} {label}", f"survey:q:{v}")] for v, label in zip(range(5, 0, -1), ["非常满意", "满意", "一般", "不满意", "非常不满意"], strict=True)]
    text, buttons = render([Reply("第 1/11 题", [*scale5, [Button("⬅️ 上一题", "survey:q:~back")]])])
    assert "[5] 非常满意" in text and "[1] 非常不满意" in text and "[a] ⬅️ 上一题" in text
    chat = ConsoleChat(None, None, "u")  # type: ignore[arg-type]
    chat.buttons = buttons
    assert chat.to_incoming("5").button == "survey:q:5"  # type: ignore[union-attr]
    assert chat.to_incoming("1").button == "survey:q:1"  # type: ignore[union-attr]
    assert chat.to_incoming("a").button == "survey:q:~back"  # type: ignore[union-attr]
    scale10 = [[Button(str(v), f"survey:r:{v}") for v in values] for values in (range(0, 6), range(6, 11))]
    _, chat.buttons = render([Reply("0 = 完全不会，10 = 一定会", scale10)])
    assert chat.to_incoming("8").button == "survey:r:8"  # type: ignore[union-attr]
    assert chat.to_incoming("0").button == "survey:r:0"  # type: ignore[union-attr]


async def test_console_survey_records_the_typed_value_and_shows_notices(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import select

    from dialogs.notices import Text, queue_notice
    from store import models as m
    from store import surveys

    engine = create_engine(sqlite_url)
    sessions = sessionmaker(engine)
    async with sessions() as s, s.begin():
        world = await build_world(s)
        survey = await surveys.open_survey(s, world.project.id, NOW, NOW + timedelta(days=30))
        token, = [i.token for i in await surveys.create_invitations(s, survey, 1, NOW)]
    out = io.StringIO()
    user = await act_as(sessions, "resident")
    chat = ConsoleChat(build_engine(sessions, DialogSettings(), clock=lambda: NOW), sessions, user, out=out)
    await chat.send(f"/start {token}")
    await chat.send("5")  # needs_met: "5 非常满意" is the fifth button from the bottom, first from the top
    await chat.send("2")
    async with sessions() as s:
        conversation = (await s.execute(select(m.Conversation))).scalar_one()
        assert State.from_json(None, None, conversation.slots).form.values == {"needs_met": 5, "attitude": 2}
        identity = (await s.execute(select(m.Identity).where(m.Identity.channel == "console"))).scalar_one()
    async with sessions() as s, s.begin():  # a ticket's news for this console person, queued elsewhere
        await queue_notice(s, identity.id, "tickets.notice_state", "t1", NOW, reference="T-1",
                           state=Text("tickets.state.resolved"), note="已修好")
    shown = await chat.send("4")
    assert "T-1" in shown and "已修好" in shown and "第 4/11 题" in shown
    assert "T-1" not in await chat.send("3")  # shown once
    monkeypatch.setattr(console, "NOTICE_POLL_SECONDS", 0.01)
    watcher = asyncio.create_task(chat._watch_notices())  # as while the chat waits for a line
    try:
        async with sessions() as s, s.begin():
            await queue_notice(s, identity.id, "tickets.notice_state", "t2", NOW, reference="T-2",
                               state=Text("tickets.state.resolved"), note="再次确认", buttons=[[("tickets.open", "g:run:tickets:t2")]])
        for _ in range(500):
            if "T-2" in out.getvalue():
                break
            await asyncio.sleep(0.01)
        assert "🔔" in out.getvalue() and "T-2" in out.getvalue()
        assert any(b.data == "g:run:tickets:t2" for b in chat.buttons.values())  # its button can be pressed
    finally:
        watcher.cancel()
    await engine.dispose()


def test_console_keys_of_a_later_notice_do_not_clash() -> None:
    _, on_screen = render([Reply("第 1/11 题", [[Button("5 非常满意", "survey:q:5")], [Button("⬅️ 上一题", "survey:q:~back")]])])
    text, extra = render([Reply("您反映的问题有了新进展", [[Button("查看", "g:run:tickets:t1")]])], on_screen)
    assert "[b] 查看" in text and extra == {"b": Button("查看", "g:run:tickets:t1")}
    _, on_screen = render([Reply("菜单", [[Button("甲", "f:s:a")], [Button("乙", "f:s:b")]])])
    text, extra = render([Reply("通知", [[Button("查看", "g:run:tickets:t1")]])], on_screen)
    assert "[3] 查看" in text and set(extra) == {"3"}


def test_parse_role() -> None:
    assert parse_role("resident") == ("resident", None)
    assert parse_role("org:53100000500019795A") == ("org", "53100000500019795A")
    with pytest.raises(ValueError):
        parse_role("mayor")


async def test_console_chat_as_organization_reaches_the_application(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    sessions = sessionmaker(engine)
    async with sessions() as s, s.begin():
        world = await build_world(s)
    out = io.StringIO()
    user = await act_as(sessions, f"org:{world.org.uscc}")
    chat = ConsoleChat(build_engine(sessions, DialogSettings(), clock=lambda: NOW), sessions, user, out=out)
    await chat.send("/apply")
    await chat.send("1")
    assert "目录项目" in out.getvalue()
    await engine.dispose()


FORMBOT = Path(__file__).resolve().parents[3] / "shared" / "external" / "rasa-formbot" / "nlu.yml"


@pytest.mark.skipif(not FORMBOT.exists(), reason="shared/external not beside the repo")
def test_nlu_test_reads_a_third_party_rasa_file(monkeypatch, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CIVICBOT_NLU_CACHE", str(tmp_path))
    assert main(["nlu", "test", "--data", str(FORMBOT), "--cross-validation", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) >= {"accuracy", "macro_f1", "per_intent"}
    assert {"request_restaurant", "affirm", "deny"} <= set(report["per_intent"])
    assert 0.5 < report["macro_f1"] <= 1.0
    assert set(report["per_intent"]["affirm"]) >= {"precision", "recall", "f1", "support"}


def test_nlu_commands_report_malformed_data(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.yml"
    bad.write_text('version: "3.1"\nnlu: {intent: greet}\n', encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(["nlu", "test", "--data", str(bad)])
    assert info.value.code == 1
    assert "bad.yml" in capsys.readouterr().err


async def test_nlu_serve_answers_rasa_model_parse() -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from bot.cli_nlu import make_server
    from nlu.classifier import train_classifier
    from nlu.parser import NluParser
    from nlu.rasa_format import parse_training_data

    data = parse_training_data(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - hello\n    - hi there\n    - good morning\n'
        "    - hey\n    - 你好\n    - 您好\n- intent: goodbye\n  examples: |\n    - bye\n    - see you\n    - 再见\n"
        "    - goodbye now\n    - 拜拜\n    - see you later\n"
    )
    parser = NluParser(train_classifier(data))
    async with TestClient(TestServer(make_server(parser))) as client:
        response = await client.post("/model/parse", json={"text": "hello"})
        body = await response.json()
        assert response.status == 200 and body["text"] == "hello"
        assert {"intent", "intent_ranking", "entities"} <= set(body)
        assert (await client.post("/model/parse", data=b"not json")).status == 400
        assert (await client.post("/model/parse", json={"txt": 1})).status == 400
