"""Residents' problem reports (监督投诉): finding the project, filing, the follow-up states and who sees what.

A ticket is visible to the staff of its project's department (admins: all) and to its reporter;
the reporter's identity is kept only to notify them and is never returned by a listing for staff.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import and_, case, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.lifecycle import check_move
from store.models import Identity, Project, Ticket, TicketEvent

TICKET_MOVES: dict[str, tuple[str, ...]] = {
    "received": ("investigating",),
    "investigating": ("resolved", "unfounded"),
    "resolved": (),
    "unfounded": (),
}
OPEN_STATES = ("received", "investigating")
MAX_SEARCH_TERMS = 16


def ticket_reference(year: int, ticket_id: int) -> str:
    return f"TS-{year}-{ticket_id:06d}"


# --- finding the project -----------------------------------------------------------------

async def project_candidates(
    session: AsyncSession, grams: Sequence[str], words: Sequence[str], limit: int = 40
) -> list[Project]:
    """Projects sharing the most of ``grams`` (pieces of a Chinese title) and ``words`` (lower-case
    pieces of a code or an English title), best first: the prefilter that fuzzy ranking refines."""
    hits = [case((Project.title_zh.contains(g, autoescape=True), 1), else_=0) for g in grams[:MAX_SEARCH_TERMS]]
    for word in words[:MAX_SEARCH_TERMS]:
        hits.append(case((func.lower(Project.code).contains(word, autoescape=True), 2), else_=0))
        hits.append(case((func.lower(Project.title_en).contains(word, autoescape=True), 1), else_=0))
    if not hits:
        return []
    score = sum(hits[1:], hits[0])
    stmt = select(Project).where(score > 0).order_by(score.desc(), Project.year.desc(), Project.code).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def district_projects(session: AsyncSession, district: str, offset: int, limit: int) -> tuple[list[Project], int]:
    """A page of the projects of one district (newest year first) and how many there are."""
    where = Project.district == district
    total = await session.scalar(select(func.count()).select_from(Project).where(where)) or 0
    stmt = select(Project).where(where).order_by(Project.year.desc(), Project.code).offset(offset).limit(limit)
    return list((await session.execute(stmt)).scalars()), total


# --- filing ------------------------------------------------------------------------------

async def create_ticket(
    session: AsyncSession,
    *,
    project_id: int,
    kind: str,
    description: str,
    media_path: str | None,
    contact: str | None,
    reporter_identity_id: int,
    now: datetime,
    year: int,
) -> Ticket:
    ticket = Ticket(
        # a unique placeholder until the id, which the reference is made of, is known
        reference=f"tmp-{secrets.token_hex(8)}",
        project_id=project_id, kind=kind, description=description, media_path=media_path, contact=contact,
        reporter_identity_id=reporter_identity_id, state="received", created_at=now, updated_at=now,
    )
    session.add(ticket)
    await session.flush()
    ticket.reference = ticket_reference(year, ticket.id)
    session.add(TicketEvent(ticket_id=ticket.id, state="received", note=None, staff_identity_id=None, at=now))
    await session.flush()
    return ticket


async def department_staff(
    session: AsyncSession, department_id: int, admins: Iterable[tuple[str, str]] = ()
) -> list[int]:
    """Identity ids of the department's staff and of the admins who have talked to the bot."""
    admin_match = [and_(Identity.channel == ch, Identity.external_id == ext) for ch, ext in admins]
    stmt = (
        select(Identity.id)
        .where(or_(and_(Identity.role == "staff", Identity.department_id == department_id), *admin_match, false()))
        .where(Identity.unreachable.is_(False))
        .order_by(Identity.id)
    )
    return list((await session.execute(stmt)).scalars())


# --- follow-up ---------------------------------------------------------------------------

async def staff_tickets(
    session: AsyncSession, department_id: int | None, offset: int, limit: int
) -> tuple[list[tuple[Ticket, Project]], int]:
    """A page of the tickets about a department's projects (``None``: every department), open ones
    first, and how many there are."""
    base = select(Ticket, Project).join(Project, Project.id == Ticket.project_id)
    count = select(func.count()).select_from(Ticket).join(Project, Project.id == Ticket.project_id)
    if department_id is not None:
        base = base.where(Project.department_id == department_id)
        count = count.where(Project.department_id == department_id)
    total = await session.scalar(count) or 0
    open_first = case((Ticket.state.in_(OPEN_STATES), 0), else_=1)
    rows = await session.execute(
        base.order_by(open_first, Ticket.created_at.desc(), Ticket.id.desc()).offset(offset).limit(limit)
    )
    return [(t, p) for t, p in rows.all()], total


async def reporter_tickets(
    session: AsyncSession, identity_id: int, offset: int, limit: int
) -> tuple[list[tuple[Ticket, Project]], int]:
    """A page of the tickets one person filed, newest first, and how many there are."""
    where = Ticket.reporter_identity_id == identity_id
    total = await session.scalar(select(func.count()).select_from(Ticket).where(where)) or 0
    stmt = (
        select(Ticket, Project).join(Project, Project.id == Ticket.project_id).where(where)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc()).offset(offset).limit(limit)
    )
    return [(t, p) for t, p in (await session.execute(stmt)).all()], total


async def ticket_with_project(
    session: AsyncSession, ticket_id: int, *, lock: bool = False
) -> tuple[Ticket, Project] | None:
    stmt = select(Ticket, Project).join(Project, Project.id == Ticket.project_id).where(Ticket.id == ticket_id)
    if lock:
        stmt = stmt.with_for_update(of=Ticket).execution_options(populate_existing=True)
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row is not None else None


async def ticket_events(session: AsyncSession, ticket_id: int) -> list[TicketEvent]:
    stmt = select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.at, TicketEvent.id)
    return list((await session.execute(stmt)).scalars())


async def move_ticket(
    session: AsyncSession, ticket: Ticket, target: str, note: str | None, staff_identity_id: int, now: datetime
) -> TicketEvent:
    """Change a ticket's state by the allowed moves (``IllegalTransition`` otherwise), with a note."""
    check_move(TICKET_MOVES, "ticket", ticket.state, target)
    ticket.state = target
    ticket.updated_at = now
    event = TicketEvent(ticket_id=ticket.id, state=target, note=note, staff_identity_id=staff_identity_id, at=now)
    session.add(event)
    await session.flush()
    return event
