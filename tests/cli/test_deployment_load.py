"""A city's deployment under load, as real processes on one PostgreSQL database: two ``civicbot run --role web``
behind a round-robin proxy (Telegram's webhook deliveries and the web chat's sockets alike), one ``--role
worker`` and one ``--role scheduler`` (``--role`` has no combined worker-and-scheduler role: the two run side
by side, as in docker-compose.yml), Telegram's limits shared through Redis.

The Telegram fake enforces Telegram's limits: 30 messages/s for the bot, about 1/s per chat with the short
bursts Telegram tolerates (up to 3 at once, what the bot's limiter allows itself; the fake's strict default of
1 per sliding second would refuse the second of two quick answers in a chat). 2,000 messages
from 200 people — 100 on Telegram, 100 in the web chat, 10 each, each person's sent at once — are each
answered exactly once, each person's answers in the order of their messages, and no 429 is drawn. Every
turn runs under its conversation's row lock, whichever process takes it."""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import time
from collections import Counter
from pathlib import Path

import pytest

from dialogs import i18n
from store.db import create_engine, sessionmaker, transaction
from testing.factories import build_world
from testing.ports import free_port
from testing.processes import Page, Process, RoundRobinProxy, base_env, until_healthy
from testing.telegram_api import FakeTelegram, RateLimit

