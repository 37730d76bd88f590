"""Agent accounts (bot/desk/users.py): hashing, the command line, the development accounts."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from bot.desk import users
from bot.infra import settings


def test_passwords_are_salted_scrypt_hashes() -> None:
    a, b = users.hash_password("correct horse"), users.hash_password("correct horse")
    assert a != b and a.startswith("scrypt$") and "correct" not in a
    assert users.verify_password("correct horse", a) and users.verify_password("correct horse", b)
    assert not users.verify_password("correct hors", a)
    assert not users.verify_password("x", "md5$abc") and not users.verify_password("x", "garbage")


def test_add_changes_a_password_and_keeps_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "u.yml"
    monkeypatch.setenv("DESK_USERS_FILE", str(path))
    monkeypatch.setattr("sys.stdin", io.StringIO("first-pass\n"))
    assert (
        users.main(["add", "zhang.san", "--display", "张三", "--departments", "hrss,housing_fund", "--password-stdin"])
        == 0
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("second-pass\n"))
    assert users.main(["add", "zhang.san", "--password-stdin"]) == 0
    user = users.load()["zhang.san"]
    assert (user.display_name, user.departments, user.role) == ("张三", ("hrss", "housing_fund"), "agent")
    assert users.authenticate("zhang.san", "second-pass") is not None
    assert users.authenticate("zhang.san", "first-pass") is None
    assert "second-pass" not in path.read_text(encoding="utf-8")


def test_bad_names_and_short_passwords_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESK_USERS_FILE", str(tmp_path / "u.yml"))
    monkeypatch.setattr("sys.stdin", io.StringIO("long-enough\n"))
    assert users.main(["add", "Bad Name", "--password-stdin"]) == 2
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert users.main(["add", "ok", "--password-stdin"]) == 2
    assert users.load() == {}


def test_the_shipped_development_accounts_work_and_are_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = settings.ROOT / "config" / "desk_users.yml"
    monkeypatch.setenv("DESK_USERS_FILE", str(shipped))
    raw = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    assert all(spec["password"].startswith("scrypt$") for spec in raw["users"].values())
    assert users.authenticate("agent01", "agent01-dev") is not None
    assert users.authenticate("super01", "super01-dev").role == "supervisor"
    assert set(users.dev_password_in_use()) == {"agent01", "super01"}
