"""Random conversations against every registered flow: nothing escapes, every message is answered, state stays sane.

Hypothesis plays scripts for a resident, an organization member and a staff member: random text
(emoji, control characters, 5000+ characters), numbers, photos, every command with random payloads,
buttons seen earlier, buttons of other flows and steps, and garbage button data. SQLite only.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from dialogs import i18n
from dialogs.context import DialogSettings, PlainUnderstand
from dialogs.engine import GLOBAL_COMMANDS, Engine
from dialogs.forms import Form
from dialogs.registry import all_flows, build_engine
from dialogs.types import Incoming, Media
from store import models as m
from store.db import create_engine, sessionmaker
from testing.factories import NOW, World, bind_identity, build_world
from tests.dialogs.test_flows_org_staff import add_application

COMMANDS = sorted({c for f in all_flows() for c in f.commands} | set(GLOBAL_COMMANDS))
FLOW_NAMES = [*sorted(f.name for f in all_flows()), "g", "nope", ""]
FORM_STEPS = {field.name for flow in all_flows() if isinstance(flow, Form) for field in flow.fields}
STEPS = sorted(FORM_STEPS | {
    "list", "open", "withdraw", "confirm", "act", "feed", "summary", "run", "menu", "lang", "cancel", "",
})
VALUES = [
    "", "0", "1", "2", "yes", "no", "a1", "a2", "p1", "p2", "1.eligible", "2.approve", "1.reject", "3.review",
    "~skip", "~leave", "~example", "~done", "submit", "edit.text", "edit.reason", "edit.nonexistent", "-1",
    "9" * 30, "a" + "9" * 30, "status:a1", "apply", "zh-Hant", "en", "xx", "p", "a", "1.", ".approve",
]
INTENTS = ["greet", "thanks", "goodbye", "help", "cancel", "out_of_scope", "apply", "check_status", "faq_process"]
ERROR_TEXTS = {i18n.t(locale, "common.error") for locale in i18n.LOCALES}
LOCALES = [None, "zh-Hans", "zh-hant", "en", "fr"]

_ids = itertools.count(1)

emoji = st.sampled_from(["😀", "👍🏽", "🇨🇳", "👨‍👩‍👧", "\u200d", "\ufe0f", "🔥" * 10])
texts = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(st.text(max_size=5), emoji), max_size=8).map("".join),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x1F), max_size=20),
    st.integers(-(10**15), 10**15).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
    st.sampled_from(["35万", "三十五万元", "2027年1月1日至2027年12月31日", "是", "否", "1", "0", "明天", "", " ", "\n"]),
    st.tuples(st.sampled_from(["长", "x", "😀", "\u0000"]), st.integers(5000, 6000)).map(lambda t: t[0] * t[1]),
)
payloads = st.one_of(st.none(), st.text(max_size=30), st.sampled_from(["a1", "p1", "a999999999", "p-1", "a" + "9" * 40]))
commands = st.tuples(st.sampled_from(COMMANDS), payloads)
foreign_buttons = st.builds(
    lambda flow, step, value: f"{flow}:{step}:{value}",
    st.sampled_from(FLOW_NAMES), st.sampled_from(STEPS), st.sampled_from(VALUES),
)
press_last = st.tuples(st.just("last"), st.integers(0, 10_000))
steps = st.one_of(
    *[press_last] * 6,  # following the buttons just shown is what gets deep into flows
    st.tuples(st.just("text"), texts),
    st.tuples(st.just("command"), commands),
    st.tuples(st.just("seen"), st.integers(0, 10_000)),
    st.tuples(st.just("button"), foreign_buttons),
    st.tuples(st.just("button"), st.text(max_size=80)),
    st.tuples(st.just("photo"), st.sampled_from(["media/a.jpg", "media/b.pdf"])),
)
# a few turns in a row by one person, then maybe someone else: deep enough to reach late steps
turns = st.tuples(st.sampled_from(("resident", "org", "org", "staff", "staff")), st.sampled_from(LOCALES), st.lists(steps, min_size=1, max_size=10))


def understand(text: str) -> dict[str, Any]:
    """A stand-in classifier that reaches every intent, chosen by the text's length."""
    return {"text": text, "intent": {"name": INTENTS[len(text) % len(INTENTS)], "confidence": 0.9}, "entities": []}


