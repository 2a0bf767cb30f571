"""The engine's ``understand(text)``: the bundled NLU model recognizing the names in the database.

The model is loaded (or trained, once, into the NLU cache) on first use; the gazetteer of project,
organization, category, district and department names is read from the database and rebuilt when a
cheap fingerprint of those tables changes, checked at most every ``check_every`` seconds.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pypinyin import lazy_pinyin
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.context import SHANGHAI
from dialogs.questions import refine_intent
from nlu.entities import Gazetteer
from nlu.parser import NluParser, load_default_parser
from store import public
from store.public import Names

log = logging.getLogger(__name__)

CHECK_EVERY = 30.0  # seconds between fingerprint checks
PARSES_KEPT = 2048  # parses of the texts seen last, by text and day, while the model and names stay the same


_PLACE_SUFFIXES = {"区": "district", "县": "county", "市": "city", "镇": "town", "新区": "new district"}


def romanized_names(name: str) -> list[str]:
    """How an English speaker writes a Chinese place name: 临湖区 -> linhu, linhu district, linhuqu."""
    suffix = next((s for s in sorted(_PLACE_SUFFIXES, key=len, reverse=True) if name.endswith(s)), "")
    base = name[: len(name) - len(suffix)] if suffix and len(name) > len(suffix) else name
    syllables = "".join(lazy_pinyin(base))
    if not syllables.isascii() or not syllables.isalpha():
        return []
    aliases = [syllables, "".join(lazy_pinyin(name))]
    if suffix:
        aliases.append(f"{syllables} {_PLACE_SUFFIXES[suffix]}")
    return list(dict.fromkeys(aliases))


def gazetteer_of(names: Names) -> Gazetteer:
    """The NLU gazetteer of the database's public names. Level-1 categories come first and are valued by
    their Chinese name, so category words (养老, elderly care) resolve to the whole class before an item.
    Districts are also known by their romanized names (Linhu, Linhu District)."""
    categories: list[tuple[str, ...]] = [(zh, zh, *(en for en in [en] if en)) for zh, en in names.level1]
    categories += [(code, zh, *(en for en in [en] if en)) for code, zh, en in names.catalog]
    aliases = {alias: district for district in names.districts for alias in romanized_names(district)}
    return Gazetteer(
        projects=list(names.projects),
        organizations=list(names.organizations),
        categories=categories,
        districts=list(names.districts),
        departments=list(names.departments),
        synonyms=aliases,
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Understanding:
    """Callable as the engine's ``Understand``; also ``suggest`` for "did you mean…" and ``refresh``."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        zone: ZoneInfo = SHANGHAI,
        parser: NluParser | None = None,
        data_path: Path | str | None = None,
        cache_dir: Path | str | None = None,
        check_every: float = CHECK_EVERY,
        clock: Callable[[], datetime] = _utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.zone = zone
        self.data_path = data_path
        self.cache_dir = cache_dir
        self.check_every = check_every
        self.clock = clock
        self.monotonic = monotonic
        self._base = parser  # the model without database names
        self._parser: NluParser | None = None  # the model with them
        self._fingerprint: tuple[int, ...] | None = None
        self._checked_at: float | None = None
        self._model_lock = threading.Lock()
        self._refreshing: asyncio.Task[bool] | None = None
        self._warming: asyncio.Task[bool] | None = None
        self._parses: dict[tuple[str, date], dict[str, Any]] = {}
        self._parses_of: NluParser | None = None

    # -- the model ---------------------------------------------------------------------------
    def base(self) -> NluParser:
        """The trained model (loaded from the cache, or trained there on the very first run)."""
        if self._base is None:
            with self._model_lock:
                if self._base is None:
                    started = time.perf_counter()
                    self._base = load_default_parser(self.data_path, self.cache_dir)
                    log.info("NLU model ready in %.1f s", time.perf_counter() - started)
        return self._base

    @property
    def parser(self) -> NluParser:
        return self._parser or self.base()

    def __call__(self, text: str) -> dict[str, Any]:
        """The parse of ``text``: made once per text and day while the model and names stay the same.

        Why kept (a fast path): a parse is a pure function of those, and the costliest part of a question's
        turn (1–5 ms, most of it on the event loop every turn waits for); the same texts come again — the
        examples printed on cards, a menu label typed, "谢谢". Each caller gets its own copy."""
        parser = self.parser
        self._schedule_check()
        if self._parses_of is not parser:  # names reloaded (or the model came): parses made before go
            self._parses.clear()
            self._parses_of = parser
        key = (text, self.clock().astimezone(self.zone).date())
        parse = self._parses.pop(key, None)
        if parse is None:
            parse = refine_intent(parser.parse(text, key[1]), parser.extractor.suggest)
            if len(self._parses) >= PARSES_KEPT:
                del self._parses[next(iter(self._parses))]  # the one used longest ago
        self._parses[key] = parse
        return copy.deepcopy(parse)

    def suggest(self, kind: str, text: str, limit: int = 5) -> list[tuple[str, str, float]]:
        """(value, label, score) of the names of ``kind`` resembling ``text``, best first."""
        return self.parser.extractor.suggest(kind, text, limit)

    # -- the names ---------------------------------------------------------------------------
    async def prepare(self) -> None:
        """Load the model (in a thread: training takes seconds) and the names, before the first question."""
        await asyncio.to_thread(self.base)
        await self.refresh()

    def warm_up(self) -> None:
        """Start ``prepare`` in the background when an event loop runs, so startup does not wait for it."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._refreshing is None:
            self._refreshing = self._warming = loop.create_task(self._prepared())
            self._refreshing.add_done_callback(_log_failure)

    async def ready(self) -> None:
        """Until ``warm_up``'s work is done (started now if it was not, unless a question loaded the model)."""
        self.warm_up()
        if self._warming is not None:
            await asyncio.shield(self._warming)

    async def _prepared(self) -> bool:
        await self.prepare()
        return True

    async def with_names(self, parse: dict[str, Any], session: AsyncSession) -> dict[str, Any]:
        """``parse`` made again with the database's names if they were not loaded yet when it was made (a
        question right after startup). Reads them in the caller's session: a turn holds SQLite's write lock,
        so a session of our own would wait for the turn that waits for it."""
        if self._parser is not None:
            return parse
        await self.refresh(session=session)
        return self(str(parse.get("text") or ""))

    async def refresh(self, *, force: bool = False, session: AsyncSession | None = None) -> bool:
        """Reload the names when the data changed since the last load (always with ``force``), in
        ``session`` or a session of its own; returns whether the gazetteer was rebuilt."""
        self._checked_at = self.monotonic()
        if session is None:
            async with self.sessions() as own:
                return await self._reload(own, force)
        return await self._reload(session, force)

    async def _reload(self, session: AsyncSession, force: bool) -> bool:
        fingerprint = await public.names_fingerprint(session)
        if not force and fingerprint == self._fingerprint and self._parser is not None:
            return False
        names = await public.names(session)
        base = await asyncio.to_thread(self.base)
        # Indexing 100,000 titles takes a moment: off the event loop.
        self._parser = await asyncio.to_thread(base.with_gazetteer, gazetteer_of(names))
        self._fingerprint = fingerprint
        return True

    def _schedule_check(self) -> None:
        """Check the fingerprint in the background when it is due; the answer in hand does not wait."""
        due = self._checked_at is None or self.monotonic() - self._checked_at >= self.check_every
        if not due or (self._refreshing is not None and not self._refreshing.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._checked_at = self.monotonic()
        self._refreshing = loop.create_task(self.refresh())
        self._refreshing.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task[bool]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("reloading the NLU names failed: %s", task.exception())
