from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.core import city

TZ = ZoneInfo("Asia/Shanghai")


def test_placeholders_are_flat_city_values() -> None:
    values = city.placeholders()
    assert values["city_hotline"] == "12345"
    assert all(k.startswith("city_") for k in values)


def test_service_hours_follow_the_profile(tmp_path) -> None:
    profile = tmp_path / "city.yml"
    profile.write_text(
        "city_name: 测试市\nservice_hours: {timezone: Asia/Shanghai, weekdays: [1, 2, 3, 4, 5], start: '09:00', end: '17:00'}\n",
        encoding="utf-8",
    )
    monday_10 = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)
    monday_18 = datetime(2026, 11, 23, 18, 0, tzinfo=TZ)
    saturday_10 = datetime(2026, 11, 28, 10, 0, tzinfo=TZ)
    assert city.within_service_hours(monday_10, str(profile))
    assert not city.within_service_hours(monday_18, str(profile))
    assert not city.within_service_hours(saturday_10, str(profile))
    # a UTC clock is converted to the city's time: 02:00 UTC is 10:00 in Beijing
    assert city.within_service_hours(datetime(2026, 11, 23, 2, 0, tzinfo=ZoneInfo("UTC")), str(profile))
