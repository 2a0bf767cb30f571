"""The web chat under load: N concurrent WebSocket sessions doing menu turns and free-text questions
against ``civicbot run`` (a separate process), against a bare aiohttp WebSocket echo server measured in
the same run; plus the page's weight.

Usage: python bench/web.py [--sessions 200] [--turns 10] [--pg postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]

Each session opens the page (its cookie), connects, is greeted, then alternates a menu turn (``/menu``)
and a public question typed as text ("南山区有哪些养老项目"), waiting for each reply before the next.
The echo server answers every message with a reply frame at once: the floor under any turn over a
WebSocket on this machine. Bars: turns/s ≥ 0.3× the echo server's; p99 of menu turns ≤ 100 ms. A second
run paces the sessions like people (``--think`` seconds between turns on average) for the latency a
resident sees when the server is not saturated.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from testing.ports import free_port
from testing.postgres import scratch_database

ROOT = Path(__file__).resolve().parent.parent
CIVICBOT = [sys.executable, "-m", "bot"]
QUESTION = "南山区有哪些养老项目"
ECHO = textwrap.dedent("""
    import json, sys
    from aiohttp import web

    async def page(request):
        response = web.Response(text="<!doctype html>", content_type="text/html")
        response.set_cookie("civicbot_session", "x" * 43, httponly=True, samesite="Lax")
        return response

    async def ws(request):
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        async for frame in socket:
            message = json.loads(frame.data)
            await socket.send_str(json.dumps({"type": "reply", "id": message.get("id"), "messages": [{"text": "ok"}]}))
        return socket

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/ws", ws)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
""")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def wait_up(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not come up")
            await asyncio.sleep(0.3)


async def session(url: str, turns: int, latencies: dict[str, list[float]], greeted: list[int],
                  start: asyncio.Event, think: float) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(url + "/") as response:
            await response.read()
        async with http.ws_connect(url + "/ws", origin=url, max_msg_size=0) as ws:
            await ws.send_json({"type": "hello", "fresh": True, "id": "hello"})
            await reply(ws, "hello")
            greeted[0] += 1
            await start.wait()
            for n in range(turns):
                if think:  # a person reads and types: random pauses averaging ``think`` seconds
                    await asyncio.sleep(random.expovariate(1 / think))
                kind = "menu" if n % 2 == 0 else "question"
                cid = f"t{n}"
                started = time.perf_counter()
                await ws.send_json({"type": "text", "id": cid, "text": "/menu" if kind == "menu" else QUESTION})
                await reply(ws, cid)
                latencies[kind].append(time.perf_counter() - started)


async def reply(ws: aiohttp.ClientWebSocketResponse, cid: str) -> None:
    while True:
        frame = await ws.receive_json(timeout=120)
        if "n" in frame:
            await ws.send_json({"type": "seen", "n": frame["n"]})
        if frame.get("type") == "reply" and frame.get("id") == cid:
            return
        if frame.get("type") == "limit":
            raise RuntimeError("rate limited: raise the limits for the benchmark")


async def load(url: str, sessions: int, turns: int, think: float = 0.0) -> tuple[float, dict[str, list[float]]]:
    """All sessions connect and are greeted first; then every one does its turns at once (timed)."""
    latencies: dict[str, list[float]] = {"menu": [], "question": []}
    greeted, start = [0], asyncio.Event()
    clients = [asyncio.create_task(session(url, turns, latencies, greeted, start, think)) for _ in range(sessions)]
    while greeted[0] < sessions:
        failed = [c for c in clients if c.done() and c.exception() is not None]
        if failed:
            raise failed[0].exception()  # type: ignore[misc]
        await asyncio.sleep(0.05)
    began = time.perf_counter()
    start.set()
    await asyncio.gather(*clients)
    return sessions * turns / (time.perf_counter() - began), latencies


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used, from /proc (None elsewhere): a figure a machine busy with
    other work changes less than wall time."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(label: str, rate: float, latencies: dict[str, list[float]]) -> None:
    parts = [f"{rate:7.0f} turns/s"]
    for kind, values in latencies.items():
        if values:
            parts.append(f"{kind} p50 {pct(values, .5) * 1000:6.1f} ms p99 {pct(values, .99) * 1000:6.1f} ms")
    print(f"{label:<22} " + "; ".join(parts))


def start_civicbot(database_url: str, port: int, media: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CIVICBOT_DATABASE_URL": database_url, "CIVICBOT_WEB_LISTEN": f"127.0.0.1:{port}",
           "CIVICBOT_MEDIA_DIR": str(media), "CIVICBOT_WEB_URL": f"http://127.0.0.1:{port}",
           # every client comes from 127.0.0.1: the per-address limit would hold them back
           "CIVICBOT_WEB_ADDRESS_PER_MINUTE": "1000000"}
    env.pop("CIVICBOT_TELEGRAM_TOKEN", None)
    return subprocess.Popen([*CIVICBOT, "run"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


async def bench_database(label: str, database_url: str, sessions: int, turns: int, echo_rate: float,
                         tmp: Path, think: float) -> None:
    env = {**os.environ, "CIVICBOT_DATABASE_URL": database_url}
    subprocess.run([*CIVICBOT, "demo-data"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    server = start_civicbot(database_url, port, tmp / "media")
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_up(url + "/healthz")
        await load(url, 5, 4)  # warm: the NLU model loads, statements are cached
        rendered = await first_render(url)
        if rendered is not None:
            print(f"first render in Chromium ({label}): {rendered * 1000:.0f} ms (best of 3; bar 1 s)")
        cpu_before = cpu_seconds(server.pid)
        rate, latencies = await load(url, sessions, turns)
        cpu_after = cpu_seconds(server.pid)
        paced = await load(url, sessions, turns, think) if think else None
    finally:
        server.terminate()
        server.wait(30)
    report(f"civicbot run ({label})", rate, latencies)
    if cpu_before is not None and cpu_after is not None:
        print(f"{'':<22} server CPU {(cpu_after - cpu_before) * 1000 / (sessions * turns):.2f} ms a turn "
              f"(menu and question alike), {(cpu_after - cpu_before) * rate / (sessions * turns):.0%} of one core")
    print(f"{'':<22} ratio to the echo server: {rate / echo_rate:.2f}x (bar 0.3x); "
          f"menu p99 {'within' if pct(latencies['menu'], .99) <= 0.1 else 'OVER'} the 100 ms bar")
    if paced is not None:
        report(f"  paced {think:g} s/turn", *paced)
        print(f"{'':<22} menu p99 {'within' if pct(paced[1]['menu'], .99) <= 0.1 else 'OVER'} the 100 ms bar")


async def first_render(url: str) -> float | None:
    """Seconds from navigation to the greeting's menu in Chromium (None without /usr/bin/chromium)."""
    if not Path("/usr/bin/chromium").exists():
        return None
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        times = []
        for _ in range(3):
            context = await browser.new_context(locale="zh-CN")
            page = await context.new_page()
            started = time.perf_counter()
            await page.goto(url + "/")
            await page.locator("#messages .msg.bot button").first.wait_for()
            times.append(time.perf_counter() - started)
            await context.close()
        await browser.close()
    return min(times)


