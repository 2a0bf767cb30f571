"""/tickets: staff follow problem reports about their department's projects (received → investigating →
resolved | unfounded, each move with a note the reporter is told); everyone sees their own reports.

A role adds abilities and never takes a person's own records away: a report filed before binding to an
organization or a department stays reachable (staff find theirs under "my reports"). Staff never see
who reported: only what was reported and the contact the reporter chose to leave.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal, get_args

from dialogs import voice
from dialogs.buttons import Payload, Stale, on, parse_id
from dialogs.context import Context, Parse
from dialogs.flow import Flow, run_button
from dialogs.listing import (
    PAGE_SIZE,
    Page,
    clamp_page,
    localized,
    nav_row,
    page_count,
    page_label,
    shorten,
)
from dialogs.notices import Text, queue_notice
from dialogs.types import Attachment, Button, Incoming
from nlu.normalize import TextTooLong, clean_text
from store import tickets
from store.audit import record
from store.lifecycle import IllegalTransition
from store.media import MediaMissing, MediaUnavailable, key_of
from store.models import Project, Ticket

log = logging.getLogger(__name__)

NOTE_MAX = 500
PREVIEW = 40
PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTO_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}
Target = Literal["investigating", "resolved", "unfounded"]  # the states a ticket is moved to (store.tickets.TICKET_MOVES)
TARGETS: tuple[Target, ...] = get_args(Target)


@dataclass(frozen=True)
class ListPage(Payload, action="list"):
    """A page of the tickets to handle (staff), or of one's own reports (everyone else)."""

    page: int = 0


@dataclass(frozen=True)
class MinePage(Payload, action="mine"):
    """A page of one's own reports (staff who reported problems themselves)."""

    page: int = 0


@dataclass(frozen=True)
class Open(Payload, action="open"):
    ticket: int


@dataclass(frozen=True)
class Move(Payload, action="move", steps=("ticket", "note")):
    """Move a ticket on, from its page (or from the note's question, to change one's mind)."""

    ticket: int
    target: Target


