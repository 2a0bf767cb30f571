"""The project a one-project answer is about, and the buttons to its other answers."""

from __future__ import annotations

from dialogs.context import Context
from dialogs.flows.query.reading import ask_project, back, run
from dialogs.questions import Question
from dialogs.types import Button
from store import public


async def find(ctx: Context, q: Question) -> public.ProjectRecord | None:
    """The project ``q`` names, or None having said it was not found and asked which one."""
    assert q.project is not None
    record = await public.project_record(ctx.session, q.project)
    if record is None:
        ctx.tell("query.not_found_project", name=q.project)
        await ask_project(ctx)
    return record


def project_buttons(ctx: Context, record: public.ProjectRecord, current: str) -> list[list[Button]]:
    entries = (("query_projects", "record"), ("query_funding", "funding"), ("query_progress", "progress"),
               ("query_satisfaction", "satisfaction"), ("query_evaluation", "evaluation"),
               ("query_deadline", "deadline"))
    buttons = [Button(ctx.t(f"query.button.{key}"), run(Question(intent, project=record.code)))
               for intent, key in entries if intent != current]
    return [buttons[i:i + 3] for i in range(0, len(buttons), 3)] + [[back(ctx)]]
