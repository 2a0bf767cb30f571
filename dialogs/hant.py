"""Simplified → Traditional Chinese for one region (Taiwan or Hong Kong), for the zh-Hant catalog and for names.

OpenCC's regional profiles get a few words of this domain wrong (s2twp turns 社区 into 社群 and 服务对象
into 服務物件; every profile writes 提交并公开 as 提交併公開): those words are converted from the table
below, the rest of the text by OpenCC.
"""

from __future__ import annotations

import re
from functools import cache

import opencc

REGIONS = ("tw", "hk")
DEFAULT_REGION = "tw"

# Messages get the region's phrasing (s2twp: 菜单 → 選單, 信息 → 資訊); names of projects and
# organizations are proper names, so they only get the region's characters (s2tw: 为 → 為, 核 stays 核).
_PROFILES = {"tw": ("s2twp", "s2tw"), "hk": ("s2hk", "s2hk")}

# Simplified word → its Traditional form, checked longest first. 并 alone is the conjunction "and" (並);
# the words where it means "merge" keep 併. Quotation marks are corner brackets in Taiwan and Hong Kong.
_COMMON = {
    "并": "並",
    "合并": "合併",
    "兼并": "兼併",
    "吞并": "吞併",
    "归并": "歸併",
    "核对": "核對",
    "核定": "核定",
    "核实": "核實",
    "审核": "審核",
    "复核": "複核",
    "“": "「",
    "”": "」",
    "‘": "『",
    "’": "』",
}
_WORDS = {
    "tw": {
        **_COMMON,
        "社区": "社區",
        "服务对象": "服務對象",
        "对象": "對象",
        "代码": "代碼",
        "类型": "類型",
        "声明": "聲明",
        "微信": "微信",
        "权限": "權限",
        "目录项目": "目錄項目",
        "发布": "發布",
        "账号": "帳號",
        "账户": "帳戶",
        "台账": "台帳",
        "了解": "了解",
    },
    "hk": {
        **_COMMON,
        "发布": "發佈",
        "台账": "台賬",
    },
}


# words that read differently in a sentence than in a name: "3 天后" is "in 3 days" (天後) in a message,
# 天后 is the sea goddess in the name of a temple or a street
_IN_MESSAGES = {"天后": "天後"}


@cache
def _converter(profile: str) -> opencc.OpenCC:
    return opencc.OpenCC(profile)


@cache
def _table(region: str, in_message: bool) -> tuple[dict[str, str], re.Pattern[str]]:
    words = {**_WORDS[region], **(_IN_MESSAGES if in_message else {})}
    longest_first = sorted(words, key=len, reverse=True)
    return words, re.compile("(" + "|".join(map(re.escape, longest_first)) + ")")


def _convert(text: str, region: str, in_message: bool) -> str:
    if not text:
        return text
    words, pattern = _table(region, in_message)
    converter = _converter(_PROFILES[region][0 if in_message else 1])
    # split() with one group alternates text that OpenCC converts and words from the table
    return "".join(words[piece] if i % 2 else converter.convert(piece) for i, piece in enumerate(pattern.split(text)))


def message(text: str, region: str = DEFAULT_REGION) -> str:
    """A catalog message in the region's Traditional Chinese, with its phrasing."""
    return _convert(text, region, True)


def name(text: str, region: str = DEFAULT_REGION) -> str:
    """A proper name (project, organization, district) in the region's Traditional characters."""
    return _convert(text, region, False)
