"""A small world for reminder and outbox tests: one project with two milestones in October 2026, two
members of its organization (one reading English), staff of its department and of another one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.app import App
from bot.config import Settings
from store import models as m
from store.db import sessionmaker
from testing.factories import bind_identity, uscc

ZONE = ZoneInfo("Asia/Shanghai")


def local(y: int, mo: int, d: int, h: int = 9, mi: int = 0) -> datetime:
    """A Shanghai wall-clock time, as the aware UTC datetime the code is given."""
    return datetime(y, mo, d, h, mi, tzinfo=ZONE).astimezone(UTC)


def local_of(moment: datetime) -> datetime:
    return moment.astimezone(ZONE)


def settings(url: str, **extra: object) -> Settings:
    """The documented defaults, fixed here so the environment of the test run cannot change them."""
    values: dict[str, object] = {
        "database_url": url, "timezone": "Asia/Shanghai", "send_hour": "09:00", "quiet_hours": "21:00-08:00",
        "reminder_days": "14,7,3,1,0", "overdue_every_days": 3, "overdue_max": 5, "admins": "",
        "telegram_token": None, "holidays_file": None, "default_locale": "zh-Hans",
    }
    values.update(extra)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def app_for(engine: AsyncEngine, **extra: object) -> App:
    return App(settings(engine.url.render_as_string(hide_password=False), **extra), engine, sessionmaker(engine))


async def no_sleep(seconds: float) -> None:
    raise AssertionError(f"unexpected wait of {seconds} s")


@dataclass
class World:
    dept: m.Department
    org: m.Organization
    project: m.Project
    inspection: m.Milestone  # due 2026-10-20 17:00
    report: m.Milestone  # due 2026-10-16 17:00
    member_zh: m.Identity  # "m-zh", no language chosen (the default, zh-Hans)
    member_en: m.Identity  # "m-en", English
    staff: m.Identity  # "s-mz", staff of the project's department
    other_staff: m.Identity  # "s-cl", staff of another department


async def build_calendar_world(sessions: async_sessionmaker[AsyncSession]) -> World:
    at = local(2026, 9, 1)
    async with sessions() as s, s.begin():
        dept = m.Department(code="MZ", name_zh="临江市民政局", name_en="Linjiang Civil Affairs Bureau")
        other = m.Department(code="CL", name_zh="临江市残疾人联合会", name_en="Disabled Persons' Federation")
        s.add_all([dept, other])
        await s.flush()
        item = m.CatalogItem(year=2026, code="A01", level1_zh="养老服务", name_zh="居家养老服务", department_id=dept.id)
        org = m.Organization(uscc=uscc(20000001), name_zh="阳光社工服务中心", name_en="Sunshine Social Work Centre",
                             kind="social_service_org", district="南山区")
        s.add_all([item, org])
        await s.flush()
        project = m.Project(code="LJ-2026-009", year=2026, title_zh="阳光助老", title_en="Sunshine elderly care",
                            catalog_item_id=item.id, organization_id=org.id, department_id=dept.id,
                            amount_fen=30_000_000, status="in_progress", start_on=date(2026, 4, 1),
                            end_on=date(2027, 3, 31))
        s.add(project)
        await s.flush()
        inspection = m.Milestone(project_id=project.id, kind="midterm_inspection", due_at=local(2026, 10, 20, 17))
        report = m.Milestone(project_id=project.id, kind="midterm_report", due_at=local(2026, 10, 16, 17))
        s.add_all([inspection, report])
        member_zh = await bind_identity(s, "test", "m-zh", "org", org.id, at)
        member_en = await bind_identity(s, "test", "m-en", "org", org.id, at)
        member_en.locale = "en"
        staff = await bind_identity(s, "test", "s-mz", "staff", dept.id, at)
        other_staff = await bind_identity(s, "test", "s-cl", "staff", other.id, at)
        await bind_identity(s, "test", "resident", "resident", 0, at)
    return World(dept, org, project, inspection, report, member_zh, member_en, staff, other_staff)
