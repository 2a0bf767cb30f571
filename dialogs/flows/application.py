"""The guided project application (申报): call, catalog item, proposal, budget, staffing, outcomes.

Every accepted answer is saved into the organization's draft application at once, so leaving,
a restart or a second member of the same organization loses nothing; ``/apply`` resumes it.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from dialogs import notify
from dialogs.context import Context, Parse
from dialogs.fields import CHOICE, DATE_RANGE, INTEGER, LONG_TEXT, MONEY, TEXT, Choice, Field, Problem, Values
from dialogs.forms import Form
from dialogs.listing import localized
from nlu.numbers import parse_number
from store import applications as apps
from store.audit import record
from store.models import Application, Call, CatalogItem, Organization

ACTIVITY_FIELDS = ("casework", "group_sessions", "community_events")
BULLET = re.compile(r"^\s*(?:[-•·*]|\(?\d{1,2}[.、)）])\s*")
OUTCOME_LINE = re.compile(r"^(?P<text>.*?\S)[\s:：,，=]*(?P<target>\d[\d,]*(?:\.\d+)?|[零〇一二两三四五六七八九十百千万]+)\s*(?P<unit>%|人次|人|次|个|场|户|名|小时|节|篇)?$")
TARGET_SEPARATOR = re.compile(r"[；;]")
LIST_SEPARATOR = re.compile(r"[、，]|,(?!\d{3})")  # "1,000" is one number
MAX_OUTCOMES = 20


def add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise ValueError(day)


def _outcome_parts(text: str) -> list[str]:
    """One target per line or per "；"; a line listed with "、" or "，" is several targets when every
    part has its own ("个案30个、小组10场"), one otherwise ("服务老人、儿童 100人")."""
    parts = []
    for raw in text.splitlines():
        for chunk in TARGET_SEPARATOR.split(raw):
            line = BULLET.sub("", chunk).strip()
            if not line:
                continue
            pieces = [p.strip() for p in LIST_SEPARATOR.split(line) if p.strip()]
            if len(pieces) > 1 and all(OUTCOME_LINE.match(p) for p in pieces):
                parts.extend(pieces)
            else:
                parts.append(line)
    return parts


def parse_outcomes(text: str) -> list[dict[str, Any]] | None:
    """``description target`` per line (or per "；") → [{text, target, unit}]; None when one has no target."""
    outcomes = []
    for line in _outcome_parts(text):
        match = OUTCOME_LINE.match(line)
        if match is None:
            return None
        target = parse_number(match.group("target"))
        if target is None or target <= 0:
            return None
        outcomes.append({"text": match.group("text"), "target": float(target), "unit": match.group("unit") or ""})
    return outcomes or None


async def _call_choices(ctx: Context, values: Values) -> list[Choice]:
    calls = await apps.open_calls(ctx.session, ctx.now)
    return [Choice(str(c.id), localized(ctx, c.title_zh, c.title_en)) for c in calls]


async def _item_choices(ctx: Context, values: Values) -> list[Choice]:
    if "call" not in values:
        return []
    items = await apps.call_items(ctx.session, int(values["call"]))
    money = ctx.amounts(i.ceiling_fen for i in items)
    return [
        Choice(str(i.id), ctx.t("apply.item_label", name=localized(ctx, i.name_zh, i.name_en), ceiling=money(i.ceiling_fen)))
        for i in items
    ]


async def _organization(ctx: Context) -> Organization | None:
    if ctx.organization_id is None:
        return None
    return await ctx.get(Organization, ctx.organization_id)


async def _check_call(ctx: Context, value: str, values: Values) -> Problem | None:
    call = await ctx.get(Call, int(value))
    org = await _organization(ctx)
    if call is None or org is None:
        return Problem.of("form.error.choice", answer="")
    key = ("eligibility", call.id)
    if key not in ctx.memo:
        ctx.memo[key] = await apps.eligibility(ctx.session, org, call, ctx.now, ctx.today)
    if reasons := ctx.memo[key]:
        return Problem.of("apply.ineligible", reasons=_reasons_text(ctx, reasons))
    return None


def _reasons_text(ctx: Context, reasons: list[apps.Ineligible]) -> str:
    lines = []
    for r in reasons:
        detail = r.detail
        if isinstance(detail, date):
            detail = ctx.day(detail)
        elif r.code == "window":
            detail = ctx.moment(detail)
        lines.append(ctx.t(f"apply.reason.{r.code}", detail=detail))
    return "\n".join(lines)


async def _check_term(ctx: Context, value: list[str], values: Values) -> Problem | None:
    call = await ctx.get(Call, int(values["call"]))
    if call is None:
        return None
    start, end = date.fromisoformat(value[0]), date.fromisoformat(value[1])
    if start < ctx.today:
        return Problem.of("apply.error.start_past")
    if start.year != call.year:
        return Problem.of("apply.error.start_year", year=call.year)
    if end >= add_months(start, call.max_months):
        return Problem.of("apply.error.too_long", months=call.max_months)
    return None


async def _check_total(ctx: Context, value: int, values: Values) -> Problem | None:
    item = await ctx.get(CatalogItem, int(values["item"])) if "item" in values else None
    if item is not None and item.ceiling_fen is not None and value > item.ceiling_fen:
        return Problem.of("apply.error.over_ceiling", ceiling=ctx.money(item.ceiling_fen))
    return None


async def _check_admin(ctx: Context, value: int, values: Values) -> Problem | None:
    total = values.get("total") or 0
    limit = int(total * ctx.settings.admin_share_max)
    if value > limit:
        return Problem.of("apply.error.admin_share", share=f"{ctx.settings.admin_share_max:.0%}", limit=ctx.money(limit))
    return None


async def _check_lines_sum(ctx: Context, value: int, values: Values) -> Problem | None:
    lines = {**{k: values.get(k) or 0 for k in apps.BUDGET_LINES}, "other": value}
    total = values.get("total") or 0
    if sum(lines.values()) != total:
        money = ctx.amounts([sum(lines.values()), total])
        return Problem.of("apply.error.lines_sum", sum=money(sum(lines.values())), total=money(total))
    return None


async def _check_social_workers(ctx: Context, value: int, values: Values) -> Problem | None:
    if value > (values.get("staff_total") or 0):
        return Problem.of("apply.error.social_workers", total=values.get("staff_total") or 0)
    return None


async def _check_outcomes(ctx: Context, value: str, values: Values) -> Problem | None:
    outcomes = parse_outcomes(value)
    if outcomes is None:
        return Problem.of("apply.error.outcomes")
    if len(outcomes) > MAX_OUTCOMES:
        return Problem.of("apply.error.too_many_outcomes", limit=MAX_OUTCOMES)
    return None


def _money_field(name: str, check: Any = None) -> Field:
    return Field(name, MONEY, f"apply.ask.{name}", f"apply.label.{name}", minimum=0, check=check,
                 example="apply.example.line")


class ApplicationFlow(Form):
    name = "apply"
    commands = ("apply",)
    intents = ("apply",)
    roles = frozenset({"org"})
    refusal_key = "common.org_only"
    menu_key = "apply.menu"
    menu_order = 10
    can_save = True

    fields = (
        Field("call", CHOICE, "apply.ask.call", "apply.label.call", choices=_call_choices, check=_check_call,
              editable=False),
        Field("item", CHOICE, "apply.ask.item", "apply.label.item", choices=_item_choices),
        Field("title", TEXT, "apply.ask.title", "apply.label.title", max_len=60, minimum=4, example="apply.example.title"),
        Field("need", LONG_TEXT, "apply.ask.need", "apply.label.need", max_len=2000, minimum=20, example="apply.example.need"),
        Field("target_group", TEXT, "apply.ask.target_group", "apply.label.target_group", max_len=200, minimum=2,
              example="apply.example.target_group"),
        Field("beneficiaries", INTEGER, "apply.ask.beneficiaries", "apply.label.beneficiaries", minimum=1,
              maximum=1_000_000, example="apply.example.beneficiaries"),
        Field("objectives", LONG_TEXT, "apply.ask.objectives", "apply.label.objectives", max_len=1000, minimum=10,
              example="apply.example.objectives"),
        Field("casework", INTEGER, "apply.ask.casework", "apply.label.casework", minimum=0, maximum=100_000,
              example="apply.example.count"),
        Field("group_sessions", INTEGER, "apply.ask.group_sessions", "apply.label.group_sessions", minimum=0,
              maximum=100_000, example="apply.example.count"),
        Field("community_events", INTEGER, "apply.ask.community_events", "apply.label.community_events", minimum=0,
              maximum=100_000, example="apply.example.count"),
        Field("term", DATE_RANGE, "apply.ask.term", "apply.label.term", check=_check_term, example="apply.example.term"),
        Field("total", MONEY, "apply.ask.total", "apply.label.total", minimum=100, check=_check_total,
              example="apply.example.total"),
        _money_field("personnel"),
        _money_field("activities"),
        _money_field("materials"),
        _money_field("administration", _check_admin),
        _money_field("other", _check_lines_sum),
        Field("staff_total", INTEGER, "apply.ask.staff_total", "apply.label.staff_total", minimum=1, maximum=1000,
              example="apply.example.staff"),
        Field("social_workers", INTEGER, "apply.ask.social_workers", "apply.label.social_workers", minimum=0,
              maximum=1000, check=_check_social_workers, example="apply.example.staff"),
        Field("outcomes", LONG_TEXT, "apply.ask.outcomes", "apply.label.outcomes", max_len=2000, check=_check_outcomes,
              example="apply.example.outcomes"),
    )

    async def begin(self, ctx: Context, payload: str | None, parse: Parse | None = None) -> bool:
        org = await _organization(ctx)
        if org is None:
            ctx.tell("common.not_allowed")
            return False
        calls = await apps.open_calls(ctx.session, ctx.now)
        if not calls:
            ctx.tell("apply.no_open_call")
            return False
        drafts = await apps.drafts_in_open_calls(ctx.session, org.id, ctx.now)
        if drafts:
            draft = drafts[0]
            ctx.state.application = draft.id
            ctx.state.form.values = {**(draft.content or {}), "call": str(draft.call_id)}
            ctx.tell("apply.resuming", updated=ctx.moment(draft.updated_at))
            return True
        eligible = [c for c in calls if not await apps.eligibility(ctx.session, org, c, ctx.now, ctx.today)]
        if not eligible:
            reasons = await apps.eligibility(ctx.session, org, calls[0], ctx.now, ctx.today)
            ctx.tell("apply.ineligible_all", reasons=_reasons_text(ctx, reasons))
            return False
        ctx.tell("apply.intro", org=localized(ctx, org.name_zh, org.name_en))
        return True

    async def _application(self, ctx: Context) -> Application | None:
        app_id = ctx.state.application
        application = await ctx.get(Application, app_id) if app_id else None
        if application is None or application.organization_id != ctx.organization_id:
            return None
        return application

    async def store(self, ctx: Context, values: Values) -> None:
        if ctx.organization_id is None or "call" not in values:
            return
        application = await self._application(ctx)
        if application is None or application.status != "draft":
            application = await apps.get_or_create_draft(ctx.session, ctx.organization_id, int(values["call"]), ctx.now)
            ctx.state.application = application.id
            if application.content:  # another member started this draft: continue it
                merged = {**application.content, **values}
                values.clear()
                values.update(merged)
        application.content = dict(values)
        application.catalog_item_id = int(values["item"]) if "item" in values else None
        application.title = values.get("title")
        application.total_fen = values.get("total")
        if "term" in values:
            application.start_on = date.fromisoformat(values["term"][0])
            application.end_on = date.fromisoformat(values["term"][1])
        application.updated_at = ctx.now
        await ctx.session.flush()

    async def problems(self, ctx: Context, values: Values) -> list[Problem]:
        """Across fields, besides each field's own checks (``Form.summary_problems``): some activity planned."""
        if all(k in values for k in ACTIVITY_FIELDS) and not any(values[k] for k in ACTIVITY_FIELDS):
            return [Problem.of("apply.error.no_activities")]
        return []

    def summary_title(self, ctx: Context, values: Values) -> str:
        return ctx.t("apply.summary_title")

    async def submit(self, ctx: Context, values: Values) -> None:
        application = await self._application(ctx)
        call = await ctx.get(Call, int(values["call"]))
        if application is None or call is None or application.status != "draft":
            ctx.tell("apply.gone")
            ctx.state.clear()
            return
        # every answer was stored as it was accepted: only the parsed outcomes are new
        application.content = {**values, "outcomes_parsed": parse_outcomes(values["outcomes"])}
        lines = {k: int(values[k]) for k in apps.BUDGET_LINES}
        reference = await apps.submit_application(ctx.session, application, call, lines, ctx.now)
        await record(ctx.session, ctx.now, f"identity:{ctx.identity.id}", "submit", "application", reference,
                     organization_id=application.organization_id, total_fen=application.total_fen)
        await notify.application_submitted(ctx.session, application, ctx.now, submitted_by=ctx.identity.id)
        ctx.state.clear()
        ctx.tell("apply.submitted", reference=reference, title=values["title"], total=ctx.money(values["total"]))

    async def leave(self, ctx: Context) -> None:
        saved = ctx.state.application is not None
        ctx.state.clear()
        ctx.tell("form.saved" if saved else "common.cancelled")


