"""The demo city's guidance catalog: its first-level categories and the services it lists, with the
project names providers give them."""

from __future__ import annotations

from dataclasses import dataclass

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
ITEMS = {item.code: item for item in CATALOG}
