"""Several ``civicbot run`` processes on one PostgreSQL database, against the in-repo fake Bot API server.

Usage: python bench/scale.py [--pg postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]
                             [--redis redis://127.0.0.1:6379/15] [--users 200] [--updates 5] [--outbox 900]

In one run (each step on a fresh database of its own, dropped after):
1. updates/s with 1 and then 2 ``--role web`` processes behind a round-robin proxy (this script's, as nginx in
   docker-compose.yml): ``--users`` users send ``--updates`` NLU-free ``/menu`` each, all at once, through the
   webhook; Telegram's limits are lifted in the fake (the web processes are measured, not the limiter). The
   ratio 2 web / 1 web is printed, and the update→reply latency p50/p99 of 50 users taking turns one by one;
2. the outbox dispatch rate with 1 ``--role worker`` (its own limiter, no Redis: the one-process path), 1 and
   then 2 workers sharing the limiter through Redis, the fake enforcing Telegram's limits (30 messages/s
   overall, 1 per chat): the share of the cap used in the steady state (as tests/channels/test_limits.py measures it)
   and the 429s the fake served.

Each process is a real ``python -m bot run`` (its own interpreter, as in a deployment); this script holds the
fake and the proxy, so it competes with them for the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from itertools import cycle
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from aiohttp import web
from sqlalchemy import insert, select

from bot.app import open_app
from bot.config import Settings
from dialogs.notices import queue_notice
from store import models as m
from store.db import create_engine, sessionmaker, transaction
from testing.ports import free_port
from testing.postgres import scratch_database
from testing.telegram_api import FakeTelegram, RateLimit

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-shared-secret"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextlib.asynccontextmanager
async def fresh_database(server: str) -> AsyncIterator[str]:
    async with scratch_database(server) as url:
        app = await open_app(Settings(database_url=url, quiet_hours=""))  # migrates
        await app.close()
        yield url


class Process:
    """One ``python -m bot run`` with its own environment; its log in a file."""

    def __init__(self, log: Path, env: dict[str, str], *args: str) -> None:
        self.log, self.env, self.args = log, env, args
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("wb") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", *self.args, env=self.env, cwd=ROOT, stdout=out, stderr=out)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()


def base_env(url: str, tg: FakeTelegram, token: str, tmp: Path) -> dict[str, str]:
    return {**os.environ, "CIVICBOT_DATABASE_URL": url, "CIVICBOT_TELEGRAM_TOKEN": token,
            "CIVICBOT_TELEGRAM_API_URL": tg.base_url, "CIVICBOT_QUIET_HOURS": "", "CIVICBOT_MEDIA_DIR": str(tmp),
            "CIVICBOT_TELEGRAM_WEBHOOK_URL": "", "CIVICBOT_REDIS_URL": ""}


async def round_robin(backends: list[str]) -> tuple[web.AppRunner, str]:
    """A small HTTP proxy handing each request to the next backend in turn (nginx's default)."""
    turn = cycle(backends)
    session = aiohttp.ClientSession()

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith(("content-type", "x-telegram"))}
        async with session.post(next(turn) + request.path, data=body, headers=headers) as answer:
            return web.Response(status=answer.status, body=await answer.read())

    async def close(_: web.Application) -> None:
        await session.close()

    proxy = web.Application()
    proxy.router.add_post("/telegram", forward)
    proxy.on_cleanup.append(close)
    runner = web.AppRunner(proxy, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/telegram"


async def until(condition, timeout: float, what) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what() if callable(what) else what}")
        await asyncio.sleep(0.1)


