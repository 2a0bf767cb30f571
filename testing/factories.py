"""Small, explicit fixture data for conversation tests (the demo package covers the big picture)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from store import models as m
from store.uscc import make_uscc

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@dataclass
class World:
    dept: m.Department
    other_dept: m.Department
    item: m.CatalogItem
    item2: m.CatalogItem
    call: m.Call
    org: m.Organization
    org2: m.Organization
    barred_org: m.Organization
    unqualified_org: m.Organization
    project: m.Project
    other_project: m.Project


def uscc(n: int, authority: str = "5") -> str:
    return make_uscc(authority + "2", "440305", f"{n:08d}"[:8])


async def build_world(session: AsyncSession, now: datetime = NOW) -> World:
    year = now.year + 1
    dept = m.Department(code="MZ", name_zh="临江市民政局", name_en="Linjiang Civil Affairs Bureau")
    other = m.Department(code="CL", name_zh="临江市残疾人联合会", name_en="Linjiang Disabled Persons' Federation")
    session.add_all([dept, other])
    await session.flush()
    item = m.CatalogItem(year=year, code="A01", level1_zh="养老服务", level1_en="Elderly care", name_zh="居家养老服务",
                         name_en="Home-based elderly care", department_id=dept.id, ceiling_fen=50_000_000)
    item2 = m.CatalogItem(year=year, code="A02", level1_zh="社区治理", level1_en="Community", name_zh="社区营造",
                          name_en="Community building", department_id=dept.id, ceiling_fen=30_000_000)
    session.add_all([item, item2])
    call = m.Call(code=f"CALL-{year}-01", year=year, title_zh=f"{year}年度政府购买社会服务项目征集",
                  title_en=f"{year} call for social service projects", opens_at=now - timedelta(days=10),
                  closes_at=now + timedelta(days=20), max_months=12)
    session.add(call)
    orgs = []
    for n, (name, kw) in enumerate([
        ("阳光社工服务中心", {}),
        ("彩虹青少年服务社", {}),
        ("被禁入服务中心", {"barred_until": now.date() + timedelta(days=300)}),
        ("未入库服务社", {"qualified": False}),
    ], start=1):
        qualified = kw.pop("qualified", True)
        org = m.Organization(uscc=uscc(10000000 + n), name_zh=name, name_en=f"Org {n}", kind="social_service_org",
                             district="南山区", rating="4A", **kw)
        session.add(org)
        await session.flush()
        if qualified:
            session.add(m.Qualification(organization_id=org.id, year=year))
        orgs.append(org)
    await session.flush()
    session.add_all([m.CallItem(call_id=call.id, catalog_item_id=item.id), m.CallItem(call_id=call.id, catalog_item_id=item2.id)])
    cur_item = m.CatalogItem(year=now.year, code="A01", level1_zh="养老服务", name_zh="居家养老服务", department_id=dept.id)
    session.add(cur_item)
    await session.flush()
    projects = []
    for code, org in (("LJ-2026-001", orgs[0]), ("LJ-2026-002", orgs[1])):
        p = m.Project(code=code, year=now.year, title_zh=f"{org.name_zh}助老项目", title_en="Elderly project",
                      catalog_item_id=cur_item.id, organization_id=org.id, department_id=dept.id, district="南山区",
                      recipients=200, amount_fen=30_000_000, status="in_progress", start_on=date(now.year, 1, 1),
                      end_on=date(now.year, 12, 31))
        session.add(p)
        projects.append(p)
    await session.flush()
    return World(dept, other, item, item2, call, orgs[0], orgs[1], orgs[2], orgs[3], projects[0], projects[1])


async def bind_identity(session: AsyncSession, channel: str, external_id: str, role: str, ref_id: int, now: datetime = NOW) -> m.Identity:
    identity = m.Identity(channel=channel, external_id=external_id, role=role, created_at=now,
                          department_id=ref_id if role == "staff" else None,
                          organization_id=ref_id if role == "org" else None,
                          expert_id=ref_id if role == "expert" else None)
    session.add(identity)
    await session.flush()
    return identity


@dataclass
class ReviewWorld:
    world: World
    applications: list[m.Application]
    experts: list[m.Expert]
    identities: dict[str, m.Identity]  # expert code → bound identity


EXPERT_POOL = (("B1", "business"), ("B2", "business"), ("B3", "business"), ("B4", "business"), ("F1", "finance"),
               ("F2", "finance"), ("M1", "management"), ("M2", "management"), ("L1", "law"), ("L2", "law"))


async def build_review_world(session: AsyncSession, now: datetime = NOW, budget_fen: int = 100_000_000) -> ReviewWorld:
    """The world plus three eligible applications of the call, ten bound experts and the department's budget.

    Expert B4 is affiliated with the first applicant, so a draw must exclude it.
    """
    world = await build_world(session, now)
    year = world.call.year
    session.add(m.Budget(year=year, department_id=world.dept.id, amount_fen=budget_fen))
    applications = []
    for n, (org, total) in enumerate([(world.org, 40_000_000), (world.org2, 30_000_000), (world.org, 35_000_000)], 1):
        a = m.Application(
            reference=f"SB-{year}-{n:06d}", call_id=world.call.id, catalog_item_id=world.item.id, organization_id=org.id,
            status="eligible", title=f"申请{n}", start_on=date(year, 1, 1), end_on=date(year, 12, 31),
            total_fen=total, content={"title": f"申请{n}", "need": "老人需要陪伴"}, created_at=now,
            updated_at=now, submitted_at=now - timedelta(days=10 - n),
        )
        session.add(a)
        applications.append(a)
    experts = []
    identities = {}
    for n, (code, expert_field) in enumerate(EXPERT_POOL):
        e = m.Expert(code=code, name=f"专家{code}", field=expert_field,
                     affiliation_uscc=world.org.uscc if code == "B4" else None)
        session.add(e)
        await session.flush()
        identities[code] = await bind_identity(session, "telegram", str(9000 + n), "expert", e.id, now)
        experts.append(e)
    await session.flush()
    return ReviewWorld(world, applications, experts, identities)
