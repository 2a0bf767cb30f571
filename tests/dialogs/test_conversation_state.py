"""The typed conversation state: its versioned JSON, rows saved before it was typed, and what the row keeps."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.context import DialogSettings, Parse, PlainUnderstand
from dialogs.registry import build_engine
from dialogs.state import VERSION, FormState, State
from store import models as m
from testing.chat import Person
from testing.factories import NOW, World, bind_identity, build_world

PHONE = "13800138000"

# slots as the engine saved them before the state was typed (version 1: one flat dict, no "v")
V1_SLOTS: dict[str, Any] = {
    "application": 7,
    "values": {"call": "3", "item": "12", "title": "阳光助老"},
    "fails": 1,
    "picked": ["a", "b"],
    "editing": True,
    "~leave_offered": True,
    "nlu": {"text": f"我要申请，电话{PHONE}", "intent": {"name": "apply", "confidence": 0.9}, "entities": []},
    "page": 2,
    "topic": "query_projects;d=南山区",
}


def test_a_state_round_trips_through_versioned_json() -> None:
    state = State("tickets", "note", form=FormState({"a": 1}, fails=2, picked=["x"], editing=True),
                  leave_offered=True, id=5, page=0, mine=True, target="resolved", plan={"stage": "approval"},
                  topic="query_budget")
    data = state.to_json()
    assert data["v"] == VERSION and "flow" not in data and "step" not in data
    assert json.loads(json.dumps(data)) == data
    assert State.from_json("tickets", "note", data) == state


def test_an_empty_state_is_kept_as_an_empty_object() -> None:
    assert State().to_json() == {} == State("menu", "x").to_json()
    state = State("survey", "q1", invitation=3)
    state.clear()
    assert state == State() and state.to_json() == {}
    assert State.from_json(None, None, {}) == State() == State.from_json(None, None, None)


def test_reset_keeps_the_flow_and_nothing_else() -> None:
    state = State("tickets", "ticket", id=4, page=2, mine=True, topic="t")
    state.reset("list")
    assert state == State("tickets", "list")
    state.reset("call", flow="committee")
    assert state == State("committee", "call")


def test_a_row_saved_before_the_state_was_typed_loads_into_it() -> None:
    """Version 1 rows (today's flat slots): the form's keys move under ``form``, the leave offer keeps its
    meaning, the NLU parse (with the raw text of the message) is dropped, unknown or ill-typed keys too."""
    state = State.from_json("apply", "need", {**V1_SLOTS, "whatever": 1, "id": "not a number", "mine": "yes"})
    assert state == State(
        "apply", "need", form=FormState({"call": "3", "item": "12", "title": "阳光助老"}, fails=1,
                                        picked=["a", "b"], editing=True),
        leave_offered=True, application=7, page=2, topic="query_projects;d=南山区",
    )
    assert PHONE not in json.dumps(state.to_json())
    assert State.from_json("survey", "q", {"invitation": 3, "template": "t", "values": {}}) == State(
        "survey", "q", invitation=3, template="t")


def test_a_state_written_by_a_newer_release_starts_afresh() -> None:
    assert State.from_json("tickets", "list", {"v": VERSION + 1, "page": 3}) == State("tickets", "list")


# -- through the engine ---------------------------------------------------------------------------


@pytest.fixture
async def world(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[World]:
    async with sessions() as s, s.begin():
        w = await build_world(s)
        await bind_identity(s, "test", "org1", "org", w.org.id)
    yield w


def wants_to_apply(text: str) -> Parse:
    return {"text": text, "intent": {"name": "apply", "confidence": 0.95}, "entities": []}


async def row(sessions: async_sessionmaker[AsyncSession], user: str = "org1") -> tuple[str | None, str | None, Any]:
    async with sessions() as s:
        found = (await s.execute(
            select(m.Conversation.flow, m.Conversation.step, m.Conversation.slots)
            .join(m.Identity, m.Identity.id == m.Conversation.identity_id).where(m.Identity.external_id == user))).one()
    return found.flow, found.step, found.slots


async def test_no_message_text_stays_in_the_conversation_row(sessions, world) -> None:  # type: ignore[no-untyped-def]
    """A sentence with a phone number in it opens the application form by its intent: neither the sentence
    nor the number is in the row after that turn, nor while the form goes on — a phone number typed where
    a choice is asked included."""
    bot = build_engine(sessions, DialogSettings(), understand=PlainUnderstand(wants_to_apply), clock=lambda: NOW)
    p = Person(bot, "org1")
    await p.say(f"我想申报项目，我的电话是{PHONE}")
    assert "阳光社工服务中心" in p.text  # the form opened
    flow, _, slots = await row(sessions)
    assert flow == "apply" and PHONE not in json.dumps(slots, ensure_ascii=False)
    assert "我想申报" not in json.dumps(slots, ensure_ascii=False)
    await p.say(f"电话{PHONE}")  # mid-form, where a call is to be chosen: not an option
    assert "⚠️" in p.text
    await p.press(world.call.title_zh)
    await p.press("居家养老服务")
    flow, step, slots = await row(sessions)
    assert (flow, step) == ("apply", "title")
    assert PHONE not in json.dumps(slots, ensure_ascii=False) and "nlu" not in json.dumps(slots)
    assert State.from_json(flow, step, slots).form.values["item"]


async def test_a_conversation_saved_in_the_old_shape_goes_on(sessions, world) -> None:  # type: ignore[no-untyped-def]
    """A form in progress saved by the previous release (flat slots, the NLU parse in them) continues where
    it was after the upgrade, and is written back in the current shape, without the parse."""
    bot = build_engine(sessions, DialogSettings(), clock=lambda: NOW)
    p = Person(bot, "org1")
    await p.say("/apply")
    await p.press(world.call.title_zh)
    await p.press("居家养老服务")
    flow, step, slots = await row(sessions)
    assert (flow, step) == ("apply", "title") and slots["v"] == VERSION
    form = slots.pop("form")
    slots.pop("v")
    old = {**slots, **form, "nlu": V1_SLOTS["nlu"], "fails": 1}  # as the previous release kept it
    async with sessions() as s, s.begin():
        await s.execute(update(m.Conversation).values(slots=old))
    await p.say("阳光助老·居家探访服务")
    assert "⚠️" not in p.text
    flow, step, slots = await row(sessions)
    assert (flow, step) == ("apply", "need")
    assert set(slots) <= {"v", "form", "application"} and slots["v"] == VERSION
    assert slots["form"]["values"]["title"] == "阳光助老·居家探访服务" and slots["form"]["values"]["item"]
    assert "fails" not in slots["form"] and PHONE not in json.dumps(slots, ensure_ascii=False)