async def web_round(server: str, processes: int, args: argparse.Namespace, tmp: Path) -> tuple[float, list[float]]:
    token = f"{610_000 + processes}:SCALEWEB"
    async with fresh_database(server) as url, FakeTelegram() as tg:
        ports = [free_port() for _ in range(processes)]
        runner, proxy_url = await round_robin([f"http://127.0.0.1:{port}" for port in ports])
        webs = []
        for n, port in enumerate(ports):
            env = base_env(url, tg, token, tmp) | {
                "CIVICBOT_TELEGRAM_WEBHOOK_URL": proxy_url, "CIVICBOT_TELEGRAM_WEBHOOK_LISTEN": f"127.0.0.1:{port}",
                "CIVICBOT_TELEGRAM_WEBHOOK_SECRET": SECRET,
                # the fake's limits are lifted: so are the process's own (else its 30/s is what is measured)
                "CIVICBOT_TELEGRAM_MESSAGES_PER_SECOND": "100000"}
            webs.append(Process(tmp / f"web{processes}-{n}.log", env, "--role", "web"))
        try:
            for process in webs:
                await process.start()

            async def ready() -> bool:
                async with aiohttp.ClientSession() as http:
                    for port in ports:
                        try:
                            async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                                if r.status != 200:
                                    return False
                        except aiohttp.ClientError:
                            return False
                return tg.webhook_url(token) == proxy_url

            await until(ready, 120, f"{processes} web process(es) up")
            # warm-up: every user's first turn (identity, conversation rows), not measured
            users = [tg.user(5_000_000 + n, token=token) for n in range(args.users)]
            await asyncio.gather(*(u.send_text("/menu") for u in users))
            await asyncio.gather(*(u.wait_for_messages(1, timeout=120) for u in users))
            started = time.monotonic()
            for _ in range(args.updates):
                await asyncio.gather(*(u.send_text("/menu") for u in users))
            await asyncio.gather(*(u.wait_for_messages(1 + args.updates, timeout=300) for u in users))
            rate = args.users * args.updates / (time.monotonic() - started)
            latencies: list[float] = []

            async def turns(user) -> None:  # type: ignore[no-untyped-def]
                seen = 1 + args.updates
                for _ in range(5):
                    asked = time.monotonic()
                    await user.send_text("/menu")
                    seen += 1
                    await user.wait_for_messages(seen, timeout=60)
                    latencies.append(time.monotonic() - asked)

            await asyncio.gather(*(turns(u) for u in users[:50]))
        finally:
            for process in webs:
                await process.stop()
            await runner.cleanup()
    return rate, latencies


async def queue_notices(url: str, count: int, first_chat: int) -> None:
    db = create_engine(url)
    at = datetime.now(UTC)
    async with transaction(sessionmaker(db)) as s:
        await s.execute(insert(m.Identity), [
            {"channel": "telegram", "external_id": str(first_chat + n), "role": "resident", "created_at": at}
            for n in range(count)])
        people = (await s.execute(select(m.Identity.id, m.Identity.external_id))).all()
        for person_id, chat in people:
            await queue_notice(s, person_id, "notify.publicized", f"bench:{chat}", at, code=f"C{chat}", title="T")
    await db.dispose()


async def worker_round(server: str, workers: int, redis: str | None, args: argparse.Namespace,
                       tmp: Path) -> tuple[float, int, float]:
    token = f"{620_000 + workers * 10 + (1 if redis else 0)}{secrets.randbelow(1000):03d}:SCALEOUT"
    first_chat = 7_000_000
    async with fresh_database(server) as url, FakeTelegram() as tg:
        tg.faults.rate_limit = RateLimit(overall=30, per_chat=1)
        await queue_notices(url, args.outbox, first_chat)
        env = base_env(url, tg, token, tmp) | {"CIVICBOT_REDIS_URL": redis or ""}
        procs = [Process(tmp / f"worker{workers}-{n}.log", env, "--role", "worker") for n in range(workers)]
        try:
            for process in procs:
                await process.start()

            async def done() -> bool:
                return len(tg.stats.sent_at) >= args.outbox

            await until(done, 120 + args.outbox / 10, lambda: f"the outbox sent ({len(tg.stats.sent_at)} so far)")
        finally:
            for process in procs:
                await process.stop()
        sent = sorted(tg.stats.sent_at)
        spans = sorted(sent[n] - sent[n - 30] for n in range(60, len(sent)))
        used = 1.0 / statistics.fmean(spans)
        trimmed = 1.0 / statistics.fmean(spans[: len(spans) * 9 // 10])
        return used, tg.stats.served_429, trimmed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--updates", type=int, default=5, help="measured updates per user")
    parser.add_argument("--outbox", type=int, default=900, help="messages per dispatch round (0: skip)")
    parser.add_argument("--skip-web", action="store_true")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the start")
    with tempfile.TemporaryDirectory(prefix="civicbot-scale-") as tmp_name:
        tmp = Path(tmp_name)
        if not args.skip_web:
            rates = {}
            for processes in (1, 2):
                rate, latencies = await web_round(args.pg, processes, args, tmp)
                rates[processes] = rate
                print(f"{processes} web process(es) on PostgreSQL behind the proxy: {rate:6.0f} updates/s "
                      f"({args.users} users × {args.updates}); latency of 50 users' turns "
                      f"p50 {statistics.median(latencies) * 1e3:.0f} ms, p99 {pct(latencies, 0.99) * 1e3:.0f} ms")
            print(f"  → 2 web / 1 web: {rates[2] / rates[1]:.2f}")
        if args.outbox:
            for workers, redis in ((1, None), (1, args.redis), (2, args.redis)):
                used, served_429, trimmed = await worker_round(args.pg, workers, redis, args, tmp)
                how = "shared limiter (Redis)" if redis else "own limiter"
                print(f"{workers} worker(s), {how}: {args.outbox} messages, cap used {used:.1%} "
                      f"(slowest tenth of the windows left out: {trimmed:.1%}), {served_429} 429s")
        print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    asyncio.run(main())
