"""The bundled demo package: a fictional city, 临江市 / Linjiang City, with every date relative to today."""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from store.lifecycle import grade_of
from store.uscc import ALPHABET, make_uscc

# China has one time zone and no daylight saving, so a fixed offset is exact.
CHINA_TZ = timezone(timedelta(hours=8))

PACKAGE_HEADERS: dict[str, tuple[str, ...]] = {
    "departments.csv": ("code", "name_zh", "name_en"),
    "districts.csv": ("name_zh", "name_en"),
    "catalog.csv": (
        "year", "code", "level1_zh", "level1_en", "name_zh", "name_en",
        "description_zh", "description_en", "department_code", "ceiling_cny",
    ),
    "organizations.csv": (
        "uscc", "name_zh", "name_en", "kind", "district", "rating", "qualified_years", "barred_until",
    ),
    "budgets.csv": ("year", "department_code", "amount_cny", "note_zh", "note_en"),
    "calls.csv": ("code", "year", "title_zh", "title_en", "opens_at", "closes_at", "catalog_codes", "max_months"),
    "projects.csv": (
        "code", "year", "title_zh", "title_en", "catalog_code", "uscc", "department_code", "district",
        "recipients", "amount_cny", "status", "start_on", "end_on", "target_group_zh", "target_group_en",
        "summary_zh", "summary_en", "grade", "evaluation_score", "brand",
    ),
    "milestones.csv": ("project_code", "kind", "due_at", "done_at"),
    "disbursements.csv": ("project_code", "installment", "amount_cny", "paid_on"),
    "progress.csv": ("project_code", "reported_on", "text_zh", "text_en", "public"),
    "inspections.csv": ("project_code", "kind", "held_on", "score", "result", "summary_zh", "summary_en"),
    "experts.csv": ("code", "name", "field", "affiliation_uscc"),
    "members.csv": ("channel", "external_id", "role", "ref", "display_name", "locale"),
    "survey_responses.csv": ("response_id", "project_code", "submitted_on", "item", "value"),
}

MILESTONE_KINDS = (
    "contract_signing", "midterm_report", "midterm_inspection",
    "final_report", "final_acceptance", "performance_evaluation",
)
SATISFACTION_ITEMS = ("needs_met", "attitude", "skill", "convenience", "helpfulness", "responsiveness", "overall")


def fmt_money(fen: int) -> str:
    """Yuan with two decimals, as the import format wants (no separators, no unit)."""
    return f"{fen // 100}.{fen % 100:02d}"


def _fmt_datetime(day: date, hour: int, minute: int = 0) -> str:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CHINA_TZ).isoformat()



def _milestone_offsets(term_days: int) -> tuple[int, ...]:
    """Due dates of MILESTONE_KINDS in days from the start, for a term of ``term_days``."""
    mid = term_days // 2
    return (-7, mid - 7, mid + 7, term_days + 10, term_days + 30, term_days + 60)


