"""The fictional city of the demo package, 临江市 / Linjiang City: districts, departments, providers,
experts, and the words of their progress reports and residents' suggestions."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Org:
    key: str
    name_zh: str
    name_en: str
    kind: str
    district: str
    rating: str
    serves: str  # catalog prefixes this organization delivers, e.g. "YL XL"


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
FAILED_ORG = "nuanyang"
BARRED_ORG = "ankang"
UNLISTED_ORG = "smartcomm"

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
