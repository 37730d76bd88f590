"""bot/rasa/versions.py: the Rasa server and the action server refuse to start on another Rasa."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import pytest

from bot.infra import settings
from bot.rasa import action_server, patches, versions
from bot.rasa import run as rasa_run


def _never(*args: Any, **kwargs: Any) -> NoReturn:
    raise AssertionError("started on the wrong version")


def test_the_pins_are_those_the_project_installs() -> None:
    wheels = (settings.ROOT / "requirements" / "rasa-wheels.txt").read_text(encoding="utf-8").split()
    assert f"rasa=={versions.RASA}" in wheels
    assert f"rasa-sdk=={versions.RASA_SDK}" in wheels


def test_the_installed_versions_are_the_pinned_ones() -> None:
    versions.check_rasa()
    versions.check_rasa_sdk()


def test_the_rasa_server_refuses_to_start_on_another_rasa(monkeypatch: pytest.MonkeyPatch) -> None:
    import rasa
    import rasa.__main__

    monkeypatch.setattr(rasa, "__version__", "3.6.20")
    monkeypatch.setattr(rasa.__main__, "main", _never)
    monkeypatch.setattr(sys, "argv", ["bot.rasa.run", "run", "--enable-api"])
    monkeypatch.setattr(patches, "_applied", {})
    with pytest.raises(SystemExit) as refused:
        rasa_run.main()
    message = str(refused.value)
    assert "rasa 3.6.20 is installed" in message
    assert "rasa 3.6.21" in message and "rasa==3.6.21" in message
    assert patches.applied() == {}  # nothing of Rasa was patched


def test_the_action_server_refuses_to_start_on_another_rasa_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    import rasa_sdk

    monkeypatch.setattr(rasa_sdk, "__version__", "3.7.1")
    monkeypatch.setattr(action_server, "build", _never)
    with pytest.raises(SystemExit) as refused:
        action_server.main()
    message = str(refused.value)
    assert "rasa-sdk 3.7.1 is installed" in message
    assert "rasa-sdk 3.6.2 " in message and "rasa-sdk==3.6.2" in message
