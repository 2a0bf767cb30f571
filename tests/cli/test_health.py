"""The heartbeat of ``civicbot run`` and ``civicbot health`` / ``python -m bot.health`` that check it."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from bot import health
from bot.cli import main
from store.db import create_engine


def test_a_heartbeat_is_fresh_until_it_is_older_than_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "beat"
    assert "no heartbeat" in (health.stale(path) or "")
    path.write_text("1\n")
    assert health.stale(path) is None
    old = time.time() - health.STALE_SECONDS - 1
    os.utime(path, (old, old))
    assert "old" in (health.stale(path) or "")
    assert health.stale(path, max_age=health.STALE_SECONDS + 60) is None


@pytest.mark.parametrize("command", [["health"], None])
def test_the_check_exits_0_on_a_fresh_heartbeat_and_1_with_the_reason_else(
    command: list[str] | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def check() -> int:
        return main(command) if command else health.main([])

    monkeypatch.delenv("CIVICBOT_HEARTBEAT_FILE", raising=False)
    assert check() == 1 and "CIVICBOT_HEARTBEAT_FILE" in capsys.readouterr().err
    path = tmp_path / "beat"
    monkeypatch.setenv("CIVICBOT_HEARTBEAT_FILE", str(path))
    assert check() == 1 and "no heartbeat" in capsys.readouterr().err
    path.write_text("1\n")
    assert check() == 0
    old = time.time() - 3600
    os.utime(path, (old, old))
    assert check() == 1 and "3600 s old" in capsys.readouterr().err


async def test_the_heartbeat_is_touched_while_the_database_answers_and_removed_at_the_stop(
    sqlite_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "beat"
    db = create_engine(sqlite_url)
    beating = asyncio.create_task(health.beat(path, db, every=0.05))
    try:
        for _ in range(100):
            if path.exists():
                break
            await asyncio.sleep(0.02)
        assert health.stale(path) is None
    finally:
        beating.cancel()
        with pytest.raises(asyncio.CancelledError):
            await beating
        await db.dispose()
    assert not path.exists()


async def test_no_heartbeat_while_the_database_does_not_answer(tmp_path: Path) -> None:
    path = tmp_path / "beat"
    db = create_engine("postgresql+asyncpg://civicbot@127.0.0.1:1/civicbot")  # nothing listens there
    beating = asyncio.create_task(health.beat(path, db, every=0.05))
    await asyncio.sleep(0.3)
    assert not path.exists()
    beating.cancel()
    with pytest.raises(asyncio.CancelledError):
        await beating
    await db.dispose()
    assert not path.exists()
