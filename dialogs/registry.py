"""Every flow of the product, and the engine wired with them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.context import DialogSettings, Understand
from dialogs.engine import Engine, utcnow
from dialogs.flow import Flow
from dialogs.flows.application import ApplicationFlow
from dialogs.flows.binding import BindingFlow
from dialogs.flows.committee import CommitteeFlow
from dialogs.flows.complaint import ComplaintFlow
from dialogs.flows.expert import ExpertFlow
from dialogs.flows.needs import NeedFlow
from dialogs.flows.needs_review import NeedsReviewFlow
from dialogs.flows.outbox import OutboxFlow
from dialogs.flows.progress import ProgressFlow
from dialogs.flows.query import QueryFlow
from dialogs.flows.review import ReviewFlow
from dialogs.flows.status import StatusFlow
from dialogs.flows.survey import SurveyFlow
from dialogs.flows.survey_staff import SurveyStaffFlow
from dialogs.flows.tickets import TicketsFlow
from store.media import MediaStore


def all_flows() -> list[Flow]:
    return [
        BindingFlow(),
        ApplicationFlow(),
        StatusFlow(),
        ProgressFlow(),
        ReviewFlow(),
        CommitteeFlow(),
        ExpertFlow(),
        NeedFlow(),
        NeedsReviewFlow(),
        ComplaintFlow(),
        TicketsFlow(),
        OutboxFlow(),
        SurveyFlow(),
        SurveyStaffFlow(),
        QueryFlow(),
    ]


def build_engine(
    sessions: async_sessionmaker[AsyncSession],
    settings: DialogSettings,
    *,
    understand: Understand | None = None,
    clock: Callable[[], datetime] = utcnow,
    media: MediaStore | None = None,
) -> Engine:
    return Engine(sessions, settings, all_flows(), understand=understand, clock=clock, media=media)
