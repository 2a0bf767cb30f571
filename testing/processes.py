"""``civicbot run`` as real processes for multi-process tests, and a page of the web chat as a test drives
it (its WebSocket, confirming what it shows as app.js does)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import select
from yarl import URL

from store.db import create_engine, sessionmaker
from store.models import Identity, WebSession
from store.web_sessions import key_hash
from testing.ports import free_port

ROOT = Path(__file__).resolve().parent.parent  # the checkout: the processes import its code


class Process:
    """One ``civicbot run`` (or other ``civicbot`` command) process; its output goes to a file."""

    def __init__(self, name: str, tmp_path: Path, env: dict[str, str], *args: str) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log = tmp_path / f"{name}.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("wb") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", *self.args, env=self.env, stdout=out, stderr=out, cwd=ROOT,
            )

    async def wait(self, timeout: float) -> int:
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL if it is still there after ``timeout``; the exit code of the SIGTERM."""
        if self.process is None or self.process.returncode is not None:
            return None if self.process is None else self.process.returncode
        self.process.terminate()
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            return None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def base_env(url: str, tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CIVICBOT_")}
    env.update(CIVICBOT_DATABASE_URL=url, CIVICBOT_MEDIA_DIR=str(tmp_path / "media"), CIVICBOT_QUIET_HOURS="")
    return env


def web_process(name: str, url: str, tmp_path: Path, **extra: str) -> tuple[Process, str]:
    """A ``civicbot run --role web`` serving the web chat on a free port; and its base URL."""
    port = free_port()
    env = {**base_env(url, tmp_path), "CIVICBOT_WEB_LISTEN": f"127.0.0.1:{port}", **extra}
    return Process(name, tmp_path, env, "run", "--role", "web"), f"http://127.0.0.1:{port}"


async def until_healthy(http: aiohttp.ClientSession, base: str, process: Process, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            async with http.get(base + "/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        assert process.process is not None
        if process.process.returncode is not None or time.monotonic() > deadline:
            raise AssertionError(f"{process.name} did not come up:\n{process.output()[-5000:]}")
        await asyncio.sleep(0.1)


class Page:
    """A browser's page of the web chat: one cookie (one identity), a WebSocket to a server."""

    def __init__(self, http: aiohttp.ClientSession, *, confirm: bool = True) -> None:
        self.http = http
        self.confirm = confirm  # confirm shown frames with ``seen`` (as app.js does)
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.frames: list[dict[str, Any]] = []
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    @classmethod
    def new(cls, *, confirm: bool = True) -> Page:
        return cls(aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)), confirm=confirm)

    async def visit(self, base: str) -> None:
        async with self.http.get(base + "/") as response:
            assert response.status == 200
            await response.read()

    async def connect(self, base: str, **hello: Any) -> None:
        self.ws = await self.http.ws_connect(base + "/ws", origin=base)
        self._reader = asyncio.create_task(self._read(self.ws))
        await self.ws.send_json({"type": "hello", "id": f"h{id(self)}{len(self.frames)}", **hello})

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = message.json()
            if "n" in frame and self.confirm:
                await ws.send_json({"type": "seen", "n": frame["n"]})
            self.frames.append(frame)
            self._changed.set()

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == kind]

    async def until(self, kind: str, n: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.of(kind)) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{len(self.of(kind))} {kind} frames, not {n}, after {timeout} s: {self.frames}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return self.of(kind)

    async def send(self, frame: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send_json(frame)

    async def disconnect(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        self.ws, self._reader = None, None

    async def close(self) -> None:
        await self.disconnect()
        await self.http.close()

    def cookie(self, base: str) -> str:
        return self.http.cookie_jar.filter_cookies(URL(base))["civicbot_session"].value

    async def identity(self, url: str, base: str) -> tuple[int, str]:
        """This page's identity in the database at ``url``: its id and external id."""
        db = create_engine(url)
        try:
            async with sessionmaker(db)() as session:
                row = (await session.execute(
                    select(Identity.id, Identity.external_id).join(WebSession, WebSession.identity_id == Identity.id)
                    .where(WebSession.key_hash == key_hash(self.cookie(base))))).one()
        finally:
            await db.dispose()
        return row.id, row.external_id


HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding",
    "upgrade", "host", "content-length", "content-encoding", "sec-websocket-key", "sec-websocket-version",
    "sec-websocket-extensions", "sec-websocket-accept", "sec-websocket-protocol",
})


class RoundRobinProxy:
    """A small load balancer, as nginx stands in front of a deployment: each request (and each WebSocket,
    upgrade passed through) goes to the next backend of its route in turn; the route is the longest
    matching path prefix. ``served`` counts requests and sockets per backend."""

    def __init__(self, routes: dict[str, list[str]]) -> None:
        self.routes = sorted(routes.items(), key=lambda item: -len(item[0]))
        self.turn: dict[str, int] = dict.fromkeys(routes, 0)
        self.served: dict[str, int] = {backend: 0 for backends in routes.values() for backend in backends}
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> RoundRobinProxy:
        self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), auto_decompress=False,
                                           cookie_jar=aiohttp.DummyCookieJar())
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    def _next(self, path: str) -> str:
        for prefix, backends in self.routes:
            if path.startswith(prefix):
                backend = backends[self.turn[prefix] % len(backends)]
                self.turn[prefix] += 1
                self.served[backend] += 1
                return backend
        raise web.HTTPNotFound()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self._http is not None
        target = self._next(request.path) + request.path_qs
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._socket(request, target, headers)
        try:
            async with self._http.request(request.method, target, headers=headers, data=await request.read(),
                                          allow_redirects=False) as answer:
                body = await answer.read()
                response = web.Response(status=answer.status, body=body)
                for name, value in answer.headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        response.headers.add(name, value)
                return response
        except aiohttp.ClientError:
            return web.Response(status=502, text="bad gateway")

    async def _socket(self, request: web.Request, target: str, headers: dict[str, str]) -> web.StreamResponse:
        assert self._http is not None
        try:
            upstream = await self._http.ws_connect(target, headers=headers, autoclose=False, heartbeat=None)
        except aiohttp.WSServerHandshakeError as refused:
            return web.Response(status=refused.status, text="refused upstream")
        downstream = web.WebSocketResponse(autoclose=False)
        await downstream.prepare(request)

        async def pipe(source: Any, sink: Any) -> None:
            async for message in source:
                if message.type == aiohttp.WSMsgType.TEXT:
                    await sink.send_str(message.data)
                elif message.type == aiohttp.WSMsgType.BINARY:
                    await sink.send_bytes(message.data)
                elif message.type == aiohttp.WSMsgType.CLOSE:
                    break
            await sink.close()

        await asyncio.gather(pipe(upstream, downstream), pipe(downstream, upstream), return_exceptions=True)
        return downstream
