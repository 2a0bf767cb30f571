"""/needs for staff: residents' needs by category × district for a period with the trend, the latest
needs, an XLSX export, and the decision (taken into a catalog year, or declined with a reason)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from dialogs import voice
from dialogs.buttons import Payload, Stale, on, parse_id
from dialogs.context import Context, Parse
from dialogs.flow import Flow
from dialogs.listing import PAGE_SIZE, Page, clamp_page, nav_row, page_count, page_label, shorten
from dialogs.needs_export import XLSX_MIME, Labels, workbook
from dialogs.notices import Notice, Value
from dialogs.types import Attachment, Button, Incoming
from nlu.dates import parse_date
from nlu.normalize import TextTooLong, clean_text
from store import needs, public
from store.audit import record
from store.lifecycle import IllegalTransition
from store.models import Need
from store.outbox import Outgoing, enqueue

Window = Literal["month", "quarter", "year", "since"]
PERIODS: tuple[Window, ...] = ("month", "quarter", "year")
REASON_MAX = 300
PREVIEW = 40
SHOWN_CELLS = 30  # the chat shows the largest cells of the matrix; the export has them all


def period_of(kind: str, today: date, since: date | None = None) -> needs.Period:
    """This month / quarter / year up to today, or ``since`` up to today."""
    if kind == "since" and since is not None:
        return needs.Period(min(since, today), today)
    if kind == "quarter":
        return needs.Period(today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1), today)
    if kind == "year":
        return needs.Period(today.replace(month=1, day=1), today)
    return needs.Period(today.replace(day=1), today)


@dataclass(frozen=True)
class ChoosePeriod(Payload, action="period"):
    """This month, quarter or year; or "since", which asks for the first day."""

    period: Window


@dataclass(frozen=True)
class Report(Payload, action="report"):
    """Back to the report of the period chosen."""


@dataclass(frozen=True)
class Latest(Payload, action="latest"):
    page: int = 0


@dataclass(frozen=True)
class OpenNeed(Payload, action="open"):
    need: int


@dataclass(frozen=True)
class Take(Payload, action="take", steps=("need",)):
    need: int
    year: int


@dataclass(frozen=True)
class Decline(Payload, action="decline", steps=("need",)):
    need: int


@dataclass(frozen=True)
class Export(Payload, action="export"):
    pass


class NeedsReviewFlow(Flow):
    name = "needs"
    commands = ("needs",)
    roles = frozenset({"staff"})
    menu_key = "needs.menu"
    menu_order = 55
    use_buttons_key = "needs.use_buttons"

    async def start(self, ctx: Context, payload: str | None, parse: Parse | None = None) -> None:
        need_id = parse_id((payload or "")[1:]) if (payload or "").startswith("n") else None
        if need_id is not None:
            await self.show_need(ctx, need_id)
        else:
            await self.show_report(ctx, "month")

    @on(ChoosePeriod)
    async def choose_period(self, ctx: Context, press: ChoosePeriod) -> None:
        if press.period == "since":
            await self.ask_since(ctx)
        else:
            await self.show_report(ctx, press.period)

    @on(Report)
    async def report(self, ctx: Context, press: Report) -> None:
        await self.show_report(ctx, ctx.state.period or "month", self._since(ctx))

    @on(Latest)
    async def latest(self, ctx: Context, press: Latest) -> None:
        await self.show_latest(ctx, press.page)

    @on(OpenNeed)
    async def open_need(self, ctx: Context, press: OpenNeed) -> None:
        await self.show_need(ctx, press.need)

    @on(Take)
    async def take(self, ctx: Context, press: Take) -> None:
        if press.year not in (ctx.today.year, ctx.today.year + 1):
            raise Stale(press)  # a button from a year that has passed
        await self._decide(ctx, press.need, "taken", year=press.year)

    @on(Decline)
    async def declined(self, ctx: Context, press: Decline) -> None:
        need = await ctx.get(Need, press.need)
        if need is None or not needs.NEED_MOVES.get(need.state):
            raise Stale(press)  # decided since the button was shown: no reason to ask for
        await self.ask_reason(ctx, need.id)

    @on(Export)
    async def exported(self, ctx: Context, press: Export) -> None:
        await self.export(ctx)

    async def handle(self, ctx: Context, msg: Incoming) -> None:
        """Typed text: the first day of the period asked for, or the reason a need is declined."""
        text = (msg.text or "").strip()
        if ctx.state.step == "since" and text:
            day = parse_date(text, ctx.today, prefer="past")
            if day is None:
                ctx.tell("needs.bad_since", buttons=[[self._back(ctx)]])
                return
            await self.show_report(ctx, "since", day)
            return
        if ctx.state.step == "reason" and text:
            await self.decline(ctx, text)
            return
        await super().handle(ctx, msg)

    async def reprompt(self, ctx: Context) -> None:
        step, need_id = ctx.state.step, ctx.state.id
        if step == "need" and isinstance(need_id, int):
            await self.show_need(ctx, need_id)
        elif step == "reason" and isinstance(need_id, int):
            await self.ask_reason(ctx, need_id)
        elif step == "since":
            await self.ask_since(ctx)
        elif step == "latest":
            await self.show_latest(ctx, ctx.state.page or 0)
        else:
            await self.show_report(ctx, ctx.state.period or "month", self._since(ctx))

    async def ask_since(self, ctx: Context) -> None:
        ctx.state.step = "since"
        ctx.tell("needs.ask_since", buttons=[[self._back(ctx)]])

    async def ask_reason(self, ctx: Context, need_id: int) -> None:
        ctx.state.step, ctx.state.id = "reason", need_id
        ctx.tell("needs.ask_reason", buttons=[[self.button(ctx.t("needs.back"), OpenNeed(need_id))]])

    def _since(self, ctx: Context) -> date | None:
        since = ctx.state.since
        return date.fromisoformat(since) if isinstance(since, str) else None

    def _back(self, ctx: Context) -> Button:
        return self.button(ctx.t("needs.back"), Report())

    def _period(self, ctx: Context) -> needs.Period:
        return period_of(ctx.state.period or "month", ctx.today, self._since(ctx))

    async def _labels(self, ctx: Context) -> Labels:
        english = await public.district_english_names(ctx.session) if ctx.locale == "en" else {}
        return Labels(ctx.locale, await needs.catalog_classes(ctx.session), english)

    # -- the report --------------------------------------------------------------------------
    async def show_report(self, ctx: Context, kind: str, since: date | None = None) -> None:
        kind = kind if kind in (*PERIODS, "since") and (kind != "since" or since) else "month"
        ctx.state.reset("report")
        ctx.state.period = kind
        if kind == "since" and since is not None:
            ctx.state.since = since.isoformat()
        period = self._period(ctx)
        report = await needs.needs_report(ctx.session, period, ctx.settings.zone)
        labels = await self._labels(ctx)
        current, previous = report.current, report.previous
        assert previous is not None
        lines = [
            ctx.t("needs.report_title", since=ctx.day(period.since), until=ctx.day(period.until), days=period.days),
            ctx.t("needs.total", total=current.total),
            self._trend(ctx, report),
        ]
        if current.total:
            lines.append(ctx.t("needs.by_category"))
            lines.extend(
                ctx.t("needs.category_line", category=labels.category(c), count=n,
                      previous=previous.by_category.get(c, 0))
                for c, n in current.by_category.items()
            )
            lines.append(ctx.t("needs.by_district"))
            cells = sorted(current.matrix.items(), key=lambda cell: -cell[1])
            lines.extend(
                ctx.t("needs.matrix_line", category=labels.category(c), district=labels.district(d), count=n)
                for (c, d), n in cells[:SHOWN_CELLS]
            )
            if len(cells) > SHOWN_CELLS:
                lines.append(ctx.t("needs.more_in_export", count=len(cells) - SHOWN_CELLS))
            lines.append(ctx.t(
                "needs.states", new=current.by_state.get("new", 0), taken=current.by_state.get("taken", 0),
                declined=current.by_state.get("declined", 0),
            ))
        rows = [
            [self.button(("✓ " if kind == p else "") + ctx.t(f"needs.period.{p}"), ChoosePeriod(p)) for p in PERIODS],
            [self.button(("✓ " if kind == "since" else "") + ctx.t("needs.period.since"), ChoosePeriod("since"))],
            [self.button(ctx.t("needs.latest"), Latest()), self.button(ctx.t("needs.export"), Export())],
        ]
        ctx.say("\n".join(lines), rows)

    def _trend(self, ctx: Context, report: needs.NeedsReport) -> str:
        previous = report.previous
        assert previous is not None
        change = report.change() or 0
        values = {
            "since": ctx.day(previous.period.since), "until": ctx.day(previous.period.until),
            "previous": previous.total, "change": abs(change),
        }
        if change == 0:
            return ctx.t("needs.trend_same", **values)
        if previous.total == 0:
            return ctx.t("needs.trend_from_zero", **values)
        pct = f"{abs(change) / previous.total:.0%}"
        return ctx.t("needs.trend_up" if change > 0 else "needs.trend_down", pct=pct, **values)

    # -- the latest needs and one need -------------------------------------------------------
    async def show_latest(self, ctx: Context, number: int) -> None:
        labels = await self._labels(ctx)
        items, total = await needs.latest_needs(ctx.session, number * PAGE_SIZE, PAGE_SIZE)
        if not items and total:  # a page that no longer exists: show the last one
            number = clamp_page(number, total)
            items, total = await needs.latest_needs(ctx.session, number * PAGE_SIZE, PAGE_SIZE)
        ctx.state.step, ctx.state.page = "latest", number
        if not items:
            ctx.tell("needs.none_yet", buttons=[[self._back(ctx)]])
            return
        page: Page[Need] = Page(items, number, page_count(total), total, number * PAGE_SIZE)
        lines = [ctx.t("needs.latest_title", total=total)]
        rows: list[list[Button]] = []
        for n, need in enumerate(items, start=page.first + 1):
            lines.append(ctx.t(
                "needs.latest_line", n=n, reference=need.reference, moment=self._filed(ctx, need),
                category=labels.category(need.category), district=labels.district(need.district),
                state=labels.state(need.state), description=shorten(need.description, PREVIEW),
            ))
            rows.append([self.button(ctx.t("needs.open_label", n=n, reference=need.reference), OpenNeed(need.id))])
        if page.pages > 1:
            lines.append(page_label(ctx, page))
            rows.append(nav_row(ctx, self.name, Latest, page))
        rows.append([self._back(ctx)])
        ctx.say("\n".join(lines), rows)

    def _filed(self, ctx: Context, need: Need) -> str:
        # anonymous needs keep only their day (see store.needs.create_need)
        if need.contact_consent:
            return ctx.moment(need.created_at)
        return ctx.day(need.created_at)

    async def show_need(self, ctx: Context, need_id: int) -> None:
        need = await ctx.get(Need, need_id)
        if need is None:
            ctx.tell("needs.not_found")
            await self.show_report(ctx, ctx.state.period or "month", self._since(ctx))
            return
        labels = await self._labels(ctx)
        lines = [
            ctx.t("needs.detail_title", reference=need.reference, moment=self._filed(ctx, need)),
            ctx.t("needs.detail_category", category=labels.category(need.category)),
            ctx.t("needs.detail_district", district=labels.district(need.district)),
            ctx.t("needs.detail_group", group=labels.group(need.target_group)),
            ctx.t("needs.detail_description", description=need.description),
        ]
        if need.media_path:
            lines.append(ctx.t("needs.detail_photo"))
        if need.contact_consent:
            lines.append(ctx.t("needs.detail_contact", contact=voice.show_contact(ctx, need.contact)))
        else:
            lines.append(ctx.t("needs.detail_anonymous"))
        lines.append(ctx.t("needs.detail_state", state=labels.state(need.state)))
        if need.state == "taken":
            lines.append(ctx.t("needs.detail_taken", year=need.catalog_year or "", day=ctx.moment(need.decided_at)))
        elif need.state == "declined":
            lines.append(ctx.t("needs.detail_declined", reason=need.decision_note or "", day=ctx.moment(need.decided_at)))
        rows: list[list[Button]] = []
        if needs.NEED_MOVES.get(need.state):
            rows.append([
                self.button(ctx.t("needs.take", year=year), Take(need.id, year))
                for year in (ctx.today.year, ctx.today.year + 1)
            ])
            rows.append([self.button(ctx.t("needs.decline"), Decline(need.id))])
        page = ctx.state.page or 0
        rows.append([self.button(ctx.t("needs.back_to_list"), Latest(page)), self._back(ctx)])
        ctx.state.step, ctx.state.id = "need", need.id
        ctx.say("\n".join(lines), rows)

    # -- decisions ---------------------------------------------------------------------------
    async def decline(self, ctx: Context, text: str) -> None:
        need_id = ctx.state.id
        try:
            reason = clean_text(text, REASON_MAX, multiline=False)
        except TextTooLong as exc:
            ctx.tell("needs.reason_too_long", length=exc.length, limit=REASON_MAX)
            return
        if not isinstance(need_id, int):
            await self.show_report(ctx, "month")
            return
        await self._decide(ctx, need_id, "declined", reason=reason)

    async def _decide(self, ctx: Context, need_id: int, state: str, *, year: int | None = None,
                      reason: str | None = None) -> None:
        need = await needs.lock_need(ctx.session, need_id)
        if need is None:
            ctx.tell("needs.not_found")
            await self.show_report(ctx, "month")
            return
        try:
            needs.decide_need(need, state, ctx.now, catalog_year=year, note=reason)
        except IllegalTransition:
            ctx.tell("needs.already_decided")
            await self.show_need(ctx, need.id)
            return
        await record(ctx.session, ctx.now, f"identity:{ctx.identity.id}", state, "need", need.reference,
                     catalog_year=year, reason=reason)
        if need.identity_id is not None:
            detail: dict[str, Value] = {"year": year} if state == "taken" else {"reason": reason or ""}
            notice = Notice(f"needs.notice_{state}", {"reference": need.reference, **detail})
            await enqueue(ctx.session, Outgoing(need.identity_id, f"need:{need.id}:decision", notice), ctx.now)
        ctx.tell(f"needs.done_{state}", reference=need.reference, year=year or "")
        await self.show_need(ctx, need.id)

    # -- the export --------------------------------------------------------------------------
    async def export(self, ctx: Context) -> None:
        period = self._period(ctx)
        report = await needs.needs_report(ctx.session, period, ctx.settings.zone)
        rows = await needs.needs_in_period(ctx.session, period, ctx.settings.zone)
        content = workbook(report, rows, await self._labels(ctx), ctx.settings.zone)
        name = f"needs-{period.since.isoformat()}-{period.until.isoformat()}.xlsx"
        ctx.say(
            ctx.t("needs.export_ready", since=ctx.day(period.since), until=ctx.day(period.until), count=len(rows)),
            [[self._back(ctx)]], document=Attachment(name, content, XLSX_MIME),
        )
