"""The ``civicbot`` command line (also ``python -m bot``): the operator's interface.

Exit 0 on success; on failure a non-zero exit with the reason on stderr, one line per error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.app import (
    App,
    check_media,
    demo_identity,
    is_empty,
    load_demo,
    open_app,
    settle_heap,
    use_data_folders,
)
from bot.cli_needs import add_parser as add_needs_parser
from bot.cli_nlu import add_parser as add_nlu_parser
from bot.cli_reminders import add_parser as add_reminders_parser
from bot.cli_review import add_parser as add_review_parser
from bot.cli_survey import add_parser as add_survey_parser
from bot.config import Settings, load_settings
from bot.health import BEAT_SECONDS, STALE_SECONDS

Handler = Callable[[argparse.Namespace, Settings], Awaitable[int]]


class CliError(Exception):
    """A failure to report on stderr (one line per message) with a non-zero exit."""

    def __init__(self, *lines: str, code: int = 1) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines
        self.code = code


def _now() -> datetime:
    return datetime.now(UTC)


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, default=str))


# --- database and data ---------------------------------------------------------------------

async def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    app = await open_app(settings)
    await app.close()
    print("database is up to date")
    return 0


def _progress_printer() -> tuple[Callable[[str, int], None], Callable[[], None]]:
    """A rich progress display for long imports; silent when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return (lambda label, done: None), (lambda: None)
    from rich.progress import Progress, SpinnerColumn, TextColumn

    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:,} rows"),
                        transient=True)
    tasks: dict[str, Any] = {}
    progress.start()

    def update(label: str, done: int) -> None:
        if label not in tasks:
            tasks[label] = progress.add_task(label, total=None)
        progress.update(tasks[label], completed=done)

    return update, progress.stop


def _report_import(result: Any) -> None:
    for table, counts in result.counts.items():
        print(f"{table}: {counts.inserted} inserted, {counts.updated} updated, {counts.unchanged} unchanged")


async def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from store.importer import ImportFailed, import_package

    path = Path(args.path)
    if not path.exists():
        raise CliError(f"{path}: no such file or folder")
    app = await open_app(settings)
    update, stop = _progress_printer()
    try:
        result = await import_package(app.db, path, zone=settings.zone, now=_now(), progress=update)
    except ImportFailed as failed:
        stop()
        raise CliError(*(str(e) for e in failed.errors)) from None
    finally:
        stop()
        await app.close()
    _report_import(result)
    return 0


async def cmd_demo_data(args: argparse.Namespace, settings: Settings) -> int:
    app = await open_app(settings)
    try:
        result = await load_demo(app)
    finally:
        await app.close()
    _report_import(result)
    return 0


async def cmd_synth(args: argparse.Namespace, settings: Settings) -> int:
    from store.synth import write_synthetic_package

    if args.projects < 1:
        raise CliError("--projects must be at least 1")
    counts = write_synthetic_package(Path(args.out), args.projects, seed=args.seed)
    for name, rows in counts.items():
        print(f"{name}: {rows} rows")
    return 0


# --- chat ----------------------------------------------------------------------------------

async def _console(app: App, args: argparse.Namespace) -> None:
    from bot.channels.console import ConsoleChat, act_as

    user_id = await act_as(app.sessions, args.as_)
    chat = ConsoleChat(app.engine(), app.sessions, user_id, locale=args.lang)
    await chat.run()


async def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    app = await open_app(settings)
    try:
        await _console(app, args)
    finally:
        await app.close()
    return 0


async def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    app = await open_app(settings)
    try:
        if await is_empty(app):
            print("loading the demo data (a fictional city, dates relative to today)…", file=sys.stderr)
            await load_demo(app)
        if args.web:
            await _demo_web(app, settings, args.port)
            return 0
        example = await demo_identity(app)
        print(
            "civicbot demo — type a button's [key] or label to press it, :as org:USCC | staff:MZ | resident to switch "
            f"identity (e.g. :as {example}), :quit to leave",
            file=sys.stderr,
        )
        channel = await _start_telegram(app, settings) if settings.telegram_token else None
        try:
            await _console(app, args)
        finally:
            if channel is not None:
                await channel.stop()
    finally:
        await app.close()
    return 0


async def _demo_web(app: App, settings: Settings, port: int) -> None:
    """The demo in a browser on this machine, with a link that makes that browser an organization member."""
    import signal

    from bot.channels.web.server import start_channel
    from store.invites import create_invite

    channel = await start_channel(app, settings.model_copy(update={"web_url": None}), f"127.0.0.1:{port}")
    assert channel.url is not None
    example = await demo_identity(app)
    role, _, ref = example.partition(":")
    async with app.sessions() as session, session.begin():
        code, _ = await create_invite(session, role, ref, _now(), settings.invite_ttl_days)
    print(f"civicbot demo — open {channel.url}/ in a browser (Ctrl+C stops)", file=sys.stderr)
    print(f"to try it as the organization {ref}: {channel.url}/b/{code}", file=sys.stderr)
    print(channel.url + "/")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await channel.stop()