def _write_csv(path: Path, header: tuple[str, ...], rows: Iterable[Mapping[str, object]]) -> None:
    """Writes dict rows; a missing key becomes an empty cell, an unknown one is an error."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, extrasaction="raise")
        writer.writeheader()
        writer.writerows(rows)


# --- the city ----------------------------------------------------------------------------------

DISTRICTS = {  # zh name -> (English name, division code)
    "南山区": ("Nanshan", "339902"),
    "江北区": ("Jiangbei", "339903"),
    "临湖区": ("Linhu", "339904"),
    "东城区": ("Dongcheng", "339905"),
    "西城区": ("Xicheng", "339906"),
}

DEPARTMENTS = (
    ("MZ", "临江市民政局", "Linjiang Civil Affairs Bureau"),
    ("CL", "临江市残疾人联合会", "Linjiang Disabled Persons' Federation"),
    ("TW", "共青团临江市委员会", "Communist Youth League Linjiang Committee"),
    ("WJ", "临江市卫生健康委员会", "Linjiang Health Commission"),
)

LEVEL1 = {  # catalog code prefix -> (level1_zh, level1_en, department)
    "YL": ("养老服务", "Elderly care", "MZ"),
    "QS": ("青少年服务", "Youth services", "TW"),
    "CJ": ("残疾人服务", "Disability services", "CL"),
    "SQ": ("社区治理", "Community governance", "MZ"),
    "XL": ("心理健康", "Mental health and counselling", "WJ"),
}


@dataclass(frozen=True)
class CatalogItem:
    code: str
    name_zh: str
    name_en: str
    description_zh: str
    description_en: str
    ceiling_yuan: int
    target_zh: str
    target_en: str
    # Project names (zh, en) that providers give to projects under this item.
    brands: tuple[tuple[str, str], ...] = ()
    first_year_offset: int = -1  # relative to today's year: -1 = has existed since last year

    @property
    def prefix(self) -> str:
        return self.code[:2]


CATALOG = (
    CatalogItem(
        "YL-01", "居家养老上门服务", "Home-based care visits for older people",
        "为居家老年人提供上门探访、生活照料和健康监测。",
        "Home visits, help with daily living and health monitoring for older people living at home.",
        300_000, "辖区60周岁以上居家老年人", "Residents aged 60+ living at home",
        (("阳光助老服务项目", "Sunshine Elder Care Project"),
         ("银龄守护居家探访计划", "Silver Guardians Home Visiting Programme"),
         ("暖心到家助老行动", "Warm Home Elder Support Initiative")),
    ),
    CatalogItem(
        "YL-02", "老年助餐服务", "Meal service for older people",
        "依托社区食堂提供老年助餐、送餐上门服务。",
        "Community canteen meals and meal delivery for older people.",
        250_000, "高龄、独居及困难老年人", "Very old, solitary and low-income older people",
        (("幸福食堂助餐项目", "Happy Canteen Meal Service Project"),
         ("邻里长者饭桌", "Neighbourhood Elders' Table"),
         ("爱心送餐服务项目", "Meals on Wheels Project")),
    ),
    CatalogItem(
        "YL-03", "失能老人照护者支持", "Support for carers of disabled older people",
        "为失能、半失能老人家庭照护者提供喘息服务和照护技能培训。",
        "Respite care and caregiving skills training for family carers of disabled older people.",
        200_000, "失能、半失能老人的家庭照护者", "Family carers of disabled and semi-disabled older people",
        (("照护者喘息服务项目", "Caregiver Respite Project"),
         ("家庭照护能力提升计划", "Family Caregiving Skills Programme"),
         ("携手同行照护者支持项目", "Walking Together Carer Support Project")),
    ),
    CatalogItem(
        "YL-04", "认知症友好社区建设", "Dementia-friendly communities",
        "开展认知症筛查、家属支持和友好社区倡导。",
        "Dementia screening, support for families and dementia-friendly community campaigns.",
        300_000, "认知症老人及其家属", "People living with dementia and their families",
        first_year_offset=1,
    ),
    CatalogItem(
        "QS-01", "困境儿童关爱服务", "Care for children in difficult circumstances",
        "为困境儿童提供个案帮扶、学业支持和监护指导。",
        "Casework, schooling support and guardianship guidance for children in difficult circumstances.",
        300_000, "困境儿童及其家庭", "Children in difficult circumstances and their families",
        (("护苗关爱困境儿童项目", "Sprout Care Project for Children in Difficulty"),
         ("童伴成长守护计划", "Childhood Companion Programme"),
         ("微光助童行动", "Glimmer Child Support Initiative")),
    ),
    CatalogItem(
        "QS-02", "青少年课后成长辅导", "After-school support for young people",
        "开设课后托管、兴趣小组和成长辅导。",
        "After-school care, interest groups and personal development guidance.",
        200_000, "6至14岁社区青少年", "Young people aged 6 to 14",
        (("青苗成长计划", "Green Sprouts Growth Programme"),
         ("四点半课堂", "Half-Past-Four After-School Club"),
         ("逐梦少年成长营", "Dream Chasers Youth Camp")),
    ),
    CatalogItem(
        "QS-03", "青少年法治与安全教育", "Legal and safety education for young people",
        "在学校和社区开展法治宣传、防欺凌和自护教育。",
        "Legal awareness, anti-bullying and self-protection education in schools and communities.",
        150_000, "中小学生", "Primary and secondary school students",
        (("青少年法治护航项目", "Youth Legal Awareness Project"),
         ("平安少年自护教育项目", "Safe Youth Self-Protection Education Project"),
         ("模拟法庭进校园", "Moot Court in Schools")),
    ),
    CatalogItem(
        "CJ-01", "残疾人社区康复", "Community rehabilitation for persons with disabilities",
        "在社区康复站和家庭中开展康复训练与辅具适配。",
        "Rehabilitation training and assistive device fitting at community stations and at home.",
        350_000, "持证残疾人", "Registered persons with disabilities",
        (("康乐家园社区康复项目", "Kangle Home Community Rehabilitation Project"),
         ("助残康复到家服务", "Rehabilitation at Home Service"),
         ("阳光康复驿站", "Sunshine Rehabilitation Station")),
    ),
    CatalogItem(
        "CJ-02", "残疾人辅助性就业支持", "Supported employment for persons with disabilities",
        "提供职业评估、技能培训和辅助性就业岗位。",
        "Vocational assessment, skills training and supported employment placements.",
        300_000, "有就业意愿的劳动年龄残疾人", "Working-age persons with disabilities who want to work",
        (("残疾人就业启航计划", "Setting Sail Disability Employment Programme"),
         ("手作工坊辅助就业项目", "Handicraft Workshop Supported Employment Project"),
         ("融合就业支持项目", "Inclusive Employment Support Project")),
    ),
    CatalogItem(
        "CJ-03", "孤独症儿童家庭支持", "Support for families of autistic children",
        "为孤独症儿童提供融合活动，为家长提供培训和喘息服务。",
        "Inclusive activities for autistic children; training and respite for their parents.",
        250_000, "孤独症儿童及其家长", "Autistic children and their parents",
        (("星星的孩子家庭支持项目", "Children of the Stars Family Support Project"),
         ("孤独症儿童融合成长计划", "Inclusive Growth Programme for Autistic Children"),
         ("星语家长赋能项目", "Star Whisper Parent Empowerment Project")),
    ),
    CatalogItem(
        "SQ-01", "社区协商议事能力建设", "Community deliberation capacity building",
        "培育居民议事会，推动社区公共事务协商解决。",
        "Residents' councils that settle neighbourhood matters by deliberation.",
        200_000, "社区居民和居委会", "Residents and residents' committees",
        (("邻里议事厅建设项目", "Neighbourhood Council Project"),
         ("居民协商共治项目", "Resident Co-Governance Project"),
         ("楼道议事会培育项目", "Stairwell Councils Project")),
    ),
    CatalogItem(
        "SQ-02", "社区志愿服务培育", "Community volunteering",
        "建设志愿服务站点，招募培训志愿者，开展邻里互助。",
        "Volunteer stations, volunteer recruitment and training, neighbourly mutual aid.",
        150_000, "社区居民和志愿者", "Residents and volunteers",
        (("社区志愿服务站点培育项目", "Community Volunteer Station Project"),
         ("时间银行互助志愿项目", "Time Bank Mutual Aid Project"),
         ("邻里守望志愿行动", "Neighbourhood Watch Volunteer Initiative")),
    ),
    CatalogItem(
        "SQ-03", "社区社会组织孵化", "Incubation of community-based organizations",
        "为社区社会组织提供场地、培训和陪伴式成长支持。",
        "Space, training and mentoring for community-based organizations.",
        250_000, "社区社会组织骨干", "Leaders of community-based organizations",
        (("社区社会组织孵化基地项目", "Community Organization Incubator Project"),
         ("草根组织成长陪伴计划", "Grassroots Organization Mentoring Programme"),
         ("社区能人培育项目", "Community Leaders Development Project")),
    ),
    CatalogItem(
        "XL-01", "心理援助热线运营", "Psychological assistance hotline",
        "运营心理援助热线，提供危机识别与转介。",
        "A psychological assistance hotline with crisis screening and referral.",
        300_000, "全市有心理援助需求的市民", "Residents in need of psychological help",
        (("心晴热线心理援助项目", "Xinqing Psychological Assistance Hotline"),
         ("24小时心理援助热线运营项目", "24-Hour Psychological Assistance Hotline"),
         ("倾听者热线服务项目", "Listening Line Service Project")),
    ),
    CatalogItem(
        "XL-02", "社区心理支持服务", "Community psychological support",
        "在社区开展心理咨询、支持小组和心理健康讲座。",
        "Counselling, support groups and mental health talks in the community.",
        250_000, "社区居民", "Residents",
        (("心晴家园心理支持项目", "Xinqing Home Psychological Support Project"),
         ("社区心灵驿站项目", "Community Wellbeing Station Project"),
         ("家庭心理健康支持项目", "Family Mental Health Support Project")),
    ),
    CatalogItem(
        "XL-03", "老年人心理关爱", "Mental health care for older people",
        "为老年人提供心理健康筛查、陪伴和干预服务。",
        "Mental health screening, companionship and intervention for older people.",
        200_000, "空巢、独居老年人", "Older people living alone",
        (("银发心理关爱项目", "Silver Hair Mental Health Care Project"),
         ("夕阳心语陪伴项目", "Sunset Conversations Companion Project"),
         ("老年人心理健康筛查与干预项目", "Mental Health Screening and Intervention for Older People")),
    ),
    CatalogItem(
        "XL-04", "青少年心理危机干预", "Youth mental health crisis intervention",
        "建立学校、家庭、社区联动的青少年心理危机识别与干预机制。",
        "School, family and community working together to spot and respond to youth mental health crises.",
        350_000, "中小学生及其家长", "School students and their parents",
        first_year_offset=1,
    ),
)
_ITEMS = {item.code: item for item in CATALOG}


@dataclass(frozen=True)
class Org:
    key: str
    name_zh: str
    name_en: str
    kind: str
    district: str
    rating: str
    serves: str  # catalog prefixes this organization delivers, e.g. "YL XL"


_PREFIX_BY_KIND = {
    "social_group": "51", "social_service_org": "52", "foundation": "53",
    "enterprise": "91", "public_institution": "12", "other": "N2",  # N2: village collective economy
}

ORGANIZATIONS = (
    Org("sunshine", "临江市阳光社会工作服务中心", "Linjiang Sunshine Social Work Service Center",
        "social_service_org", "南山区", "5A", "YL SQ QS"),
    Org("tongxin", "临江市江北区同心社会工作服务社", "Jiangbei Tongxin Social Work Agency",
        "social_service_org", "江北区", "4A", "YL QS SQ"),
    Org("yikang", "临江市临湖区颐康居家养老服务中心", "Linhu Yikang Home Care Service Center",
        "social_service_org", "临湖区", "4A", "YL"),
    Org("qingmiao", "临江市东城区青苗青少年发展中心", "Dongcheng Qingmiao Youth Development Center",
        "social_service_org", "东城区", "3A", "QS"),
    Org("xinqing", "临江市心晴心理咨询服务中心", "Linjiang Xinqing Counselling Center",
        "social_service_org", "西城区", "4A", "XL"),
    Org("kangle", "临江市西城区康乐残疾人康复服务中心", "Xicheng Kangle Rehabilitation Service Center",
        "social_service_org", "西城区", "3A", "CJ"),
    Org("linli", "临江市南山区邻里守望社区服务中心", "Nanshan Good Neighbours Community Service Center",
        "social_service_org", "南山区", "3A", "SQ YL"),
    Org("xingyu", "临江市星语孤独症儿童支持中心", "Linjiang Xingyu Autism Family Support Center",
        "social_service_org", "江北区", "4A", "CJ"),
    Org("leling", "临江市江北区乐龄助餐服务中心", "Jiangbei Leling Meal Service Center",
        "social_service_org", "江北区", "", "YL"),
    Org("qihang", "临江市启航青少年社会工作服务中心", "Linjiang Qihang Youth Social Work Center",
        "social_service_org", "临湖区", "5A", "QS XL"),
    Org("hemei", "临江市东城区和美社区发展中心", "Dongcheng Hemei Community Development Center",
        "social_service_org", "东城区", "3A", "SQ"),
    Org("yizhong", "临江市益众公益服务中心", "Linjiang Yizhong Public Welfare Service Center",
        "social_service_org", "南山区", "4A", "SQ CJ YL"),
    Org("nuanyang", "临江市临湖区暖阳社会工作服务社", "Linhu Nuanyang Social Work Agency",
        "social_service_org", "临湖区", "2A", "YL QS"),
    Org("yinling", "临江市西城区银龄互助服务中心", "Xicheng Yinling Mutual Aid Center",
        "social_service_org", "西城区", "3A", "YL XL"),
    Org("boai", "临江市博爱残疾人就业服务中心", "Linjiang Bo'ai Disability Employment Service Center",
        "social_service_org", "东城区", "4A", "CJ"),
    Org("zhixin", "临江市南山区知心心理健康服务中心", "Nanshan Zhixin Mental Health Service Center",
        "social_service_org", "南山区", "", "XL"),
    Org("humiao", "临江市江北区护苗儿童关爱中心", "Jiangbei Humiao Child Care Center",
        "social_service_org", "江北区", "3A", "QS"),
    Org("zhongyi", "临江市众益社区社会组织发展中心", "Linjiang Zhongyi Community Organization Development Center",
        "social_service_org", "临湖区", "5A", "SQ"),
    Org("ankang", "临江市东城区安康护理服务中心", "Dongcheng Ankang Care Service Center",
        "social_service_org", "东城区", "2A", "YL"),
    Org("caihong", "临江市西城区彩虹青少年服务中心", "Xicheng Rainbow Youth Service Center",
        "social_service_org", "西城区", "3A", "QS"),
    Org("tongxing", "临江市同行社会工作服务中心", "Linjiang Tongxing Social Work Center",
        "social_service_org", "南山区", "4A", "XL QS YL"),
    Org("chenguang", "临江市临湖区晨光康复服务中心", "Linhu Chenguang Rehabilitation Center",
        "social_service_org", "临湖区", "3A", "CJ"),
    Org("swassoc", "临江市社会工作者协会", "Linjiang Association of Social Workers",
        "social_group", "东城区", "5A", "SQ"),
    Org("volunteers", "临江市志愿者协会", "Linjiang Volunteers Association",
        "social_group", "西城区", "4A", "SQ"),
    Org("seniorsport", "临江市老年人体育协会", "Linjiang Senior Sports Association",
        "social_group", "江北区", "3A", "YL"),
    Org("mhassoc", "临江市心理卫生协会", "Linjiang Mental Health Association",
        "social_group", "南山区", "4A", "XL"),
    Org("physdis", "临江市肢残人协会", "Linjiang Association of Persons with Physical Disabilities",
        "social_group", "临湖区", "", "CJ"),
    Org("charity", "临江市扶老助残慈善基金会", "Linjiang Foundation for Older and Disabled People",
        "foundation", "东城区", "4A", "CJ"),
    Org("kangyang", "临江康养科技有限公司", "Linjiang Kangyang Health Technology Co., Ltd.",
        "enterprise", "江北区", "", "YL"),
    Org("smartcomm", "临江市智慧社区服务有限公司", "Linjiang Smart Community Services Co., Ltd.",
        "enterprise", "临湖区", "", ""),
    Org("swguide", "临江市社会工作指导中心", "Linjiang Social Work Guidance Center",
        "public_institution", "东城区", "", "SQ"),
    Org("liuwan", "临江市江北区柳湾村股份经济合作社", "Liuwan Village Joint-Stock Economic Cooperative",
        "other", "江北区", "", "SQ"),
)
# Providers with a story: one graded 不合格 last year (off next year's list), one barred for breach.
_FAILED_ORG = "nuanyang"
_BARRED_ORG = "ankang"
_UNLISTED_ORG = "smartcomm"

EXPERTS = (
    ("EXP-001", "王立平", "business", "swassoc"),
    ("EXP-002", "陈敏", "business", "swguide"),
    ("EXP-003", "刘晓燕", "business", ""),
    ("EXP-004", "赵建国", "finance", ""),
    ("EXP-005", "孙丽", "finance", "charity"),
    ("EXP-006", "周海涛", "management", "sunshine"),
    ("EXP-007", "吴芳", "management", ""),
    ("EXP-008", "郑伟", "law", ""),
    ("EXP-009", "冯雪", "law", "volunteers"),
    ("EXP-010", "何志强", "finance", ""),
)

PROGRESS_TEXTS = {  # prefix -> public templates (zh, en) with {n} and {m} counts
    "YL": (("本月开展入户探访{n}人次，组织健康讲座{m}场。", "This month: {n} home visits and {m} health talks."),
           ("完成老年人需求评估{n}份，建立服务档案{m}份。",
            "{n} needs assessments of older people done, {m} service records opened.")),
    "QS": (("开展课后辅导{n}人次，举办成长小组{m}期。", "{n} after-school tutoring sessions and {m} growth groups held."),
           ("完成困境儿童家访{n}户，链接助学资源{m}项。",
            "{n} family visits to children in difficulty, {m} schooling resources linked.")),
    "CJ": (("提供康复训练{n}人次，适配辅具{m}件。", "{n} rehabilitation sessions given, {m} assistive devices fitted."),
           ("开展职业技能培训{n}人次，推荐就业{m}人。",
            "{n} vocational training attendances, {m} people referred to jobs.")),
    "SQ": (("召开居民议事会{m}次，参与居民{n}人次。", "{m} residents' council meetings with {n} attendances."),
           ("招募培训志愿者{n}名，开展志愿服务{m}场。", "{n} volunteers recruited and trained, {m} volunteer events held.")),
    "XL": (("接听心理援助来电{n}人次，危机转介{m}例。", "{n} hotline calls answered, {m} crisis referrals made."),
           ("开展心理咨询{n}人次，举办心理健康讲座{m}场。",
            "{n} counselling sessions and {m} mental health talks held.")),
}
INTERNAL_NOTES = (
    ("与街道协调活动场地，下月起移至社区服务站。", "Venue agreed with the sub-district office: from next month at the community service station."),
    ("一名持证社工离职，已启动招聘。", "One certified social worker left; recruitment has started."),
    ("第二季度服务量低于计划，已调整排班。", "Second-quarter service volume below plan; the rota has been changed."),
)
SUGGESTIONS = (  # respondents' own words, so Chinese only
    "希望增加周末活动。",
    "服务时间可以更灵活一些。",
    "社工很耐心，希望项目继续。",
    "希望活动场地离家更近。",
    "建议提前通知活动安排。",
)


# --- project plan ------------------------------------------------------------------------------

# (status, scenario, how many) — scenarios place each project in its lifecycle relative to today.
_PLAN = (
    ("publicized", "notice", 5),
    ("contracted", "signed", 5),
    ("in_progress", "early", 5),
    ("in_progress", "report_due_soon", 3),
    ("in_progress", "report_overdue", 2),
    ("in_progress", "rectify", 1),
    ("in_progress", "inspection_due_soon", 3),
    ("in_progress", "inspection_overdue", 2),
    ("midterm_passed", "running", 5),
    ("midterm_passed", "final_report_due_soon", 2),
    ("midterm_passed", "final_report_overdue", 1),
    ("closing", "acceptance_due_soon", 2),
    ("closing", "evaluation_pending", 3),
    ("closing", "evaluation_overdue", 1),
    ("closed", "closed", 10),
    ("terminated", "terminated", 2),
)
# Milestones done (in MILESTONE_KINDS order) per scenario.
_DONE = {
    "notice": 0, "signed": 1, "early": 1, "report_due_soon": 1, "report_overdue": 1, "rectify": 2,
    "inspection_due_soon": 2, "inspection_overdue": 2, "running": 3, "final_report_due_soon": 3,
    "final_report_overdue": 3, "acceptance_due_soon": 4, "evaluation_pending": 5, "evaluation_overdue": 5,
    "closed": 6, "terminated": 3,
}
_CLOSED_SCORES = (95, 92, 90, 88, 86, 84, 81, 76, 68, 56)
_SURVEYED_CLOSED = (0, 1, 3, 5, 7, 9)  # indexes into the closed projects, best score first


@dataclass
class _Project:
    code: str
    year: int
    item: CatalogItem
    org: Org
    district: str
    status: str
    scenario: str
    start: date
    term_days: int
    amount_yuan: int
    title_zh: str
    title_en: str
    recipients: int | None
    tranches: tuple[int, ...]
    score: int | None = None
    brand: bool = False
    due: list[date] = field(default_factory=list)
    done: list[date] = field(default_factory=list)

    @property
    def end(self) -> date:
        return self.start + timedelta(days=self.term_days)


def _start_for(scenario: str, today: date, term: int, rng: random.Random) -> date:
    """The start date that puts a project of this scenario where it should be today."""
    mid = term // 2
    # scenario -> (that scenario's anchor milestone in days from the start, its date in days from today)
    anchors: dict[str, tuple[int, Callable[[], int]]] = {
        "notice": (-7, lambda: rng.randint(5, 25)),
        "signed": (0, lambda: rng.randint(1, 14)),
        "early": (0, lambda: -rng.randint(20, mid - 40)),
        "report_due_soon": (mid - 7, lambda: rng.randint(1, 12)),
        "report_overdue": (mid - 7, lambda: -rng.randint(2, 9)),
        "rectify": (mid + 7, lambda: -12),
        "inspection_due_soon": (mid + 7, lambda: rng.randint(1, 10)),
        "inspection_overdue": (mid + 7, lambda: -rng.randint(2, 6)),
        "running": (mid + 7, lambda: -rng.randint(20, term - mid - 40)),
        "final_report_due_soon": (term + 10, lambda: rng.randint(1, 12)),
        "final_report_overdue": (term + 10, lambda: -4),
        "acceptance_due_soon": (term + 30, lambda: rng.randint(2, 15)),
        "evaluation_pending": (term + 60, lambda: rng.randint(5, 20)),
        "evaluation_overdue": (term + 60, lambda: -3),
        "closed": (term + 60, lambda: -rng.randint(20, 150)),
        "terminated": (mid + 7, lambda: -rng.randint(20, 80)),
    }
    offset, when = anchors[scenario]
    return today + timedelta(days=when() - offset)


def _plan_projects(today: date, rng: random.Random) -> list[_Project]:
    years = (today.year - 1, today.year, today.year + 1)
    items = [item for item in CATALOG if item.brands]
    orgs_by_prefix = {
        prefix: [o for o in ORGANIZATIONS if prefix in o.serves.split() and o.key != _BARRED_ORG]
        for prefix in LEVEL1
    }
    barred = next(o for o in ORGANIZATIONS if o.key == _BARRED_ORG)
    failed = next(o for o in ORGANIZATIONS if o.key == _FAILED_ORG)
    used_titles: set[str] = set()
    projects: list[_Project] = []
    terminated_seen = closed_seen = 0
    for status, scenario, count in _PLAN:
        for _ in range(count):
            term = rng.choice((364, 364, 303, 273))
            start = _start_for(scenario, today, term, rng)
            # This year's call closed ~290 days ago: later starts are this year's projects.
            year = years[1] if start > today - timedelta(days=270) else years[0]
            score = None
            if status == "closed":
                score = _CLOSED_SCORES[closed_seen]
                closed_seen += 1
            if scenario == "terminated" and terminated_seen == 0:
                item, org = _ITEMS["YL-01"], barred
                terminated_seen += 1
            elif score is not None and score < 60:
                item, org = _ITEMS["QS-02"], failed
            else:
                item = rng.choice(items)
                org = rng.choice(orgs_by_prefix[item.prefix])
            district, brand_zh, brand_en = _pick_title(item, org.district, used_titles, rng)
            used_titles.add(district + brand_zh)
            amount = item.ceiling_yuan * rng.choice((6, 7, 8, 9, 10)) // 10
            projects.append(_Project(
                code="",
                year=year, item=item, org=org, district=district, status=status, scenario=scenario, start=start,
                term_days=term, amount_yuan=amount,
                title_zh=district + brand_zh, title_en=f"{DISTRICTS[district][0]} {brand_en}",
                # Newly approved projects do not always know their head count yet.
                recipients=None if scenario == "notice" and len(projects) % 2 == 0 else rng.randrange(80, 600, 5),
                tranches=rng.choice(((50, 30, 20), (50, 30, 20), (60, 40))),
                score=score, brand=score is not None and score >= 92,
            ))
    # Codes run in order of start within each year, as a registry would number them.
    projects.sort(key=lambda p: (p.start, p.title_zh))
    serial = dict.fromkeys(years, 0)
    for project in projects:
        serial[project.year] += 1
        project.code = f"LJ-{project.year}-{serial[project.year]:03d}"
        _schedule(project, today, rng)
    return projects


def _pick_title(item: CatalogItem, district: str, used: set[str], rng: random.Random) -> tuple[str, str, str]:
    """A (district, name_zh, name_en) not used yet, preferring the provider's own district."""
    for zh, en in rng.sample(item.brands, len(item.brands)):
        if district + zh not in used:
            return district, zh, en
    return next((d, zh, en) for d in DISTRICTS for zh, en in item.brands if d + zh not in used)


