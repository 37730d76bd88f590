"""The city profile (data/city.yml): everything local, edited by ops in one file."""

from __future__ import annotations

from datetime import datetime, time
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from bot.infra import settings


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> dict[str, Any]:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}


def profile(path: str | None = None) -> dict[str, Any]:
    p = Path(path or settings.load().city_file)
    return _load(str(p), p.stat().st_mtime)


def placeholders(path: str | None = None) -> dict[str, str]:
    """The `{city_*}` values that answers may use (only flat string values)."""
    return {k: str(v) for k, v in profile(path).items() if k.startswith("city_") and not isinstance(v, dict | list)}


def timezone(path: str | None = None) -> ZoneInfo:
    return ZoneInfo(str((profile(path).get("service_hours") or {}).get("timezone", "Asia/Shanghai")))


def within_service_hours(now: datetime | None = None, path: str | None = None) -> bool:
    """Is a human agent on duty now? (outside: the bot files a call-back ticket)"""
    hours = profile(path).get("service_hours") or {}
    tz = timezone(path)
    now = (now or datetime.now(tz)).astimezone(tz)
    if now.isoweekday() not in [int(d) for d in hours.get("weekdays", [1, 2, 3, 4, 5])]:
        return False
    start = time.fromisoformat(str(hours.get("start", "08:00")))
    end = time.fromisoformat(str(hours.get("end", "20:00")))
    return start <= now.time() < end
