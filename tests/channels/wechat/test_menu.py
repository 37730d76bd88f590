"""config/wechat_menu.yml: complete, within WeChat's limits, naming real intents."""

from __future__ import annotations

import yaml

from bot.stack.processes import ROOT


def test_menu_configuration_is_complete_and_names_real_intents() -> None:
    from channels.wechat.menu import MENU_FILE, load_menu

    menu = load_menu()
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    intents = {i if isinstance(i, str) else next(iter(i)) for i in domain["intents"]}
    for key, value in menu.keys.items():
        if value.startswith("/"):
            assert value[1:].split("{")[0] in intents, f"{key} -> {value}"
        else:
            assert len(value) < 12, f"{key}: the report form would take {value!r} as the description"
    raw = yaml.safe_load(MENU_FILE.read_text(encoding="utf-8"))
    assert len(raw["menu"]["button"]) <= 3
    assert all(len(b.get("sub_button") or []) <= 5 for b in raw["menu"]["button"])
