"""The query flow: a public question, typed or pressed, becomes a ``Question`` and the answer for its intent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from dialogs.context import Context, Parse
from dialogs.flow import Flow
from dialogs.flows.query import reading
from dialogs.flows.query.budget import budget
from dialogs.flows.query.catalog import catalog
from dialogs.flows.query.deadline import deadline
from dialogs.flows.query.evaluation import evaluation
from dialogs.flows.query.faq import faq, take_survey
from dialogs.flows.query.funding import funding
from dialogs.flows.query.menus import menu, pick_category, pick_district, pick_year
from dialogs.flows.query.organizations import organizations
from dialogs.flows.query.progress import progress
from dialogs.flows.query.projects import projects
from dialogs.flows.query.satisfaction import satisfaction
from dialogs.questions import (
    MENU,
    MENU_CATEGORY,
    MENU_DISTRICT,
    MENU_YEAR,
    PROJECT_INTENTS,
    QUERY_INTENTS,
    Question,
    decode,
    encode,
)
from dialogs.types import Incoming

ANSWERS: dict[str, Callable[[Context, Question], Awaitable[None]]] = {
    MENU: menu, MENU_DISTRICT: pick_district, MENU_CATEGORY: pick_category, MENU_YEAR: pick_year,
    "query_catalog": catalog, "query_organizations": organizations, "query_budget": budget,
    "query_projects": projects, "query_funding": funding, "query_progress": progress,
    "query_satisfaction": satisfaction, "query_evaluation": evaluation, "query_deadline": deadline,
    "faq_process": faq, "faq_eligibility": faq, "take_survey": take_survey,
}


class QueryFlow(Flow):
    name = reading.NAME
    commands = ("info",)
    intents = QUERY_INTENTS
    menu_key = "query.menu"
    menu_order = 5

    async def start(self, ctx: Context, payload: str | None, parse: Parse | None = None) -> None:
        question: Question | None
        if payload:
            question = decode(payload)
        elif parse is not None:
            if ctx.understand is not None:
                parse = await ctx.understand.with_names(parse, ctx.session)
            question = await reading.read(ctx, parse)
            if question is None:  # replied otherwise: "did you mean…", a place not in the data…
                ctx.state.clear()
                return
        else:
            question = None
        ctx.state.clear()
        await self.answer(ctx, question or Question())

    async def handle(self, ctx: Context, msg: Incoming) -> None:
        # The flow ends with every answer; a message reaching it is a new question.
        parse = ctx.understand(msg.text) if msg.text and ctx.understand else None
        await self.start(ctx, None, parse)

    async def answer(self, ctx: Context, q: Question) -> None:
        await ANSWERS[q.intent](ctx, q)
        if q.intent in PROJECT_INTENTS or q.intent in ("query_organizations", "query_budget", "query_catalog"):
            ctx.state.topic = encode(replace(q, page=0))
