"""How a ticket's times are written for people and the API: ISO 8601 in the city's time zone."""

from __future__ import annotations

from datetime import datetime

from bot.core import city
from bot.infra import db


def iso(dt: datetime | None) -> str | None:
    """The API's time format: ISO 8601 to the second, in the city's time zone."""
    dt = db.aware(dt)
    return dt.astimezone(city.timezone()).isoformat(timespec="seconds") if dt else None