async def _start_telegram(app: App, settings: Settings) -> Any:
    """The Telegram bot next to the demo console; the demo goes on without it if Telegram is unreachable."""
    from bot.channels.telegram import open_channel

    try:
        channel = await open_channel(app, settings)
    except Exception as exc:
        print(f"Telegram is not running: {exc}", file=sys.stderr)
        return None
    try:
        await channel.start()
    except Exception as exc:
        await channel.bot.session.close()
        print(f"Telegram is not running: {exc}", file=sys.stderr)
        return None
    print(f"Telegram: @{channel.username} is running too", file=sys.stderr)
    return channel


# --- invitations ---------------------------------------------------------------------------

async def _deep_link(settings: Settings, payload: str) -> str | None:
    from bot.channels.telegram import bot_username
    from dialogs.surveys.cards import deep_link

    return deep_link(await bot_username(settings), payload)


async def cmd_invite(args: argparse.Namespace, settings: Settings) -> int:
    from store.invites import active_invites, create_invite, revoke

    app = await open_app(settings)
    now = _now()
    try:
        async with app.sessions() as session, session.begin():
            if args.kind == "list":
                invites = await active_invites(session, now)
                rows = [
                    {"code": f"{i.code_prefix}…", "role": i.role, "ref": i.ref, "expires_at": i.expires_at.isoformat()}
                    for i in invites
                ]
                if args.json:
                    _print_json(rows)
                else:
                    for row in rows:
                        print(f"{row['code']}\t{row['role']}\t{row['ref']}\t{row['expires_at']}")
                return 0
            if args.kind == "revoke":
                found = await revoke(session, args.ref, now)
                if len(found) != 1:
                    reason = "no active invitation matches" if not found else "several invitations match; give the whole code"
                    raise CliError(f"{args.ref}: {reason}")
                print(f"revoked {found[0].code_prefix}… ({found[0].role} {found[0].ref})")
                return 0
            role = {"org": "org", "staff": "staff", "expert": "expert"}[args.kind]
            try:
                code, invite = await create_invite(session, role, args.ref, now, settings.invite_ttl_days)
            except LookupError as exc:
                raise CliError(str(exc)) from None
    finally:
        await app.close()
    link = await _deep_link(settings, code)
    web_link = f"{settings.web_url}/b/{code}" if settings.web_url else None
    if args.json:
        _print_json({"code": code, "link": link, "expires_at": invite.expires_at.isoformat(),
                     **({"web_link": web_link} if web_link else {})})
    else:
        print(code)
        for shown in (link, web_link):
            if shown:
                print(shown)
    return 0


# --- the service ---------------------------------------------------------------------------

async def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.telegram_token and not settings.web_listen and args.role != "scheduler":
        raise CliError("no channel is configured: set CIVICBOT_TELEGRAM_TOKEN and/or CIVICBOT_WEB_LISTEN "
                       "(or use `civicbot chat`)")
    if args.role == "worker" and not settings.telegram_token:
        raise CliError("--role worker sends Telegram's outbox: set CIVICBOT_TELEGRAM_TOKEN "
                       "(web chat notices are sent by the web process holding the page)")
    if args.role == "web" and settings.telegram_token and not settings.telegram_webhook_url:
        # Telegram serves getUpdates to one consumer per bot: web processes, which may be many, use the webhook
        raise CliError("--role web needs CIVICBOT_TELEGRAM_WEBHOOK_URL: polling is for one process (--role all)")
    import logging
    import signal

    from aiogram.exceptions import AiogramError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = await open_app(settings)
    await check_media(app.media)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    web = None
    heartbeat = None
    if settings.heartbeat_file is not None:
        from bot.health import beat

        heartbeat = asyncio.create_task(beat(settings.heartbeat_file, app.db), name="heartbeat")
    settling = asyncio.create_task(settle_heap(app)) if args.role != "scheduler" else None
    try:
        if settings.web_listen and args.role in ("all", "web"):
            from bot.channels.web.server import start_channel

            web = await start_channel(app, settings, settings.web_listen, settings.telegram_username)
            logging.getLogger("civicbot").info("web chat on %s (links: %s)", web.url, settings.web_url or web.url)
        if settings.telegram_token:
            from bot.channels.telegram import serve

            await serve(app, settings, stop, role=args.role)
        elif args.role in ("all", "scheduler"):
            await _scheduler_until(app, stop)
        else:
            await stop.wait()
    except AiogramError as exc:
        raise CliError(f"Telegram ({settings.telegram_api_url}): {exc}") from None
    finally:
        if heartbeat is not None:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if settling is not None:
            settling.cancel()
        if web is not None:
            await web.stop()
        await app.close()
    return 0


