"""``civicbot run --role web`` and ``--role worker`` as real processes on PostgreSQL: SIGTERM finishes what
is in hand, gives back the claims and exits within 10 s."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

import pytest

from bot.cli import main
from testing.ports import free_port
from testing.telegram_api import DEFAULT_TOKEN, FakeTelegram
from tests.cli.test_run_process import (
    CHATS,
    Service,
    mid_dispatch,
    outbox_states,
    queue_notices,
    received,
    until,
)

STOP_WITHIN = 10.0


async def health_check(service: Service) -> int:
    check = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.health", env=service.env)
    return await asyncio.wait_for(check.wait(), 30)


async def stop(service: Service) -> tuple[int, float]:
    started = time.monotonic()
    try:
        code = await service.signal(signal.SIGTERM, timeout=STOP_WITHIN)
    except TimeoutError:
        raise AssertionError(f"still running {STOP_WITHIN} s after SIGTERM:\n{service.output()}") from None
    finally:
        if service.process is not None and service.process.returncode is None:
            service.process.kill()
    return code, time.monotonic() - started


@pytest.mark.postgres
async def test_a_worker_stopped_mid_dispatch_gives_back_its_claims_within_ten_seconds(
    pg_url: str, tmp_path: Path
) -> None:
    async with FakeTelegram() as tg:
        tg.faults.latency_by_method["sendMessage"] = 0.3
        await queue_notices(pg_url)
        worker = Service(pg_url, tg, tmp_path, "worker", "--role", "worker")
        beat = tmp_path / "heartbeat"
        worker.env["CIVICBOT_HEARTBEAT_FILE"] = str(beat)
        await worker.start()
        await until(lambda: mid_dispatch(tg), 60, "sends in flight", worker)
        assert await health_check(worker) == 0  # its loop beats (the container's health check)
        code, took = await stop(worker)
        assert not beat.exists()  # stopped: no longer healthy
        log = worker.output()
        assert code == 0 and took < STOP_WITHIN, log
        assert "Traceback" not in log, log
        states = await outbox_states(pg_url)
        assert "sending" not in states and states["sent"] + states.get("pending", 0) == CHATS
        assert sum(received(tg).values()) == states["sent"]
        assert tg.webhook_url() is None and not tg.stats.requests["getUpdates"]  # a worker receives nothing


@pytest.mark.postgres
async def test_a_web_process_answers_through_the_webhook_and_stops_within_ten_seconds(
    pg_url: str, tmp_path: Path
) -> None:
    async with FakeTelegram() as tg:
        port = free_port()
        web = Service(pg_url, tg, tmp_path, "web", "--role", "web")
        web.env.update(CIVICBOT_TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram",
                       CIVICBOT_TELEGRAM_WEBHOOK_LISTEN=f"127.0.0.1:{port}",
                       CIVICBOT_TELEGRAM_WEBHOOK_SECRET="shared-by-every-web-process")
        await queue_notices(pg_url)
        await web.start()
        await until(lambda: tg.webhook_url() is not None, 60, "the webhook set", web)
        user = tg.user(90_001)  # below the notices' chats
        await user.send_text("/start")
        await user.wait_for_messages(1, timeout=30)
        code, took = await stop(web)
        log = web.output()
        assert code == 0 and took < STOP_WITHIN, log
        assert "Traceback" not in log, log
        assert received(tg) == {}  # the outbox is the workers' job
        assert (await outbox_states(pg_url)) == {"pending": CHATS}


def test_web_processes_do_not_poll(monkeypatch: pytest.MonkeyPatch, sqlite_url: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CIVICBOT_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("CIVICBOT_TELEGRAM_TOKEN", DEFAULT_TOKEN)
    monkeypatch.delenv("CIVICBOT_TELEGRAM_WEBHOOK_URL", raising=False)
    assert main(["run", "--role", "web"]) == 1
    assert "--role web needs CIVICBOT_TELEGRAM_WEBHOOK_URL" in capsys.readouterr().err
