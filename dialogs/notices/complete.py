"""Completing notices when they are sent: what is read then is filled in, and a notice gone stale is dropped.

A notice ``about`` a milestone (``AboutMilestone``) gets the project's code and title and the
milestone's name as they stand now, and a button opening the project — or is stale (None) if the
milestone was done, re-dated or removed since it was queued; a digest (``AboutDigest``) gets its
department's figures as of now. One read of the milestones and one digest pass per batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from dialogs.flow import run_button
from dialogs.notices import bilingual
from dialogs.notices.digest import DigestPass, project_button
from store.notices import AboutDigest, AboutMilestone, Notice, Text
from store.reminders import MilestoneSubject, milestone_subjects


async def complete_notices(
    session: AsyncSession, notices: Sequence[Notice], zone: ZoneInfo, now: datetime
) -> list[Notice | None]:
    """The notices of messages about to be sent at ``now``, ready for ``render_notice`` — or None for one
    gone stale. Notices about nothing are returned as they are."""
    subjects = await milestone_subjects(session, {
        n.about.milestone for n in notices if isinstance(n.about, AboutMilestone) and n.about.milestone is not None
    })
    digests = DigestPass(n.about for n in notices if isinstance(n.about, AboutDigest))
    await digests.read(session, now)
    completed: list[Notice | None] = []
    for notice in notices:
        about = notice.about
        if isinstance(about, AboutMilestone):
            subject = subjects.get(about.milestone) if about.milestone is not None else None
            if (subject is None or subject.done_at is not None
                    or subject.due_at.astimezone(zone).date() != about.due):
                completed.append(None)
                continue
            if about.open is not None:
                notice = _about_milestone(notice, about, subject)
        elif isinstance(about, AboutDigest):
            notice = dataclasses.replace(digests.body(about, zone), kind=notice.kind)
        completed.append(notice)
    return completed


def _about_milestone(notice: Notice, about: AboutMilestone, m: MilestoneSubject) -> Notice:
    values = {"code": m.project_code, "title": bilingual(m.title_zh, m.title_en),
              "milestone": Text(f"lifecycle.milestone.{m.kind}"), **notice.values}
    # an organization's member opens their project's status, staff its public record
    opens = run_button("status", f"p{m.project_id}") if about.open == "status" else project_button(m.project_code)
    return dataclasses.replace(notice, values=values,
                               buttons=(*notice.buttons, (("remind.open_project", opens),)))
