"""The Telegram channel through the in-repo fake Bot API server, against a bare aiogram echo bot.

Usage: python bench/telegram.py [--updates 1000] [--users 200] [--repeat 5] [--latency-rounds 10]
                                [--outbox 3000] [--pg postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]

In one run, on one fake server:
1. updates/s of the full civicbot pipeline (record the update, one engine turn with the database for
   an NLU-free ``/menu``, send the reply with its keyboard, mark the update handled) vs a bare aiogram
   echo bot (Dispatcher polling, ``message.answer``), and the civicbot channel alone (the same menu
   answer from a stub instead of the engine: no turn in the database). Telegram's flood limits are
   lifted (the pipelines are compared, not the limiter). They alternate ``--repeat`` times; the ratio is
   printed twice: of the best rate of each (a burst of load from elsewhere on the machine does not decide
   it, but one lucky round of either does) and the median of each round's own ratio (both ran back to back,
   under the same conditions). CPU time per update is printed too;
2. update→reply latency (p50/p99) with 100 users talking at once, each waiting for its reply;
3. the outbox dispatcher sending ``--outbox`` queued messages to as many chats while the fake enforces
   Telegram's limits (30 messages/s overall, 1 per chat): achieved rate and 429s served.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiogram import Dispatcher, Router
from aiogram.types import Message

from bot.app import App, open_app, settle_heap
from bot.channels.telegram import CHANNEL, TelegramChannel, TelegramOptions
from bot.channels.telegram.sending import RateLimiter
from bot.config import Settings
from bot.outbox import Dispatcher as OutboxDispatcher
from dialogs.engine import Engine, Turn
from dialogs.types import Button, Incoming, Reply
from store.models import Identity
from store.notices import Notice
from store.outbox import Outgoing, enqueue
from testing.postgres import scratch_database
from testing.telegram_api import FakeTelegram, RateLimit, make_bot

ECHO_TOKEN = "222222:ECHO"
CHANNEL_ONLY_TOKEN = "555555:NODB"
OUTBOX_TOKEN = "333333:OUTBOX"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass(frozen=True)
class Rate:
    per_second: float
    cpu_ms: float  # process CPU time per update (every thread: the fake server's and SQLite's too)


async def wait_sent(tg: FakeTelegram, n: int, timeout: float = 600.0) -> None:
    """Until the fake has accepted ``n`` messages in all (one bot is flooded at a time)."""
    deadline = time.perf_counter() + timeout
    while len(tg.sent) < n:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"only {len(tg.sent)} of {n} messages sent")
        await asyncio.sleep(0.005)


async def flood(tg: FakeTelegram, token: str, users: int, per_user: int, base: int) -> Rate:
    """Queue ``users × per_user`` messages at once; the rate at which every one got its reply."""
    before = len(tg.sent)
    people = [tg.user(base + n, token=token) for n in range(users)]
    cpu, start = time.process_time(), time.perf_counter()
    for _ in range(per_user):
        for person in people:
            await person.send_text("/menu")
    await wait_sent(tg, before + users * per_user)
    count = users * per_user
    return Rate(count / (time.perf_counter() - start), (time.process_time() - cpu) / count * 1000)


async def start_echo_bot(tg: FakeTelegram) -> tuple[Dispatcher, asyncio.Task[None]]:
    router = Router()

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "…")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    bot = make_bot(tg.base_url, ECHO_TOKEN, bare=True)  # aiogram as it comes
    polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False, polling_timeout=10))
    return dispatcher, polling


class NoDatabase:
    """The engine's menu answer without the engine: what the channel alone costs."""

    def __init__(self, engine: Engine) -> None:
        self.flows = engine.flows
        self.replies = [Reply("请选择您要办理的事项：", [[Button(f"事项 {n}", f"g:run:flow{n}")] for n in range(4)])]

    async def turn(self, incoming: Incoming) -> Turn:
        return Turn(self.replies)


async def start_civicbot(tg: FakeTelegram, app: App, token: str, *, engine: Any = None) -> TelegramChannel:
    limiter = RateLimiter(overall=None, per_chat=None)  # flood limits lifted: the pipeline is measured
    channel = TelegramChannel(make_bot(tg.base_url, token), engine or app.engine("civicbot_bench_bot"),
                              app.sessions, TelegramOptions(), limiter=limiter)
    await channel.start()
    return channel


async def latency(tg: FakeTelegram, token: str, users: int, rounds: int, base: int) -> list[float]:
    samples: list[float] = []

    async def talk(uid: int) -> None:
        person = tg.user(uid, token=token)
        for n in range(1, rounds + 1):
            start = time.perf_counter()
            await person.send_text("/menu")
            await tg.wait_for_messages(uid, n, timeout=120)
            samples.append(time.perf_counter() - start)

    await asyncio.gather(*(talk(base + n) for n in range(users)))
    return samples


