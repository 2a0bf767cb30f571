"""The liveness of a ``civicbot run`` process that serves no HTTP (``--role worker`` / ``scheduler``): while its
event loop runs and its database answers, it touches ``CIVICBOT_HEARTBEAT_FILE`` every few seconds;
``civicbot health`` says whether the file is fresh, and so does ``python -m bot.health``, the same check without
loading the rest of civicbot (a container's health check runs every few seconds: it must cost little)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

BEAT_SECONDS = 10.0
STALE_SECONDS = 45.0  # a heartbeat older than this: the process is stuck or cannot reach its database


async def beat(path: Path, db: AsyncEngine, *, every: float = BEAT_SECONDS) -> None:
    """Touch ``path`` every ``every`` seconds while ``db`` answers (until cancelled; then the file is removed:
    a process stopping is no longer healthy)."""
    from sqlalchemy import text

    try:
        while True:
            try:
                async with db.connect() as conn:
                    await asyncio.wait_for(conn.execute(text("SELECT 1")), every)
                path.write_text(f"{time.time():.0f}\n", encoding="ascii")
            except Exception as exc:  # not healthy this time: the file grows stale
                log.warning("heartbeat skipped: %s", exc)
            await asyncio.sleep(every)
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


def stale(path: Path, max_age: float = STALE_SECONDS, now: float | None = None) -> str | None:
    """Why the process beating ``path`` is not healthy, or None when it is."""
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return f"no heartbeat at {path} (the process is starting, stopped, or never reached its database)"
    if age > max_age:
        return f"the heartbeat at {path} is {age:.0f} s old (more than {max_age:.0f} s)"
    return None


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.health [MAX_AGE]``: exit 0 when the heartbeat of ``CIVICBOT_HEARTBEAT_FILE`` is fresh,
    else 1 with the reason on stderr."""
    from bot.config import load_settings

    args = sys.argv[1:] if argv is None else argv
    path = load_settings().heartbeat_file
    if path is None:
        print("the health check reads the heartbeat of `civicbot run`: set CIVICBOT_HEARTBEAT_FILE", file=sys.stderr)
        return 1
    reason = stale(path, float(args[0]) if args else STALE_SECONDS)
    if reason is not None:
        print(reason, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
