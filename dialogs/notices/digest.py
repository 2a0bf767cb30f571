"""The staff digest's body, written when it is sent: its department's (or the city's) figures as of then."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dialogs import i18n
from dialogs.flow import run_button
from dialogs.notices import bilingual
from dialogs.questions import Question, encode
from store.models import LOCALES, Department
from store.notices import AboutDigest, Day, Names, Notice, Text, Value
from store.reminders import DigestItem, DigestScope, digest_scopes

DIGEST_DAYS = 14
DIGEST_ITEMS = 5
DIGEST_BUTTONS = 6


def project_button(code: str) -> str:
    """Button data opening a project's record (the public-information flow answers it)."""
    return run_button("query", encode(Question("query_projects", project=code)))


class DigestPass:
    """The figures of every department (and the city) that the digests of one batch are for: one read."""

    def __init__(self, digests: Iterable[AboutDigest]) -> None:
        wanted = list(digests)
        self.department_ids = sorted({d.department for d in wanted if d.department is not None})
        self.include_all = any(d.department is None for d in wanted)
        self.scopes: dict[int | None, DigestScope] = {}
        self.names: dict[int, Names] = {}

    async def read(self, session: AsyncSession, now: datetime) -> None:
        if not self.department_ids and not self.include_all:
            return
        self.scopes = await digest_scopes(session, self.department_ids, self.include_all, now,
                                          now + timedelta(days=DIGEST_DAYS), DIGEST_ITEMS)
        departments = select(Department).where(Department.id.in_(self.department_ids))
        self.names = {d.id: bilingual(d.name_zh, d.name_en) for d in (await session.execute(departments)).scalars()}

    def body(self, digest: AboutDigest, zone: ZoneInfo) -> Notice:
        """The digest's notice as it is to be rendered."""
        scope_name = self.names.get(digest.department) if digest.department is not None else None
        return digest_body(self.scopes[digest.department], scope_name, digest.day, zone)


def _digest_lines(items: list[DigestItem], total: int, zone: ZoneInfo) -> Names:
    lines: dict[str, str] = {}
    for locale in LOCALES:
        rows = [
            i18n.t(locale, "digest.line", code=item.project_code,
                   title=i18n.name(locale, item.title_zh, item.title_en),
                   milestone=i18n.t(locale, f"lifecycle.milestone.{item.milestone_kind}"),
                   due=i18n.day(locale, item.due_at.astimezone(zone).date()))
            for item in items
        ]
        if total > len(items):
            rows.append(i18n.t(locale, "digest.more", count=total - len(items)))
        lines[locale] = "".join(rows)
    return Names(lines)


def digest_body(scope: DigestScope, scope_name: Names | None, today: date, zone: ZoneInfo) -> Notice:
    overdue, soon = scope.overdue_items, scope.soon_items
    values: dict[str, Value] = {
        "day": Day(today),
        "scope": scope_name or Text("digest.all_departments"),
        "overdue": scope.overdue, "overdue_lines": _digest_lines(overdue, scope.overdue, zone),
        "soon": scope.due_soon, "soon_lines": _digest_lines(soon, scope.due_soon, zone),
        "days": DIGEST_DAYS, "applications": scope.applications,
    }
    codes = list(dict.fromkeys(item.project_code for item in overdue + soon))[:DIGEST_BUTTONS]
    buttons = [tuple((code, project_button(code)) for code in codes[i:i + 3]) for i in range(0, len(codes), 3)]
    if scope.applications:
        buttons.append((("digest.open_applications", run_button("review")),))
    key = "digest.body" if not scope.empty else "digest.all_clear"
    return Notice(key, values, tuple(buttons))
