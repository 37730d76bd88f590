from __future__ import annotations

import pytest

from bot.core.extract import extract_place, extract_time


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("建设路12号楼下烧烤店每天晚上十二点后还很吵", "建设路12号楼"),
        ("我要投诉阳光花园小区门口有人摆摊", "阳光花园小区门口"),
        ("我家在幸福里小区3栋2单元楼上漏水", "幸福里小区3栋2单元楼"),
        ("人民路和解放路交叉口的井盖没了", "人民路和解放路"),
        ("工资拖了三个月了老板不给", None),
    ],
)
def test_place(text: str, place: str | None) -> None:
    assert extract_place(text) == place


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("楼上每天晚上十二点以后还在装修", "每天晚上"),
        ("昨天下午3点在菜市场买的肉", "昨天"),
        ("11月20日在网上买的", "11月20日"),
        ("楼下饭店油烟很大", None),
    ],
)
def test_time(text: str, found: str | None) -> None:
    got = extract_time(text)
    assert (got is None) if found is None else (got is not None and got.startswith(found))