async def compare(tg: FakeTelegram, app: App, label: str, token: str, base: int, args: argparse.Namespace) -> None:
    per_user = max(1, args.updates // args.users)
    channel = await start_civicbot(tg, app, token)
    bare = await start_civicbot(tg, app, CHANNEL_ONLY_TOKEN, engine=NoDatabase(channel.engine))
    dispatcher, polling = await start_echo_bot(tg)
    for warm in (ECHO_TOKEN, token, CHANNEL_ONLY_TOKEN):  # connections, first identities
        await flood(tg, warm, 10, 1, base)
    runs: dict[str, list[Rate]] = {ECHO_TOKEN: [], token: [], CHANNEL_ONLY_TOKEN: []}
    for round_ in range(args.repeat):
        for which, rates in runs.items():
            rates.append(await flood(tg, which, args.users, per_user, base + 10_000 * (round_ + 1)))
    await dispatcher.stop_polling()
    await polling
    await bare.stop()
    best = {which: max(rates, key=lambda r: r.per_second) for which, rates in runs.items()}
    echo = best[ECHO_TOKEN].per_second
    print(f"[{label}] {args.users} users × {per_user} updates, best of {args.repeat} (CPU time per update):")
    for which, name in ((ECHO_TOKEN, "bare aiogram echo bot"), (token, "civicbot full pipeline"),
                        (CHANNEL_ONLY_TOKEN, "civicbot channel, no DB")):
        rate = best[which]
        print(f"  {name:23s}: {rate.per_second:6.0f} updates/s ({rate.cpu_ms:4.1f} ms CPU)  ratio to echo "
              f"{rate.per_second / echo:4.2f}  [rounds: {', '.join(f'{r.per_second:.0f}' for r in runs[which])}]")
    paired = statistics.median(c.per_second / e.per_second for c, e in zip(runs[token], runs[ECHO_TOKEN], strict=True))
    print(f"  → civicbot/echo {best[token].per_second / echo:.2f} best of each, {paired:.2f} median of the rounds' "
          f"own ratios (each round runs both back to back) (aim ≥ 0.5)")
    if args.latency_rounds:
        samples = await latency(tg, token, 100, args.latency_rounds, base + 500_000)
        print(f"  latency, 100 concurrent users × {args.latency_rounds} turns: "
              f"p50 {statistics.median(samples) * 1000:.0f} ms, p99 {pct(samples, 0.99) * 1000:.0f} ms")
    await channel.stop()


async def outbox_rate(tg: FakeTelegram, app: App, count: int) -> None:
    now = datetime.now(UTC)
    async with app.sessions() as s, s.begin():
        people = [Identity(channel=CHANNEL, external_id=str(9_000_000 + n), role="resident", created_at=now)
                  for n in range(count)]
        s.add_all(people)
        await s.flush()
        await enqueue(s, [Outgoing(p.id, f"bench-{p.id}", Notice("common.welcome", kind="bench")) for p in people], now)
    channel = TelegramChannel(make_bot(tg.base_url, OUTBOX_TOKEN), app.engine(), app.sessions,
                              TelegramOptions())  # the production limiter
    tg.faults.rate_limit = RateLimit(overall=30, per_chat=1)
    before = tg.stats.served_429
    dispatcher = OutboxDispatcher(app.sessions, channel.sender(), zone=app.settings.zone,
                                  default_locale=app.settings.default_locale)
    start = time.perf_counter()
    counts = await dispatcher.dispatch(datetime.now(UTC))
    rate = counts.sent / (time.perf_counter() - start)
    tg.faults.rate_limit = None
    await channel.bot.session.close()
    print(f"outbox [SQLite]: {counts.sent} of {count} messages sent to {count} chats, the fake enforcing 30/s overall "
          f"and 1/s per chat: {rate:.1f} msg/s = {rate / 30:.0%} of 30/s (aim ≥ 90%), "
          f"429s served: {tg.stats.served_429 - before}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=1000, help="updates per measured round")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--latency-rounds", type=int, default=10)
    parser.add_argument("--outbox", type=int, default=3000, help="0 to skip the outbox run")
    parser.add_argument("--pg", default=None, help="also run the pipeline on this PostgreSQL server (URL)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="civicbot-bench-") as tmp:
        media = Path(tmp) / "media"
        app = await open_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp}/bench.db", media_dir=media))
        await settle_heap(app)  # as ``civicbot run`` does: a full collection then no longer walks the model
        async with FakeTelegram() as tg:
            await compare(tg, app, "SQLite", "111111:CIVIC", 1_000_000, args)
            if args.pg:
                async with scratch_database(args.pg) as url:
                    pg = await open_app(Settings(database_url=url, media_dir=media))
                    await settle_heap(pg)
                    await compare(tg, pg, "PostgreSQL", "444444:CIVICPG", 3_000_000, args)
                    await pg.close()
            if args.outbox:
                await outbox_rate(tg, app, args.outbox)
        await app.close()


if __name__ == "__main__":
    asyncio.run(main())