class TicketsFlow(Flow):
    name = "tickets"
    commands = ("tickets",)
    menu_key = "tickets.menu"
    menu_order = 65
    use_buttons_key = "tickets.use_buttons"

    async def start(self, ctx: Context, payload: str | None, parse: Parse | None = None) -> None:
        ticket_id = parse_id((payload or "")[1:]) if (payload or "").startswith("t") else None
        if ticket_id is not None:
            await self.show_ticket(ctx, ticket_id)
        else:
            await self.show_list(ctx, 0)

    async def handle(self, ctx: Context, msg: Incoming) -> None:
        """Typed text is the note of a move being made; anywhere else the step wants its buttons."""
        if ctx.state.step == "note" and (msg.text or "").strip():
            await self.apply_move(ctx, msg.text or "")
            return
        await super().handle(ctx, msg)

    @on(ListPage)
    async def list_page(self, ctx: Context, press: ListPage) -> None:
        await self.show_list(ctx, press.page)

    @on(MinePage)
    async def mine_page(self, ctx: Context, press: MinePage) -> None:
        await self.show_list(ctx, press.page, mine=True)

    @on(Open)
    async def open_ticket(self, ctx: Context, press: Open) -> None:
        await self.show_ticket(ctx, press.ticket)

    @on(Move)
    async def move(self, ctx: Context, press: Move) -> None:
        ticket = await self._handled(ctx, press.ticket)
        if ticket is not None and press.target not in tickets.TICKET_MOVES.get(ticket.state, ()):
            raise Stale(press)  # the ticket moved on since its page was shown
        await self.ask_note(ctx, press.ticket, press.target)

    async def reprompt(self, ctx: Context) -> None:
        ticket_id = ctx.state.id
        if ctx.state.step == "note" and isinstance(ticket_id, int):
            await self.ask_note(ctx, ticket_id, str(ctx.state.target))
        elif ctx.state.step == "ticket" and isinstance(ticket_id, int):
            await self.show_ticket(ctx, ticket_id)
        else:
            page = ctx.state.page
            await self.show_list(ctx, page if isinstance(page, int) else 0, mine=ctx.state.mine is True)

    # -- whose tickets -----------------------------------------------------------------------
    async def _page(self, ctx: Context, number: int, mine: bool) -> tuple[list[tuple[Ticket, Project]], int]:
        offset = number * PAGE_SIZE
        if ctx.is_staff and not mine:
            department = None if ctx.is_admin else ctx.identity.department_id
            return await tickets.staff_tickets(ctx.session, department, offset, PAGE_SIZE)
        return await tickets.reporter_tickets(ctx.session, ctx.identity.id, offset, PAGE_SIZE)

    async def _visible(self, ctx: Context, ticket_id: int, *, lock: bool = False) -> tuple[Ticket, Project] | None:
        """The ticket with its project when this person may see it: staff of the project's
        department (admins: all), and the person who reported it."""
        found = await tickets.ticket_with_project(ctx.session, ticket_id, lock=lock)
        if found is None:
            return None
        ticket, project = found
        if ctx.is_staff and ctx.staff_of(project.department_id):
            return found
        return found if ticket.reporter_identity_id == ctx.identity.id else None

    # -- the list ----------------------------------------------------------------------------
    async def show_list(self, ctx: Context, number: int, *, mine: bool = False) -> None:
        mine = mine or not ctx.is_staff
        items, total = await self._page(ctx, number, mine)
        if not items and total:
            number = clamp_page(number, total)
            items, total = await self._page(ctx, number, mine)
        ctx.state.reset("list")
        ctx.state.page = number
        ctx.state.mine = mine
        own_too = ctx.is_staff and not mine and (await self._page(ctx, 0, True))[1] > 0
        own_row = [self.button(ctx.t("tickets.my_reports"), MinePage())] if own_too else None
        if not items:
            if own_row is None:
                ctx.state.clear()
            ctx.say(ctx.t("tickets.empty_mine" if mine else "tickets.empty_staff"), [own_row] if own_row else [])
            return
        page: Page[tuple[Ticket, Project]] = Page(items, number, page_count(total), total, number * PAGE_SIZE)
        lines = [ctx.t("tickets.list_mine" if mine else "tickets.list_staff", total=total)]
        rows: list[list[Button]] = []
        for n, (ticket, project) in enumerate(items, start=page.first + 1):
            lines.append(ctx.t(
                "tickets.row", n=n, reference=ticket.reference, day=ctx.moment(ticket.created_at), code=project.code,
                kind=ctx.t(f"complain.kind.{ticket.kind}"), state=ctx.t(f"tickets.state.{ticket.state}"),
                preview=shorten(ticket.description, PREVIEW),
            ))
            rows.append([self.button(ctx.t("tickets.open_label", n=n, reference=ticket.reference), Open(ticket.id))])
        if page.pages > 1:
            lines.append(page_label(ctx, page))
            rows.append(nav_row(ctx, self.name, MinePage if mine else ListPage, page))
        if own_row is not None:
            rows.append(own_row)
        ctx.say("\n".join(lines), rows)

    # -- one ticket --------------------------------------------------------------------------
    async def show_ticket(self, ctx: Context, ticket_id: int) -> None:
        found = await self._visible(ctx, ticket_id)
        if found is None:
            ctx.tell("tickets.not_found")
            await self.show_list(ctx, 0)
            return
        ticket, project = found
        handles = ctx.staff_of(project.department_id)  # staff of its department, not its reporter
        lines = [
            ctx.t("tickets.detail_title", reference=ticket.reference, moment=ctx.moment(ticket.created_at)),
            ctx.t("tickets.detail_project", code=project.code, title=localized(ctx, project.title_zh, project.title_en)),
            ctx.t("tickets.detail_kind", kind=ctx.t(f"complain.kind.{ticket.kind}")),
            ctx.t("tickets.detail_state", state=ctx.t(f"tickets.state.{ticket.state}")),
            ctx.t("tickets.detail_description", description=ticket.description),
        ]
        if ticket.media_path:
            lines.append(ctx.t("tickets.detail_photo"))
        if handles:
            lines.append(ctx.t("tickets.detail_contact", contact=voice.show_contact(ctx, ticket.contact)))
        lines.append(ctx.t("tickets.history"))
        for event in await tickets.ticket_events(ctx.session, ticket.id):
            state = ctx.t(f"tickets.state.{event.state}")
            if event.note:
                lines.append(ctx.t("tickets.history_note", moment=ctx.moment(event.at), state=state, note=event.note))
            else:
                lines.append(ctx.t("tickets.history_line", moment=ctx.moment(event.at), state=state))
        rows: list[list[Button]] = []
        if handles:
            moves = tickets.TICKET_MOVES.get(ticket.state, ())
            if moves:
                rows.append([self.button(ctx.t(f"tickets.move.{target}"), Move(ticket.id, target))
                             for target in TARGETS if target in moves])
        page, mine = ctx.state.page or 0, ctx.state.mine is True
        number = page if isinstance(page, int) else 0
        rows.append([self.button(ctx.t("tickets.back"), MinePage(number) if mine else ListPage(number))])
        ctx.state.reset("ticket")
        ctx.state.id = ticket.id
        ctx.state.page = page
        ctx.state.mine = mine
        image = await self._photo(ctx, ticket) if handles else None
        if image is False:
            lines.append(ctx.t("common.media_unshown"))
        ctx.say("\n".join(lines), rows, image=image or None)

    async def _photo(self, ctx: Context, ticket: Ticket) -> Attachment | Literal[False] | None:
        """The reporter's photo for staff, when it is still stored and is an image of sane size (False: the
        media store cannot be read just now)."""
        if not ticket.media_path:
            return None
        try:
            key = key_of(ticket.media_path)
            mime = PHOTO_TYPES.get(PurePosixPath(key).suffix.lower())
            if mime is None:
                return None
            content = await ctx.media.get(ticket.media_path)
        except MediaMissing:
            return None
        except MediaUnavailable as exc:
            log.warning("photo of ticket %s not shown: %s", ticket.reference, exc)
            return False
        return Attachment(key, content, mime) if len(content) <= PHOTO_MAX_BYTES else None

    # -- moving a ticket on ------------------------------------------------------------------
    async def _handled(self, ctx: Context, ticket_id: int) -> Ticket | None:
        """The ticket when this person handles it: staff of its project's department (its reporter sees
        it, only staff move it)."""
        found = await self._visible(ctx, ticket_id)
        return found[0] if found is not None and ctx.staff_of(found[1].department_id) else None

    async def ask_note(self, ctx: Context, ticket_id: int, target: str) -> None:
        """Ask for the note of a move; a move the ticket's state no longer allows (someone moved it
        meanwhile) shows the ticket as it is."""
        ticket = await self._handled(ctx, ticket_id)
        if ticket is None:
            ctx.tell("tickets.not_found")
            await self.show_list(ctx, 0)
            return
        if target not in tickets.TICKET_MOVES.get(ticket.state, ()):
            await self.show_ticket(ctx, ticket.id)
            return
        page = ctx.state.page or 0
        ctx.state.reset("note")
        ctx.state.id = ticket.id
        ctx.state.target = target
        ctx.state.page = page
        ctx.tell(
            "tickets.ask_note", reference=ticket.reference, state=ctx.t(f"tickets.state.{target}"),
            buttons=[[self.button(ctx.t("tickets.back"), Open(ticket.id))]],
        )

    async def apply_move(self, ctx: Context, text: str) -> None:
        ticket_id, target = ctx.state.id, ctx.state.target
        try:
            note = clean_text(text, NOTE_MAX, multiline=True)
        except TextTooLong as exc:
            ctx.tell("tickets.note_too_long", length=exc.length, limit=NOTE_MAX)
            return
        found = await self._visible(ctx, ticket_id, lock=True) if isinstance(ticket_id, int) else None
        if found is None or not ctx.staff_of(found[1].department_id) or not isinstance(target, str):
            ctx.tell("tickets.not_found")
            await self.show_list(ctx, 0)
            return
        ticket, project = found
        try:
            event = await tickets.move_ticket(ctx.session, ticket, target, note, ctx.identity.id, ctx.now)
        except IllegalTransition:
            ctx.tell("tickets.cannot_move", state=ctx.t(f"tickets.state.{ticket.state}"))
            await self.show_ticket(ctx, ticket.id)
            return
        await record(ctx.session, ctx.now, f"identity:{ctx.identity.id}", f"ticket_{target}", "ticket",
                     ticket.reference, project=project.code)
        if ticket.reporter_identity_id is not None:
            await queue_notice(
                ctx.session, ticket.reporter_identity_id, "tickets.notice_state", f"ticket:{ticket.id}:event:{event.id}",
                ctx.now, buttons=[[("tickets.open", run_button("tickets", f"t{ticket.id}"))]],
                reference=ticket.reference, state=Text(f"tickets.state.{target}"), note=note,
            )
        ctx.tell("tickets.moved", reference=ticket.reference, state=ctx.t(f"tickets.state.{target}"))
        if ticket.kind == "objection" and target == "resolved" and project.status == "publicized":
            # an upheld objection holds the contract; staff decide whether the approval is withdrawn
            ctx.tell("committee.objection_upheld", code=project.code, buttons=[
                [ctx.button("committee.withdraw", run_button("committee", f"w{project.id}"))]])
        await self.show_ticket(ctx, ticket.id)

