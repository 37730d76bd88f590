"""The 公众号's custom menu (config/wechat_menu.yml): what each CLICK key means, and pushing it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.infra import settings
from channels.wechat.client import client
from channels.wechat.config import ConfigError

MENU_FILE = settings.ROOT / "config" / "wechat_menu.yml"


@dataclass(frozen=True)
class Menu:
    keys: dict[str, str]  # CLICK key -> message text or "/intent" payload
    definition: dict[str, Any]  # what `python -m channels.wechat menu` sends to menu/create


def _click_keys(buttons: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for b in buttons:
        if b.get("type") == "click":
            out.append(str(b.get("key", "")))
        out.extend(_click_keys(b.get("sub_button") or []))
    return out


def load_menu(path: Path = MENU_FILE) -> Menu:
    if not path.exists():
        return Menu(keys={}, definition={})
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    keys = {str(k): str(v).strip() for k, v in (raw.get("keys") or {}).items()}
    definition = raw.get("menu") or {}
    missing = [k for k in _click_keys(definition.get("button") or []) if not keys.get(k)]
    if missing:
        raise ConfigError(f"{path.name}: menu keys without a message: {', '.join(missing)}")
    return Menu(keys=keys, definition=definition)


def push_menu() -> dict[str, Any]:
    """Create the 公众号's menu from config/wechat_menu.yml (`python -m channels.wechat menu`)."""
    menu = load_menu()
    if not menu.definition:
        raise ConfigError(f"{MENU_FILE} has no menu")
    return dict(client().menu.create(menu.definition))
