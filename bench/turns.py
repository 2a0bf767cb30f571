"""Turns per second and turn latency of the application flow, against the bare conversation-row cost.

Usage: python bench/turns.py [--rounds 20] [--pg postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]

Loads the demo data into a fresh database, binds one console identity per eligible demo
organization, and drives complete applications (call → … → submit) through the dialog engine,
timing every turn. The baseline, measured in the same run on the same database: one transaction
that locks, loads and saves one conversation row — the floor under any turn.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot.app import dialog_settings, load_demo, open_app
from bot.config import Settings
from dialogs.engine import Engine
from dialogs.registry import build_engine
from dialogs.types import Incoming
from store.applications import eligibility, open_calls
from store.conversations import ensure_identity, lock_conversation, save_conversation
from store.invites import set_binding
from store.models import Organization
from testing.postgres import scratch_database


def answers(year: int) -> list[str]:
    return [
        "阳光助老·居家探访服务", "辖区内80岁以上独居老人约300人，缺少日常照料和精神慰藉，需要定期探访。",
        "南山区80岁以上独居老人", "300", "建立定期探访和紧急联络机制，降低意外风险。", "20", "12", "6",
        f"{year}年1月1日至{year}年12月31日", "20万", "10万", "5万", "2万", "2万", "1万", "6", "4",
        "服务独居老人 120 人\n开展上门探访 500 次",
    ]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(url: str, rounds: int) -> None:
    settings = Settings(database_url=url)
    app = await open_app(settings)
    now = datetime.now(UTC)
    await load_demo(app, now)
    engine = build_engine(app.sessions, dialog_settings(settings))
    async with app.sessions() as s, s.begin():
        call = (await open_calls(s, now))[0]
        orgs = list((await s.execute(select(Organization))).scalars())
        today = now.astimezone(settings.zone).date()
        users = []
        for org in orgs:
            if not await eligibility(s, org, call, now, today):
                identity = await ensure_identity(s, "bench", f"org-{org.uscc}", now)
                await set_binding(s, identity, "org", org.uscc)
                users.append(identity.external_id)
    texts = answers(call.year)
    latencies: list[float] = []
    counter = 0

    async def turn(user: str, **fields: object) -> list:  # type: ignore[type-arg]
        nonlocal counter
        counter += 1
        incoming = Incoming("bench", user, f"{counter}", locale="zh-Hans", **fields)  # type: ignore[arg-type]
        started = time.perf_counter()
        replies = (await engine.turn(incoming)).replies  # as a channel runs it: the replies kept with the turn
        latencies.append(time.perf_counter() - started)
        return replies

    def first_button(replies: list) -> str:  # type: ignore[type-arg]
        return next(b.data for r in replies for row in r.buttons for b in row if b.data and not b.data.startswith("g:"))

    async def one_application(user: str) -> None:
        replies = await turn(user, command="apply")
        replies = await turn(user, button=first_button(replies))  # the call
        replies = await turn(user, button=first_button(replies))  # the catalog item
        for text in texts:
            replies = await turn(user, text=text)
        submit = next(b.data for r in replies for row in r.buttons for b in row if b.data and ":submit" in b.data)
        replies = await turn(user, button=submit)
        assert any("SQ-" in r.text for r in replies), replies[-1].text

    wall = time.perf_counter()
    for _ in range(rounds):
        for user in users:
            await one_application(user)
    wall = time.perf_counter() - wall

    baseline: list[float] = []
    async with app.sessions() as s, s.begin():
        identity = await ensure_identity(s, "bench", "baseline", now)
    for i in range(len(latencies)):
        started = time.perf_counter()
        async with app.sessions() as s, s.begin():
            conversation = await lock_conversation(s, identity.id, now)
            await save_conversation(s, conversation, "apply", "title", {"values": {"n": i}}, now)
        baseline.append(time.perf_counter() - started)

    kind = make_url(url).get_backend_name()
    mean_turn, mean_base = statistics.fmean(latencies), statistics.fmean(baseline)
    print(f"[{kind}] {len(latencies)} turns by {len(users)} organizations in {wall:.2f} s: "
          f"{len(latencies) / wall:,.0f} turns/s")
    print(f"[{kind}] turn     p50 {pct(latencies, .5) * 1000:.2f} ms  p99 {pct(latencies, .99) * 1000:.2f} ms  "
          f"mean {mean_turn * 1000:.2f} ms")
    print(f"[{kind}] baseline p50 {pct(baseline, .5) * 1000:.2f} ms  p99 {pct(baseline, .99) * 1000:.2f} ms  "
          f"mean {mean_base * 1000:.2f} ms  (lock + load + save one conversation row)")
    print(f"[{kind}] ratio turn/baseline: mean {mean_turn / mean_base:.2f}x, p50 "
          f"{pct(latencies, .5) / pct(baseline, .5):.2f}x")
    print(f"[{kind}] a /menu turn's own CPU (what a channel's turn costs its process): {await menu_cpu(engine):.0f} µs")
    await app.close()


async def menu_cpu(engine: Engine) -> float:
    """Process CPU of one ``/menu`` turn as a channel runs it (replies kept), by 50 returning people, best of 5
    rounds of 600: the part of the Telegram pipeline's cost (bench/telegram.py) that is the turn's."""
    sequence = 0

    async def menu(user: int) -> None:
        nonlocal sequence
        sequence += 1
        await engine.turn(Incoming("bench", f"menu-{user}", f"menu-{sequence}", command="menu"))

    for user in range(50):
        await menu(user)
    best = float("inf")
    for _ in range(5):
        cpu = time.process_time()
        for n in range(600):
            await menu(n % 50)
        best = min(best, (time.process_time() - cpu) / 600)
    return best * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--pg", default=os.environ.get("CIVICBOT_TEST_DATABASE_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        await run(f"sqlite+aiosqlite:///{tmp}/bench.db", args.rounds)
    if args.pg:
        async with scratch_database(args.pg) as url:
            await run(url, args.rounds)


if __name__ == "__main__":
    asyncio.run(main())