def _schedule(project: _Project, today: date, rng: random.Random) -> None:
    yesterday = today - timedelta(days=1)
    project.due = [project.start + timedelta(days=o) for o in _milestone_offsets(project.term_days)]
    if project.scenario == "rectify":
        # After a 整改 result the re-inspection gets a new date.
        project.due[2] = today + timedelta(days=8)
    for due in project.due[: _DONE[project.scenario]]:
        project.done.append(min(due + timedelta(days=rng.randint(-4, 2)), yesterday))


def _round_up(value: int, step: int) -> int:
    return -(-value // step) * step


# --- rows ----------------------------------------------------------------------------------------

def _uscc_for(org: Org, rng: random.Random) -> str:
    division = DISTRICTS[org.district][1]
    if org.kind in ("social_service_org", "social_group", "foundation"):
        body = "MJ" + "".join(rng.choice(ALPHABET) for _ in range(6))
    elif org.kind == "enterprise":
        body = "MA" + "".join(rng.choice(ALPHABET) for _ in range(6))
    else:
        body = "".join(rng.choice("0123456789") for _ in range(8))
    return make_uscc(_PREFIX_BY_KIND[org.kind], division, body)


def _milestone_rows(p: _Project) -> Iterable[dict[str, object]]:
    kinds = MILESTONE_KINDS[: len(p.done)] if p.status == "terminated" else MILESTONE_KINDS
    for i, kind in enumerate(kinds):
        done = p.done[i] if i < len(p.done) else None
        yield {
            "project_code": p.code, "kind": kind, "due_at": _fmt_datetime(p.due[i], 17),
            "done_at": _fmt_datetime(done, 10, 30) if done else "",
        }


def _disbursement_rows(p: _Project, today: date) -> Iterable[dict[str, object]]:
    # Tranche 1 after the contract; with 50/30/20 the 2nd follows a passed mid-term inspection;
    # the last follows final acceptance and is withheld when the evaluation fails.
    triggers = [(0, 5), (2, 7), (4, 10)] if len(p.tranches) == 3 else [(0, 5), (4, 10)]
    if p.scenario in ("rectify", "terminated"):
        triggers = triggers[:1]
    if p.score is not None and p.score < 60:
        triggers = triggers[:-1]
    for installment, (share, (milestone, delay)) in enumerate(zip(p.tranches, triggers, strict=False), 1):
        if milestone >= len(p.done):
            return
        paid = p.done[milestone] + timedelta(days=delay)
        if paid >= today:
            return
        yield {
            "project_code": p.code, "installment": installment,
            "amount_cny": fmt_money(p.amount_yuan * share), "paid_on": paid.isoformat(),
        }


def _progress_rows(p: _Project, today: date, rng: random.Random) -> Iterable[dict[str, object]]:
    if p.status in ("publicized", "contracted"):
        return
    last = min(p.end, today - timedelta(days=1))
    span = (last - p.start).days
    if span < 20:
        return
    count = 1 + min(2, span // 90)
    days = sorted(rng.sample(range(15, span + 1), count))
    for i, offset in enumerate(days):
        if i == count - 1 and count > 1:
            text_zh, text_en = rng.choice(INTERNAL_NOTES)
            public = 0
        else:
            zh, en = PROGRESS_TEXTS[p.item.prefix][i % 2]
            n, m = rng.randint(40, 400), rng.randint(2, 12)
            text_zh, text_en, public = zh.format(n=n, m=m), en.format(n=n, m=m), 1
        yield {
            "project_code": p.code, "reported_on": (p.start + timedelta(days=offset)).isoformat(),
            "text_zh": text_zh, "text_en": text_en, "public": public,
        }


def _inspection_rows(p: _Project, today: date, rng: random.Random) -> Iterable[dict[str, object]]:
    if p.scenario == "rectify":
        yield {
            "project_code": p.code, "kind": "midterm", "held_on": (today - timedelta(days=12)).isoformat(),
            "score": rng.randint(62, 69), "result": "rectify",
            "summary_zh": "服务台账不完整，个案记录缺失，限期一个月整改。",
            "summary_en": "Service ledger incomplete and case notes missing; to be rectified within a month.",
        }
    if len(p.done) >= 3:
        failed = p.status == "terminated"
        yield {
            "project_code": p.code, "kind": "midterm", "held_on": p.done[2].isoformat(),
            "score": rng.randint(42, 55) if failed else rng.randint(75, 95),
            "result": "fail" if failed else "pass",
            "summary_zh": "服务量严重不足，资金使用不规范，建议终止项目。" if failed
            else "服务按计划推进，台账规范，同意拨付下一期资金。",
            "summary_en": "Far too little service delivered and irregular spending; termination recommended."
            if failed else "Services on schedule and ledger in order; next tranche approved.",
        }
    if len(p.done) >= 5:
        yield {
            "project_code": p.code, "kind": "final", "held_on": p.done[4].isoformat(),
            "score": rng.randint(70, 96), "result": "pass",
            "summary_zh": "完成合同约定服务指标，资料齐全，同意结项。",
            "summary_en": "Contracted outputs delivered and records complete; project accepted.",
        }
    if p.score is not None:
        passed = p.score >= 60
        yield {
            "project_code": p.code, "kind": "evaluation", "held_on": p.done[5].isoformat(),
            "score": p.score, "result": "pass" if passed else "fail",
            "summary_zh": "第三方评估：目标达成，服务对象满意度高。" if passed
            else "第三方评估：主要绩效目标未达成。",
            "summary_en": "Third-party evaluation: objectives met, recipients highly satisfied." if passed
            else "Third-party evaluation: main performance targets not met.",
        }


def _age_group(prefix: str, rng: random.Random) -> str:
    if prefix == "YL":
        return rng.choice(("60_79", "60_79", "80_plus"))
    if prefix == "QS":
        return rng.choice(("under_18", "under_18", "18_59"))
    return rng.choice(("18_59", "18_59", "60_79", "under_18"))


def _survey_rows(p: _Project, today: date, rng: random.Random) -> Iterable[dict[str, object]]:
    assert p.score is not None
    # Better-graded projects get happier answers.
    weights = {5: p.score - 40, 4: 30, 3: 10, 2: max(2, 70 - p.score), 1: max(1, 60 - p.score)}
    for n in range(1, rng.randint(6, 12) + 1):
        response_id = f"{p.code}-S{n:02d}"
        submitted = min(p.end + timedelta(days=rng.randint(-20, 15)), today - timedelta(days=1))
        overall = rng.choices(list(weights), list(weights.values()))[0]
        answers: list[tuple[str, object]] = [
            (item, min(5, max(1, overall + rng.choice((-1, 0, 0, 0, 1))))) for item in SATISFACTION_ITEMS[:-1]
        ]
        if n != 3:  # one paper form came back without the overall question answered
            answers.append(("overall", overall))
        answers.append(("recommend", min(10, max(0, overall * 2 + rng.randint(-2, 1)))))
        answers.append(("age_group", _age_group(p.item.prefix, rng)))
        answers.append(("sessions", rng.randint(1, 20)))
        if rng.random() < 0.4:
            answers.append(("suggestion", rng.choice(SUGGESTIONS)))
        if n != 3 and overall <= 2:
            answers.append(("what_went_wrong", "活动经常临时取消。"))
        for item, value in answers:
            yield {
                "response_id": response_id, "project_code": p.code,
                "submitted_on": submitted.isoformat(), "item": item, "value": value,
            }


def write_demo_package(out_dir: Path, today: date, seed: int = 2026) -> None:
    """Writes the demo package (all files of the import format) into ``out_dir``."""
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    years = (today.year - 1, today.year, today.year + 1)
    projects = _plan_projects(today, rng)
    usccs = {org.key: _uscc_for(org, rng) for org in ORGANIZATIONS}

    def write(name: str, rows: Iterable[Mapping[str, object]]) -> None:
        _write_csv(out_dir / name, PACKAGE_HEADERS[name], rows)

    write("departments.csv", ({"code": c, "name_zh": zh, "name_en": en} for c, zh, en in DEPARTMENTS))
    write("districts.csv", ({"name_zh": zh, "name_en": f"{en} District"} for zh, (en, _) in DISTRICTS.items()))

    catalog = [
        (year, item) for year in years for item in CATALOG if year >= today.year + item.first_year_offset
    ]
    write("catalog.csv", (
        {
            "year": year, "code": item.code,
            "level1_zh": LEVEL1[item.prefix][0], "level1_en": LEVEL1[item.prefix][1],
            "name_zh": item.name_zh, "name_en": item.name_en,
            "description_zh": item.description_zh, "description_en": item.description_en,
            "department_code": LEVEL1[item.prefix][2], "ceiling_cny": fmt_money(item.ceiling_yuan * 100),
        }
        for year, item in catalog
    ))

    project_years: dict[str, set[int]] = {}
    for p in projects:
        project_years.setdefault(p.org.key, set()).add(p.year)

    def qualified(org: Org) -> str:
        if org.key == _UNLISTED_ORG:
            return ""
        listed = set(years)
        if org.key in (_FAILED_ORG, _BARRED_ORG):
            listed.discard(years[-1])
        return ";".join(str(y) for y in sorted(listed | project_years.get(org.key, set())))

    write("organizations.csv", (
        {
            "uscc": usccs[o.key], "name_zh": o.name_zh, "name_en": o.name_en, "kind": o.kind,
            "district": o.district, "rating": o.rating, "qualified_years": qualified(o),
            "barred_until": (today + timedelta(days=730)).isoformat() if o.key == _BARRED_ORG else "",
        }
        for o in ORGANIZATIONS
    ))

    spent: dict[tuple[int, str], int] = {}
    for p in projects:
        key = (p.year, LEVEL1[p.item.prefix][2])
        spent[key] = spent.get(key, 0) + p.amount_yuan
    ceilings: dict[tuple[int, str], int] = {}
    for year, item in catalog:
        key = (year, LEVEL1[item.prefix][2])
        ceilings[key] = ceilings.get(key, 0) + item.ceiling_yuan
    write("budgets.csv", (
        {
            "year": year, "department_code": code,
            # Room for every project funded so far plus the next round, in whole 100k.
            "amount_cny": fmt_money(
                _round_up(max(spent.get((year, code), 0) * 5 // 4, ceilings[(year, code)] * 2), 100_000) * 100
            ),
            "note_zh": f"{year}年度政府购买服务预算", "note_en": f"Purchased services budget {year}",
        }
        for year in years for code, _, _ in DEPARTMENTS
    ))

    def call_codes(year: int) -> str:
        return ";".join(item.code for y, item in catalog if y == year)

    write("calls.csv", (
        {
            "code": f"LJ-CALL-{year}-01", "year": year,
            "title_zh": f"临江市{year}年度政府购买社会服务项目申报指南",
            "title_en": f"Linjiang {year} call for government-purchased social services",
            "opens_at": _fmt_datetime(opens, 9), "closes_at": _fmt_datetime(closes, 17),
            "catalog_codes": call_codes(year), "max_months": 12,
        }
        for year, opens, closes in (
            (years[1], today - timedelta(days=320), today - timedelta(days=290)),
            (years[2], today - timedelta(days=10), today + timedelta(days=21)),
        )
    ))

    write("projects.csv", (
        {
            "code": p.code, "year": p.year, "title_zh": p.title_zh, "title_en": p.title_en,
            "catalog_code": p.item.code, "uscc": usccs[p.org.key],
            "department_code": LEVEL1[p.item.prefix][2], "district": p.district,
            "recipients": p.recipients or "", "amount_cny": fmt_money(p.amount_yuan * 100),
            "status": p.status, "start_on": p.start.isoformat(), "end_on": p.end.isoformat(),
            "target_group_zh": p.item.target_zh, "target_group_en": p.item.target_en,
            "summary_zh": p.item.description_zh, "summary_en": p.item.description_en,
            "grade": grade_of(p.score) if p.score is not None else "",
            "evaluation_score": "" if p.score is None else p.score,
            "brand": int(p.brand),
        }
        for p in projects
    ))
    write("milestones.csv", (row for p in projects for row in _milestone_rows(p)))
    write("disbursements.csv", (row for p in projects for row in _disbursement_rows(p, today)))
    write("progress.csv", (row for p in projects for row in _progress_rows(p, today, rng)))
    write("inspections.csv", (row for p in projects for row in _inspection_rows(p, today, rng)))
    write("experts.csv", (
        {"code": code, "name": name, "field": fld, "affiliation_uscc": usccs[org] if org else ""}
        for code, name, fld, org in EXPERTS
    ))
    write("members.csv", (
        {"channel": "telegram", "external_id": ext, "role": role, "ref": ref, "display_name": name, "locale": loc}
        for ext, role, ref, name, loc in (
            ("700000001", "staff", "MZ", "李文静", "zh-Hans"),
            ("700000002", "staff", "CL", "Chen Hui", "en"),
            ("700000003", "staff", "TW", "周扬", "zh-Hans"),
            ("700000004", "org", usccs["sunshine"], "张晓梅", "zh-Hans"),
            ("700000005", "org", usccs["xinqing"], "林佩君", "zh-Hant"),
            ("700000006", "org", usccs["kangle"], "Grace Wu", "en"),
            ("700000007", "expert", "EXP-001", "王立平", "zh-Hans"),
        )
    ))
    closed = sorted((p for p in projects if p.status == "closed"), key=lambda p: -(p.score or 0))
    write("survey_responses.csv", (
        row for i in _SURVEYED_CLOSED for row in _survey_rows(closed[i], today, rng)
    ))
