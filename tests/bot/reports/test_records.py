"""The report's date range and records (bot/reports/records.py)."""

from __future__ import annotations

from datetime import date, datetime, timezone

from bot.core import city
from bot.reports.figures import compute
from bot.reports.records import bounds, default_range, read
from tests.bot.reports.conftest import T0, inbound


def test_the_range_is_whole_days_in_the_city_time_zone(db_url: str) -> None:
    # 23:30 on the 23rd in the city is 15:30 UTC; 00:30 on the 25th is 16:30 UTC on the 24th
    inbound("early", datetime(2026, 11, 23, 15, 30, tzinfo=timezone.utc))
    inbound("inside", T0)
    inbound("late", datetime(2026, 11, 24, 16, 30, tzinfo=timezone.utc))
    assert city.timezone().key == "Asia/Shanghai"
    fig = compute(db_url, T0.date(), T0.date())
    assert fig.volume.conversations == 1
    assert fig.period.first_day.isoformat() == fig.period.last_day.isoformat() == "2026-11-24"


def test_bounds_of_days_and_of_times() -> None:
    start, end = bounds(date(2026, 11, 24), date(2026, 11, 25))
    assert (start, end) == (
        datetime(2026, 11, 23, 16, tzinfo=timezone.utc),
        datetime(2026, 11, 25, 16, tzinfo=timezone.utc),
    )
    # a time is taken as it is (naive: city time)
    assert bounds(T0, datetime(2026, 11, 24, 12, 0)) == (T0, datetime(2026, 11, 24, 4, 0, tzinfo=timezone.utc))


def test_the_default_range_is_the_last_seven_days() -> None:
    assert default_range(date(2026, 11, 30)) == (date(2026, 11, 24), date(2026, 11, 30))


def test_audit_and_feedback_are_read_in_the_order_they_happened(known_day: object, db_url: str) -> None:
    start, end = bounds(T0.date(), T0.date())
    records = read(db_url, start, end)
    assert len(records.inbound) == 20 and len(records.created) == 5 and len(records.closed) == 3
    for rows in (records.audit, records.feedback):
        keys = [(r.at, r.id) for r in rows]
        assert keys == sorted(keys)
    assert {a.sender_id for a in records.asks_after_close} == {"D", "E", "G"}
