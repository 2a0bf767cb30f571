"""/progress: an organization posts a progress update to one of its running projects; staff read the feed.

Members get a form (project, text, optional photo or file, public or internal, confirm); staff get
the latest updates of their department's projects, internal ones included and marked.
"""

from __future__ import annotations

from dataclasses import dataclass

from dialogs.buttons import Payload, Stale, on, parse_id
from dialogs.context import Context, Parse
from dialogs.fields import CHOICE, LONG_TEXT, MEDIA, YES_NO, Choice, Field, Values
from dialogs.flow import Flow
from dialogs.forms import Form
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
from dialogs.types import Incoming
from store import projects as prj
from store.audit import record
from store.models import Department

FEED = "feed"
FEED_TEXT_LIMIT = 240  # a page of eight stays well inside one chat message
MEDIA_KINDS = ("photo", "document")


@dataclass(frozen=True)
class FeedPage(Payload, action="feed", steps=(FEED,)):
    """A page of the staff feed."""

    page: int


async def _project_choices(ctx: Context, values: Values) -> list[Choice]:
    if ctx.organization_id is None:
        return []
    projects = await prj.org_projects(ctx.session, ctx.organization_id, prj.ACTIVE_STATUSES)
    return [
        Choice(str(p.id), ctx.t("progress.project_label", code=p.code, title=localized(ctx, p.title_zh, p.title_en)))
        for p in projects
    ]


class ProgressFlow(Form):
    name = "progress"
    commands = ("progress",)
    roles = frozenset({"org", "staff"})
    menu_key = "progress.menu"
    menu_order = 30
    use_buttons_key = "progress.use_buttons"

    fields = (
        Field("project", CHOICE, "progress.ask.project", "progress.label.project", choices=_project_choices),
        Field("text", LONG_TEXT, "progress.ask.text", "progress.label.text", max_len=1000, minimum=5,
              example="progress.example.text"),
        Field("media", MEDIA, "progress.ask.media", "progress.label.media", required=False),
        Field("public", YES_NO, "progress.ask.public", "progress.label.public"),
    )

    async def start(self, ctx: Context, payload: str | None, parse: Parse | None = None) -> None:
        if ctx.is_staff:
            await self.show_feed(ctx, 0)
            return
        await super().start(ctx, payload)

    async def begin(self, ctx: Context, payload: str | None, parse: Parse | None = None) -> bool:
        if not await _project_choices(ctx, {}):
            ctx.tell("progress.no_projects")
            return False
        return True

    async def handle(self, ctx: Context, msg: Incoming) -> None:
        if ctx.state.step == FEED:  # the feed's pages want their buttons
            await Flow.handle(self, ctx, msg)
            return
        await super().handle(ctx, msg)

    async def reprompt(self, ctx: Context) -> None:
        if ctx.state.step == FEED:
            page = ctx.state.page
            if ctx.is_staff:
                await self.show_feed(ctx, page if isinstance(page, int) else 0)
            else:  # only staff read the feed: a member (whose role changed since) gets the form
                await self.start(ctx, None)
            return
        await super().reprompt(ctx)

    def summary_title(self, ctx: Context, values: Values) -> str:
        return ctx.t("progress.summary_title")

    async def submit(self, ctx: Context, values: Values) -> None:
        project_id = parse_id(str(values.get("project", "")))
        org_id = ctx.organization_id  # None for staff: a form begun before the person's role changed
        project = None
        if project_id is not None and org_id is not None:
            project = await prj.org_project(ctx.session, org_id, project_id)
        ctx.state.clear()
        if project is None or project.status not in prj.ACTIVE_STATUSES:
            ctx.tell("progress.project_gone")
            return
        media = values.get("media") or {}
        public = bool(values.get("public"))
        update, created = await prj.add_progress(
            ctx.session, project.id, reported_on=ctx.today, text=values["text"], public=public,
            author_identity_id=ctx.identity.id, media_path=media.get("path"), media_kind=media.get("kind"),
        )
        if not created:
            ctx.tell("progress.duplicate")
            return
        await record(ctx.session, ctx.now, f"identity:{ctx.identity.id}", "progress", "project", project.code,
                     update=update.id, public=public)
        title = localized(ctx, project.title_zh, project.title_en)
        ctx.tell("progress.saved_public" if public else "progress.saved_internal", project=title)

    # -- the staff feed ----------------------------------------------------------------------
    @on(FeedPage)
    async def feed_page(self, ctx: Context, press: FeedPage) -> None:
        if not ctx.is_staff:  # a feed shown before the person's role changed: it is staff's only
            raise Stale(press)
        await self.show_feed(ctx, press.page)

    async def show_feed(self, ctx: Context, number: int) -> None:
        department_id = None if ctx.is_admin else ctx.identity.department_id
        entries, total = await prj.department_progress(ctx.session, department_id, offset=number * PAGE_SIZE, limit=PAGE_SIZE)
        if clamp_page(number, total) != number:
            number = clamp_page(number, total)
            entries, total = await prj.department_progress(
                ctx.session, department_id, offset=number * PAGE_SIZE, limit=PAGE_SIZE
            )
        if total == 0:
            ctx.state.clear()
            ctx.tell("progress.feed_empty")
            return
        ctx.state.reset(FEED)
        ctx.state.page = number
        scope = ctx.t("progress.all_departments")
        if department_id is not None:
            department = await ctx.get(Department, department_id)
            scope = localized(ctx, department.name_zh, department.name_en) if department else scope
        page = Page(entries, number, page_count(total), total, number * PAGE_SIZE)
        lines = [ctx.t("progress.feed_title", scope=scope, count=total)]
        for n, entry in enumerate(entries, start=page.first + 1):
            update = entry.update
            lines.append(ctx.t(
                "progress.feed_item" if update.public else "progress.feed_item_internal",
                n=n, day=ctx.day(update.reported_on), code=entry.project_code,
                project=localized(ctx, entry.project_title_zh, entry.project_title_en),
                org=localized(ctx, entry.org_name_zh, entry.org_name_en),
            ))
            text = update.text_en if ctx.locale == "en" and update.text_en else update.text_zh
            lines.append(ctx.t("progress.feed_text", text=shorten(text, FEED_TEXT_LIMIT)))
            if update.media_path:
                kind = update.media_kind if update.media_kind in MEDIA_KINDS else "document"
                lines.append(ctx.t("progress.feed_media", kind=ctx.t(f"progress.media_kind.{kind}")))
        rows = []
        if page.pages > 1:
            lines.append(page_label(ctx, page))
            rows.append(nav_row(ctx, self.name, FeedPage, page))
        ctx.say("\n".join(lines), rows)