REDIS_URL = os.environ.get("CIVICBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TELEGRAM_USERS = 100
WEB_USERS = 100
MESSAGES = 10  # per person
FIRST_CHAT = 7_100_000
WEBHOOK_TIMEOUT = 2.5  # seconds
LOAD_WITHIN = 150.0  # seconds for the whole load; Telegram's 30/s alone needs TELEGRAM_USERS * MESSAGES / 30
CHOOSE_LANGUAGE = {i18n.t(locale, "common.choose_language") for locale in i18n.LOCALES}
MENU = {i18n.t(locale, "common.menu_title_resident") for locale in i18n.LOCALES}


def script(person: int) -> list[str]:
    """What one person sends: /menu and /lang, one answer each, in an order of their own."""
    draw = random.Random(person)
    return [draw.choice(("/menu", "/lang")) for _ in range(MESSAGES)]


def answered(text: str) -> str:
    """Which message ``text`` answers."""
    if text in CHOOSE_LANGUAGE:
        return "/lang"
    assert text in MENU, text
    return "/menu"


async def redis_or_skip() -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    finally:
        await client.aclose()


async def drop_keys(prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def web_person(proxy: str, person: int) -> list[tuple[str, str]]:
    """A page through the proxy sends its ten messages at once; returns (message id, what was answered) of
    each reply frame, in the order they came."""
    page = Page.new()
    try:
        await page.visit(proxy)
        await page.connect(proxy)
        for n, text in enumerate(script(person)):
            await page.send({"type": "text", "id": f"p{person}m{n}", "text": text})
        await page.until("reply", MESSAGES, timeout=LOAD_WITHIN)
        await asyncio.sleep(0.2)  # time for a reply too many
        assert not page.of("refused") and not page.of("limit") and not page.of("error"), page.frames
        return [(f["id"], answered("\n".join(m["text"] for m in f["messages"]))) for f in page.of("reply")]
    finally:
        await page.close()


@pytest.mark.slow
@pytest.mark.postgres
async def test_two_web_processes_a_worker_and_a_scheduler_answer_2000_messages_once_in_order_without_a_429(
    pg_url: str, tmp_path: Path
) -> None:
    await redis_or_skip()
    seeding = create_engine(pg_url)
    async with transaction(sessionmaker(seeding)) as session:
        await build_world(session)
    await seeding.dispose()
    bot_id = 800_000_000 + secrets.randbelow(100_000_000)  # the limiter's keys in Redis are this bot's own
    token = f"{bot_id}:{secrets.token_urlsafe(24)}"
    webhook_ports, web_ports = [free_port(), free_port()], [free_port(), free_port()]
    webhooks = [f"http://127.0.0.1:{port}" for port in webhook_ports]
    pages = [f"http://127.0.0.1:{port}" for port in web_ports]
    processes: list[Process] = []
    # Telegram gives up on a webhook request after a while and delivers the update again, here to the other
    # process: soon enough that some updates come again while their first turn's replies are being sent
    async with FakeTelegram(token=token, webhook_timeout=WEBHOOK_TIMEOUT) as tg, \
            RoundRobinProxy({"/telegram": webhooks, "/": pages}) as proxy:
        # Telegram's: 30/s for the bot, about 1/s per chat with short bursts (the bot's limiter: up to 3)
        tg.faults.rate_limit = RateLimit(chat_burst=3)
        common = {**base_env(pg_url, tmp_path), "CIVICBOT_TELEGRAM_TOKEN": token,
                  "CIVICBOT_TELEGRAM_API_URL": tg.base_url, "CIVICBOT_REDIS_URL": REDIS_URL}
        for n in range(2):
            env = {**common, "CIVICBOT_TELEGRAM_WEBHOOK_URL": f"{proxy.base}/telegram",
                   "CIVICBOT_TELEGRAM_WEBHOOK_LISTEN": f"127.0.0.1:{webhook_ports[n]}",
                   "CIVICBOT_TELEGRAM_WEBHOOK_SECRET": "shared-by-every-web-process",
                   "CIVICBOT_WEB_LISTEN": f"127.0.0.1:{web_ports[n]}", "CIVICBOT_WEB_URL": proxy.base,
                   "CIVICBOT_WEB_ADDRESS_PER_MINUTE": "100000"}  # every page comes from the proxy's address
            processes.append(Process(f"web-{n}", tmp_path, env, "run", "--role", "web"))
        processes.append(Process("worker", tmp_path, common, "run", "--role", "worker"))
        processes.append(Process("scheduler", tmp_path, common, "run", "--role", "scheduler"))
        try:
            await asyncio.gather(*(p.start() for p in processes))
            probe = Page.new()
            try:
                await asyncio.gather(*(until_healthy(probe.http, base, p, timeout=120)
                                       for base, p in zip(webhooks + pages, processes[:2] * 2, strict=True)))
            finally:
                await probe.close()

            started = time.monotonic()
            users = [tg.user(FIRST_CHAT + n) for n in range(TELEGRAM_USERS)]
            for user in users:
                for text in script(user.id):
                    await user.send_text(text)
            on_the_web = asyncio.gather(*(web_person(proxy.base, n) for n in range(WEB_USERS)))
            for user in users:
                await tg.wait_for_messages(user.id, MESSAGES, timeout=max(1.0, LOAD_WITHIN - (time.monotonic() - started)))
            web_replies = await on_the_web
            took = time.monotonic() - started
            await asyncio.sleep(0.5)  # time for a message too many
        finally:
            codes = await asyncio.gather(*(p.stop(60) for p in processes))
            await drop_keys(f"civicbot:telegram:{bot_id}:")
        logs = {p.name: p.output() for p in processes}
        for process, code in zip(processes, codes, strict=True):
            assert code == 0, logs[process.name][-5000:]
            assert "Traceback" not in logs[process.name], logs[process.name][-5000:]

        for user in users:  # each message answered once, in order
            got = [answered(m.plain_text) for m in tg.messages_to(user.id)]
            assert got == script(user.id), (user.id, got)
        for person, replies in enumerate(web_replies):
            assert [cid for cid, _ in replies] == [f"p{person}m{n}" for n in range(MESSAGES)], replies
            assert [what for _, what in replies] == script(person)
        assert tg.stats.served_429 == 0, Counter(r.chat_id for r in tg.stats.retry_afters)
        assert not tg.stats.early_retries()
        assert all(proxy.served[backend] > 0 for backend in webhooks + pages), proxy.served  # both took a share
        redelivered = Counter((attempt.error or "")[:60] for attempt in tg.webhook_attempts if attempt.error)
        print(f"\n{(TELEGRAM_USERS + WEB_USERS) * MESSAGES} messages answered in {took:.1f} s "
              f"({TELEGRAM_USERS * MESSAGES / took:.1f} Telegram sends/s); webhook deliveries failed and made "
              f"again: {sum(redelivered.values())} {dict(redelivered)}; served {proxy.served}")
