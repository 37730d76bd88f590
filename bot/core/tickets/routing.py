"""Where a ticket goes and how soon it is due.

Kind, department and priority per topic are data (data/topics.yml, read by bot/core/topics.py);
SLA targets are data/sla.yml, which ops edit. A topic without routing values (an FAQ topic, an
intent outside the contract) files a consult ticket, P2, to the hotline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from bot.core import city, topics
from bot.core.vocabulary import Kind, Priority
from bot.infra import db, settings

DEFAULT_DEPARTMENT = "hotline"


class Route(NamedTuple):
    kind: Kind
    department: str
    priority: Priority


def route(topic: str) -> Route:
    """Kind, department and priority for the intent that led to a ticket."""
    t = topics.load().get(topic)
    if t is None:
        return Route(Kind.CONSULT, DEFAULT_DEPARTMENT, Priority.P2)
    return Route(t.ticket_kind or Kind.CONSULT, t.department, t.priority or Priority.P2)


@dataclass(frozen=True)
class Sla:
    hours: float
    text: str


@lru_cache(maxsize=2)
def _sla_table(path: str, mtime: float) -> dict[str, Any]:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}


def _table() -> dict[str, Any]:
    p = settings.DATA / "sla.yml"
    return _sla_table(str(p), p.stat().st_mtime)


def sla_for(kind: Kind, priority: Priority, handoff: bool = False) -> Sla:
    """A priority entry wins; then, for a live handoff, the agent's first answer; then the kind."""
    table = _table()
    entry = (table.get("priority") or {}).get(str(priority))
    entry = entry or (table.get("handoff") if handoff else None) or (table.get("kind") or {}).get(str(kind))
    entry = entry or table.get("default") or {"hours": 24, "text": "1个工作日"}
    return Sla(hours=float(entry["hours"]), text=str(entry["text"]))


def callback_due(now: datetime | None = None) -> datetime:
    """When an after-hours call-back is due: the next opening of service hours plus the
    `callback` hours of sla.yml (city.yml's city_callback_promise says the same to citizens)."""
    after = float((_table().get("callback") or {}).get("hours_after_opening", 2))
    hours = city.profile().get("service_hours") or {}
    tz = city.timezone()
    local = (now or db.utcnow()).astimezone(tz)
    start = time.fromisoformat(str(hours.get("start", "08:00")))
    days = [int(d) for d in hours.get("weekdays", [1, 2, 3, 4, 5])] or [1, 2, 3, 4, 5]
    for ahead in range(0, 8):
        day = (local + timedelta(days=ahead)).date()
        opening = datetime.combine(day, start, tzinfo=tz)
        if day.isoweekday() in days and opening > local:
            return opening + timedelta(hours=after)
    return local + timedelta(hours=24 + after)
