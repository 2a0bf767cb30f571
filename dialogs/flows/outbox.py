"""/outbox: staff see the queue of messages to their department's people (administrators: everyone's) —
waiting, failed and dead, with the reasons — to notice a recipient who blocked the bot or a stuck channel."""

from __future__ import annotations

from dataclasses import dataclass

from dialogs import i18n
from dialogs.buttons import Payload, on
from dialogs.context import Context, Parse
from dialogs.flow import Flow
from dialogs.listing import PAGE_SIZE, Page, clamp_page, localized, nav_row, page_count, page_label
from store import outbox
from store.models import Department

VIEWS = {"all": ("pending", "sending", "failed", "dead"), "problems": ("failed", "dead")}
WAITING_STATES = ("pending", "sending", "failed")


@dataclass(frozen=True)
class AllPage(Payload, action="all"):
    """A page of every message waiting, failed or dead."""

    page: int = 0


@dataclass(frozen=True)
class ProblemsPage(Payload, action="problems"):
    """A page of the failed and dead messages only."""

    page: int = 0


PAGES: dict[str, type[AllPage] | type[ProblemsPage]] = {"all": AllPage, "problems": ProblemsPage}


class OutboxFlow(Flow):
    name = "outbox"
    commands = ("outbox",)
    roles = frozenset({"staff"})
    menu_key = "outbox.menu"
    menu_order = 90
    use_buttons_key = "outbox.use_buttons"

    async def start(self, ctx: Context, payload: str | None, parse: Parse | None = None) -> None:
        await self.show(ctx, "all", 0)

    @on(AllPage)
    async def all_page(self, ctx: Context, press: AllPage) -> None:
        await self.show(ctx, "all", press.page)

    @on(ProblemsPage)
    async def problems_page(self, ctx: Context, press: ProblemsPage) -> None:
        await self.show(ctx, "problems", press.page)

    async def reprompt(self, ctx: Context) -> None:
        view = ctx.state.view
        page = ctx.state.page
        await self.show(ctx, view if view in VIEWS else "all", page if isinstance(page, int) else 0)

    async def show(self, ctx: Context, view: str, number: int) -> None:
        department_id = None if ctx.is_admin else ctx.identity.department_id
        scope = ctx.t("outbox.everyone")
        if department_id is not None:
            department = await ctx.get(Department, department_id)
            if department is not None:
                scope = localized(ctx, department.name_zh, department.name_en)
        totals = await outbox.counts(ctx.session, department_id=department_id)
        states = VIEWS[view]
        total = sum(totals.get(s, 0) for s in states)
        number = clamp_page(number, total)
        listed, total = await outbox.list_messages(
            ctx.session, states, department_id=department_id, offset=number * PAGE_SIZE, limit=PAGE_SIZE
        )
        page = Page(listed, number, page_count(total), total, number * PAGE_SIZE)
        lines = [ctx.t(
            "outbox.title", scope=scope, pending=totals.get("pending", 0) + totals.get("sending", 0),
            failed=totals.get("failed", 0), dead=totals.get("dead", 0), sent=totals.get("sent", 0),
        )]
        if not listed:
            lines.append(ctx.t(f"outbox.empty_{view}"))
        for n, message in enumerate(listed, start=page.first + 1):
            kind_key = f"outbox.kind.{message.kind}"
            lines.append(ctx.t(
                "outbox.row_waiting" if message.state in WAITING_STATES else "outbox.row_dead",
                n=n, state=ctx.t(f"outbox.state.{message.state}"),
                kind=ctx.t(kind_key) if i18n.has(kind_key) else message.kind,
                recipient=ctx.t(f"outbox.role.{message.role}", id=message.identity_id),
                attempts=message.attempts, next=ctx.moment(message.next_attempt_at),
                queued=ctx.moment(message.created_at),
            ))
            if message.last_error:
                lines.append(ctx.t("outbox.reason", reason=message.last_error))
        if page.pages > 1:
            lines.append(page_label(ctx, page))
        rows = [nav_row(ctx, self.name, PAGES[view], page)] if page.pages > 1 else []
        other = "problems" if view == "all" else "all"
        rows.append([self.button(ctx.t(f"outbox.view_{other}"), PAGES[other]())])
        ctx.state.reset(view)
        ctx.state.view = view
        ctx.state.page = page.number
        ctx.say("\n".join(lines), [row for row in rows if row])