async def cmd_health(args: argparse.Namespace, settings: Settings) -> int:
    from bot.health import stale

    if settings.heartbeat_file is None:
        raise CliError("civicbot health reads the heartbeat of `civicbot run`: set CIVICBOT_HEARTBEAT_FILE")
    reason = stale(settings.heartbeat_file, args.max_age)
    if reason is not None:
        raise CliError(reason)
    return 0


async def _scheduler_until(app: App, stop: asyncio.Event) -> None:
    """Without Telegram: the rules still run (web notices are pushed by the web channel itself)."""
    from bot.scheduler import Ticker, start_scheduler, stop_scheduler

    ticker = Ticker(app)
    ticking = start_scheduler(ticker)
    try:
        await stop.wait()
    finally:
        await stop_scheduler(ticking, ticker)


# --- parser --------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="civicbot",
        description="civicbot — chat front end for government purchase of services (政府购买服务).",
        epilog="Settings come from CIVICBOT_* environment variables or a .env file (see README).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def chat_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--as", dest="as_", default="resident", metavar="ROLE",
                       help="resident (default), org:USCC, staff:DEPT_CODE or expert:CODE")
        p.add_argument("--lang", choices=["zh-Hans", "zh-Hant", "en"], default=None)

    p = sub.add_parser("demo", help="local SQLite database with demo data, then a chat in this terminal")
    chat_options(p)
    p.add_argument("--web", action="store_true", help="serve the chat in a browser on 127.0.0.1 instead")
    p.add_argument("--port", type=int, default=8080, help="port of --web (default 8080; 0: any free port)")
    p.set_defaults(handler=cmd_demo)

    p = sub.add_parser("chat", help="a terminal chat against the configured database")
    chat_options(p)
    p.set_defaults(handler=cmd_chat)

    p = sub.add_parser("run", help="the service: channels, scheduler and outbox dispatcher")
    p.add_argument("--role", choices=["all", "web", "worker", "scheduler"], default="all",
                   help="web: receive updates; worker: dispatch the outbox; scheduler: evaluate the rules "
                        "(one at a time across processes); all (default): the three in this process")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("health", help="exit 0 if this container's `civicbot run` beat lately "
                                      "(CIVICBOT_HEARTBEAT_FILE), else 1 with the reason")
    p.add_argument("--max-age", type=float, default=STALE_SECONDS, metavar="SECONDS",
                   help=f"how old the heartbeat may be (default {STALE_SECONDS:.0f}; it beats every {BEAT_SECONDS:.0f} s)")
    p.set_defaults(handler=cmd_health)

    p = sub.add_parser("db", help="database maintenance")
    db_sub = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply migrations").set_defaults(handler=cmd_db_upgrade)

    p = sub.add_parser("import", help="load a data package (folder of CSV files or an .xlsx workbook)")
    p.add_argument("path")
    p.set_defaults(handler=cmd_import)

    sub.add_parser("demo-data", help="load the bundled demo package").set_defaults(handler=cmd_demo_data)

    p = sub.add_parser("synth", help="write a synthetic data package for benchmarks")
    p.add_argument("--projects", type=int, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("out")
    p.set_defaults(handler=cmd_synth)

    p = sub.add_parser("invite", help="single-use binding codes: org USCC | staff DEPT | expert CODE | list | revoke CODE")
    p.add_argument("kind", choices=["org", "staff", "expert", "list", "revoke"])
    p.add_argument("ref", nargs="?", help="USCC, department code, expert code, or the code to revoke")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_invite)
    add_reminders_parser(sub)
    add_needs_parser(sub)
    add_survey_parser(sub)
    add_review_parser(sub)
    add_nlu_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "kind", None) in ("org", "staff", "expert", "revoke") and not args.ref:
        parser.error(f"invite {args.kind} needs an argument")
    try:
        settings = load_settings()
    except ValidationError as exc:
        for error in exc.errors():
            name = "CIVICBOT_" + "_".join(str(p) for p in error["loc"]).upper()
            print(f"configuration error: {name}: {error['msg']}", file=sys.stderr)
        return 2
    use_data_folders(settings)
    try:
        code: int = asyncio.run(args.handler(args, settings))
        return code
    except CliError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