@dataclass
class Playground:
    sessions: async_sessionmaker[AsyncSession]
    engine: Engine
    world: World
    seen: list[str] = field(default_factory=list)
    last: dict[str, list[str]] = field(default_factory=dict)

    async def people(self) -> dict[str, str]:
        """Fresh identities for one script: a resident, a member of an organization, staff of its department."""
        n = next(_ids)
        async with self.sessions() as s, s.begin():
            await bind_identity(s, "fuzz", f"o{n}", "org", self.world.org.id)
            await bind_identity(s, "fuzz", f"s{n}", "staff", self.world.dept.id)
        return {"resident": f"r{n}", "org": f"o{n}", "staff": f"s{n}"}

    def incoming(self, user: str, locale: str | None, kind: str, data: Any) -> Incoming:
        msg_id = f"f{next(_ids)}"
        if kind == "text":
            return Incoming("fuzz", user, msg_id, locale=locale, text=data)
        if kind == "command":
            command, payload = data
            return Incoming("fuzz", user, msg_id, locale=locale, command=command, payload=payload)
        if kind in ("seen", "last"):
            pool = self.seen if kind == "seen" else self.last.get(user, [])
            button = pool[data % len(pool)] if pool else "g:menu"
            return Incoming("fuzz", user, msg_id, locale=locale, button=button)
        if kind == "button":
            return Incoming("fuzz", user, msg_id, locale=locale, button=data)
        return Incoming("fuzz", user, msg_id, locale=locale, text=None, media=Media("photo", data, "x.jpg"))

    async def play(self, script: list[tuple[str, str | None, list[tuple[str, Any]]]]) -> None:
        users = await self.people()
        for who, locale, (kind, data) in ((w, loc, step) for w, loc, run in script for step in run):
            incoming = self.incoming(users[who], locale, kind, data)
            replies = await self.engine.handle(incoming)
            assert replies, incoming
            for reply in replies:
                assert reply.text not in ERROR_TEXTS, incoming
                assert reply.text.strip()
            shown = [b.data for reply in replies for row in reply.buttons for b in row if b.data]
            self.last[users[who]] = shown
            self.seen.extend(shown)
            await self.check_state(users[who])
        del self.seen[:-500]

    async def check_state(self, user: str) -> None:
        async with self.sessions() as s:
            row = (
                await s.execute(
                    select(m.Conversation.flow, m.Conversation.slots)
                    .join(m.Identity, m.Identity.id == m.Conversation.identity_id)
                    .where(m.Identity.channel == "fuzz", m.Identity.external_id == user)
                )
            ).one()
        flow, slots = row
        assert flow is None or flow in self.engine.flows, flow
        assert isinstance(slots, dict)
        assert json.loads(json.dumps(slots)) == slots


async def _setup(url: str) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession], World]:
    db = create_engine(url)
    sessions = sessionmaker(db)
    async with sessions() as s, s.begin():
        world = await build_world(s)
        await add_application(s, world, world.org, title="阳光长者探访")
        await add_application(s, world, world.org, title="阳光社区营造", status="under_review")
        await add_application(s, world, world.org2, title="彩虹青少年成长", status="eligible")
        s.add(m.Milestone(project_id=world.project.id, kind="midterm_report", due_at=NOW + timedelta(days=5)))
    return db, sessions, world


def test_random_conversations_never_break_the_engine(sqlite_url: str) -> None:
    loop = asyncio.new_event_loop()
    try:
        db, sessions, world = loop.run_until_complete(_setup(sqlite_url))
        engine = build_engine(sessions, DialogSettings(), understand=PlainUnderstand(understand), clock=lambda: NOW)
        ground = Playground(sessions, engine, world)

        @settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(script=st.lists(turns, min_size=1, max_size=6))
        def run(script: list[tuple[str, str | None, list[tuple[str, Any]]]]) -> None:
            loop.run_until_complete(ground.play(script))

        run()
        loop.run_until_complete(db.dispose())
    finally:
        loop.close()
