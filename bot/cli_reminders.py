"""``civicbot reminders run-once`` and ``civicbot outbox``: one evaluation + dispatch for cron and tests,
and the queue of messages with their states and reasons."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from bot.app import open_app
from bot.config import Settings
from bot.reminders import run_once
from bot.sending import configured_sender
from store import outbox
from store.db import reading
from store.models import OUTBOX_STATES

DEFAULT_STATES = ("pending", "sending", "failed", "dead")


def iso_datetime(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO date and time such as 2026-06-01T09:00 or 2026-06-01T09:00+08:00, got {value!r}"
        ) from None


def add_parser(sub: Any) -> None:
    p = sub.add_parser("reminders", help="reminder rules and the outbox")
    actions = p.add_subparsers(dest="reminders_command", required=True, metavar="ACTION")
    once = actions.add_parser(
        "run-once", help="evaluate every rule (reminders, overdue alerts, digests) and dispatch the outbox once",
    )
    once.add_argument("--now", type=iso_datetime, default=None, metavar="ISO_DATETIME",
                      help="judge everything as of this moment (without an offset: in CIVICBOT_TIMEZONE)")
    once.add_argument("--json", action="store_true")
    once.set_defaults(handler=cmd_run_once)

    p = sub.add_parser("outbox", help="messages waiting, failed or dead, with the reasons")
    p.add_argument("--state", action="append", choices=OUTBOX_STATES, metavar="STATE",
                   help=f"only this state (repeatable); default: {', '.join(DEFAULT_STATES)}")
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_outbox)


def _as_of(value: datetime | None, settings: Settings) -> datetime:
    if value is None:
        return datetime.now(UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=settings.zone)
    return value.astimezone(UTC)


async def cmd_run_once(args: argparse.Namespace, settings: Settings) -> int:
    now = _as_of(args.now, settings)
    app = await open_app(settings)
    try:
        async with configured_sender(settings) as sender:
            result = await run_once(app, sender, now)
    finally:
        await app.close()
    if not result.evaluated:
        print("another process holds the evaluator lock: rules were not evaluated this time", file=sys.stderr)
    counts = result.as_json()
    if args.json:
        print(json.dumps(counts, ensure_ascii=False))
    else:
        print(", ".join(f"{k} {counts[k]}" for k in ("queued", "sent", "deferred", "failed", "dead", "pending")))
    if sender is None and result.dispatch.pending:
        print(f"no channel is configured: {result.dispatch.pending} message(s) stay pending", file=sys.stderr)
    return 0


def _local(moment: datetime | None, settings: Settings) -> str | None:
    return moment.astimezone(settings.zone).isoformat() if moment is not None else None


def _claim_reason(message: outbox.Listed, settings: Settings, now: datetime) -> str:
    """Why a row is ``sending``: who claimed it when, and until when the claim holds."""
    who = message.claimed_by or "an earlier version (before claims were recorded)"
    since = _local(message.claimed_at, settings) or "?"
    until = message.lease_until or message.next_attempt_at
    reason = f"being sent by {who} since {since}; lease until {_local(until, settings)}"
    if until <= now:
        reason += " (ran out: the claimer is gone, retried at the next dispatch)"
    return reason


def _row(message: outbox.Listed, settings: Settings, now: datetime) -> dict[str, Any]:
    sending = message.state == "sending"
    return {
        "id": message.id, "state": message.state, "kind": message.kind, "message": message.key,
        "identity_id": message.identity_id, "role": message.role, "channel": message.channel,
        "attempts": message.attempts,
        "next_attempt_at": _local(message.next_attempt_at, settings),
        "created_at": _local(message.created_at, settings),
        "sent_at": _local(message.sent_at, settings),
        "claimed_by": message.claimed_by if sending else None,
        "claimed_at": _local(message.claimed_at, settings) if sending else None,
        "lease_until": _local(message.lease_until, settings) if sending else None,
        "reason": _claim_reason(message, settings, now) if sending else message.last_error,
    }


async def cmd_outbox(args: argparse.Namespace, settings: Settings) -> int:
    states = tuple(args.state or DEFAULT_STATES)
    app = await open_app(settings)
    try:
        async with reading(app.sessions) as session:  # reads only: no write lock
            totals = await outbox.counts(session)
            listed, total = await outbox.list_messages(session, states, limit=max(1, args.limit))
    finally:
        await app.close()
    now = datetime.now(UTC)
    rows = [_row(m, settings, now) for m in listed]
    if args.json:
        print(json.dumps({"counts": {s: totals.get(s, 0) for s in OUTBOX_STATES}, "total": total, "messages": rows},
                         ensure_ascii=False))
        return 0
    print("  ".join(f"{s} {totals.get(s, 0)}" for s in OUTBOX_STATES))
    for row in rows:
        when = row["sent_at"] or row["claimed_at"] or row["next_attempt_at"]
        reason = f"\t{row['reason']}" if row["reason"] else ""
        print(f"#{row['id']}\t{row['state']}\t{row['kind']}\tto identity {row['identity_id']} ({row['role']}, "
              f"{row['channel']})\tattempts {row['attempts']}\t{when}{reason}")
    if total > len(rows):
        print(f"… {total - len(rows)} more (use --limit)")
    return 0