def page_weight() -> int:
    static = ROOT / "bot" / "channels" / "web" / "static"
    return sum((static / name).stat().st_size for name in ("index.html", "app.js", "app.css"))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--pg", default=os.environ.get("CIVICBOT_TEST_DATABASE_URL"))
    parser.add_argument("--think", type=float, default=2.0,
                        help="also a run where each session pauses this many seconds on average between turns")
    args = parser.parse_args()
    print(f"page weight (HTML + JS + CSS, uncompressed): {page_weight()} bytes (bar 60,000)")
    port = free_port()
    echo = subprocess.Popen([sys.executable, "-c", ECHO, str(port)])
    try:
        await wait_up(f"http://127.0.0.1:{port}/")
        rate, latencies = await load(f"http://127.0.0.1:{port}", args.sessions, args.turns)
    finally:
        echo.terminate()
        echo.wait(10)
    report("aiohttp echo", rate, latencies)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        await bench_database("SQLite", f"sqlite+aiosqlite:///{tmp}/bench.db", args.sessions, args.turns, rate, tmp, args.think)
        if args.pg:
            async with scratch_database(args.pg) as url:
                await bench_database("PostgreSQL", url, args.sessions, args.turns, rate, tmp, args.think)


if __name__ == "__main__":
    asyncio.run(main())
