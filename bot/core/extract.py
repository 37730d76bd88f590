"""Pick the place and the time out of a citizen's one-message report, so they are not asked again.

Deliberately conservative: a wrong address on a ticket is worse than a question.
"""

from __future__ import annotations

import re

_PLACE = re.compile(
    r"([\u4e00-\u9fa5A-Za-z0-9]{1,12}?(?:省|市|区|县|镇|乡|街道|路|街|大道|巷|弄|胡同|村|小区|花园|苑|广场|大厦|公园|市场|号楼|栋|号)"
    r"(?:[\u4e00-\u9fa5A-Za-z0-9]{0,10}?(?:路|街|巷|弄|号|栋|单元|楼|门口|附近|旁边|对面|小区))*)"
)
_TIME = re.compile(
    r"((?:今天|昨天|前天|今早|今晚|昨晚|今天早上|今天晚上|每天|天天|每晚|最近|这几天|上周|上个月|本月|周[一二三四五六日末]|星期[一二三四五六日天])"
    r"[\u4e00-\u9fa50-9]{0,6}?(?:点|时|晚上|早上|上午|下午|凌晨|中午|半夜|以后|之后|开始)?"
    r"|\d{1,2}月\d{1,2}[日号]|\d{1,2}[点:：]\d{0,2}|凌晨\d{0,2}点?|半夜|深夜)"
)
_STOP = ("我要", "我想", "请问", "投诉", "举报", "反映")
_LEAD = re.compile(r"^(?:我们|我)?(?:家)?(?:住)?(?:在|位于)")


def extract_place(text: str) -> str | None:
    for m in _PLACE.finditer(text):
        place = m.group(1)
        for s in _STOP:
            place = place.split(s)[-1]
        place = _LEAD.sub("", place)
        if len(place) >= 3:
            return place
    return None


def extract_time(text: str) -> str | None:
    m = _TIME.search(text)
    return m.group(1) if m else None
