"""Every command that prints links asks the same resolver for the bot's username: getMe when a token is
set (here the Telegram fake), else CIVICBOT_TELEGRAM_USERNAME — survey invitations (links, QR codes,
printable cards), survey sends and binding invitations alike."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import cmd_invite
from bot.cli_survey import cmd_survey_invite, cmd_survey_send
from bot.config import Settings
from store import models as m
from store.db import create_engine, sessionmaker, transaction
from testing.factories import build_world
from testing.telegram_api import DEFAULT_BOT_USERNAME, DEFAULT_TOKEN, FakeTelegram

LINK = f"https://t.me/{DEFAULT_BOT_USERNAME}?start="


async def seed(url: str) -> None:
    db = create_engine(url)
    async with transaction(sessionmaker(db)) as s:
        await build_world(s)
    await db.dispose()


def invite_args(**given: object) -> argparse.Namespace:
    values: dict[str, object] = {"project": "LJ-2026-001", "count": 2, "closes": None, "json": False, "qr": None,
                                 "sheet": None, "lang": None}
    return argparse.Namespace(**{**values, **given})


async def test_survey_invite_send_and_invite_links_take_the_username_from_getme(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed(sqlite_url)
    async with FakeTelegram() as tg:
        # only the token is set, as a new operator would have it
        settings = Settings(_env_file=None, database_url=sqlite_url, telegram_token=DEFAULT_TOKEN,  # type: ignore[call-arg]
                            telegram_api_url=tg.base_url, telegram_username=None)
        sheet = tmp_path / "cards.png"
        assert await cmd_survey_invite(invite_args(json=True, qr=str(tmp_path / "qr"), sheet=str(sheet)), settings) == 0
        issued = json.loads(capsys.readouterr().out)
        assert [i["link"] for i in issued] == [LINK + i["token"] for i in issued]
        assert len(list((tmp_path / "qr").glob("*.png"))) == 2 and sheet.read_bytes().startswith(b"\x89PNG")

        assert await cmd_survey_invite(invite_args(), settings) == 0
        out = capsys.readouterr()
        assert all(line.startswith(LINK) for line in out.out.split()) and "warning" not in out.err

        send = argparse.Namespace(project="LJ-2026-001", to="telegram:501", closes=None)
        assert await cmd_survey_send(send, settings) == 0
        assert "1 invitations queued" in capsys.readouterr().out
        db = create_engine(sqlite_url)
        async with sessionmaker(db)() as s:
            [row] = (await s.execute(select(m.OutboxMessage).where(m.OutboxMessage.kind == "survey_invitation"))).scalars()
        await db.dispose()
        assert row.payload["secret"]["link"].startswith(LINK)

        assert await cmd_invite(argparse.Namespace(kind="staff", ref="MZ", json=True), settings) == 0
        assert json.loads(capsys.readouterr().out)["link"].startswith(LINK)
        assert tg.stats.requests["getMe"] >= 4


async def test_without_token_or_username_survey_invite_prints_tokens_and_says_why(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed(sqlite_url)
    settings = Settings(_env_file=None, database_url=sqlite_url, telegram_token=None,  # type: ignore[call-arg]
                        telegram_username=None)
    assert await cmd_survey_invite(invite_args(qr=str(tmp_path / "qr")), settings) == 1
    assert "CIVICBOT_TELEGRAM_TOKEN" in capsys.readouterr().err
    assert await cmd_survey_invite(invite_args(), settings) == 0
    out = capsys.readouterr()
    assert all(line.startswith("s") and "t.me" not in line for line in out.out.split())
    assert "getMe" in out.err and "/start TOKEN" in out.err
