"""Survey invitations sent to chat identities through the outbox; the token leaves the outbox row once sent."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from dialogs.notices import bilingual, day, queue_notice
from dialogs.surveys.cards import deep_link
from store import surveys
from store.models import Identity, Project, Survey


async def send_invitations(
    session: AsyncSession, survey: Survey, project: Project, identities: list[Identity], now: datetime,
    zone: ZoneInfo, username: str | None,
) -> int:
    """One fresh single-use invitation per identity, queued; returns how many were queued."""
    issued = await surveys.create_invitations(session, survey, len(identities), now)
    last_day = surveys.last_open_day(survey.closes_at, zone)
    queued = 0
    for identity, invitation in zip(identities, issued, strict=True):
        link = deep_link(username, invitation.token) or f"/start {invitation.token}"
        queued += await queue_notice(
            session, identity.id, "survey.invitation_notice", f"survey-invite:{invitation.invitation_id}", now,
            kind="survey_invitation", project=bilingual(project.title_zh, project.title_en),
            closes=day(last_day), secret={"link": link},
        )
    return queued
