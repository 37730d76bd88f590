"""Agent accounts (config/desk_users.yml): hashed passwords, optional personal API tokens.

Passwords are hashed with scrypt (stdlib); personal API tokens are stored as their SHA-256 (a
token is random and long, so a plain hash is enough). The file is re-read when it changes, so
adding an agent needs no restart.

    python -m bot.desk.users add NAME [--display 坐席一] [--departments hrss,housing_fund] [--role supervisor]
    python -m bot.desk.users token NAME      # prints a new personal API token once
    python -m bot.desk.users remove NAME
    python -m bot.desk.users list
"""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import hmac
import secrets
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.infra import settings

# documented development accounts (docs/desk.md): agent01 / agent01-dev (agent) and
# super01 / super01-dev (supervisor). Production refuses to start while "<name>-dev" still works.
DEV_PASSWORD_SUFFIX = "-dev"  # noqa: S105 - documented development default
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_NAME_OK = set("abcdefghijklmnopqrstuvwxyz0123456789_-.")


@dataclass(frozen=True)
class User:
    name: str
    display_name: str
    password_hash: str
    role: str = "agent"  # agent | supervisor
    departments: tuple[str, ...] = ()  # empty: all departments
    token_hashes: tuple[str, ...] = field(default_factory=tuple)


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
        digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, expected)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def users_file() -> Path:
    return Path(settings.load().desk_users_file)


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> dict[str, User]:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    out: dict[str, User] = {}
    for name, spec in (raw.get("users") or {}).items():
        spec = spec or {}
        out[str(name)] = User(
            name=str(name),
            display_name=str(spec.get("display_name") or name),
            password_hash=str(spec.get("password") or ""),
            role=str(spec.get("role") or "agent"),
            departments=tuple(str(d) for d in spec.get("departments") or ()),
            token_hashes=tuple(str(t) for t in spec.get("tokens") or ()),
        )
    return out


def load(path: Path | None = None) -> dict[str, User]:
    p = path or users_file()
    if not p.exists():
        return {}
    return _load(str(p), p.stat().st_mtime)


def authenticate(name: str, password: str) -> User | None:
    user = load().get(name)
    if user is None:
        # same work whether or not the name exists: no user enumeration by timing
        verify_password(password, hash_password("x", b"0" * 16))
        return None
    return user if verify_password(password, user.password_hash) else None


def by_token(token: str) -> User | None:
    h = token_hash(token)
    for user in load().values():
        if any(hmac.compare_digest(h, t) for t in user.token_hashes):
            return user
    return None


def dev_password_in_use() -> list[str]:
    """Accounts whose password is still the documented development one (production refuses)."""
    return [u.name for u in load().values() if verify_password(u.name + DEV_PASSWORD_SUFFIX, u.password_hash)]


# --- the command line -------------------------------------------------------------------------
def _read_raw(p: Path) -> dict[str, Any]:
    raw = yaml.safe_load(p.read_text(encoding="utf-8")) if p.exists() else None
    raw = raw or {}
    raw.setdefault("users", {})
    return raw


def _write_raw(p: Path, raw: dict[str, Any]) -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# 坐席账号 (agent accounts). Passwords are scrypt hashes, tokens SHA-256 of personal API tokens.\n"
        "# Edit with `python -m bot.desk.users add|token|remove NAME`; never put a plain password here.\n"
    )
    tmp = p.with_suffix(".tmp")
    tmp.write_text(header + yaml.safe_dump(raw, allow_unicode=True, sort_keys=True), encoding="utf-8")
    tmp.replace(p)


def _valid_name(name: str) -> bool:
    return 0 < len(name) <= 64 and set(name) <= _NAME_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.desk.users", description="坐席账号管理")
    sub = parser.add_subparsers(dest="cmd", required=True)
    add = sub.add_parser("add", help="add an agent or change their password")
    add.add_argument("name")
    add.add_argument("--display", help="name shown in the console, e.g. 坐席一")
    add.add_argument("--role", choices=["agent", "supervisor"])
    add.add_argument("--departments", help="comma separated department ids (empty: all)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    tok = sub.add_parser("token", help="issue a personal API token (printed once)")
    tok.add_argument("name")
    rm = sub.add_parser("remove")
    rm.add_argument("name")
    sub.add_parser("list")
    args = parser.parse_args(argv)
    path = users_file()
    raw = _read_raw(path)
    users = raw["users"]
    out = sys.stdout
    if args.cmd == "list":
        for name, spec in sorted(users.items()):
            out.write(f"{name}\t{(spec or {}).get('display_name', name)}\t{(spec or {}).get('role', 'agent')}\n")
        return 0
    if not _valid_name(args.name):
        sys.stderr.write("账号只能包含小写字母、数字、- _ .，且不超过64个字符\n")
        return 2
    if args.cmd == "remove":
        users.pop(args.name, None)
        _write_raw(path, raw)
        return 0
    if args.cmd == "token":
        if args.name not in users:
            sys.stderr.write(f"没有账号 {args.name}\n")
            return 2
        token = secrets.token_urlsafe(32)
        spec = users[args.name] or {}
        spec["tokens"] = [*(spec.get("tokens") or []), token_hash(token)]
        users[args.name] = spec
        _write_raw(path, raw)
        out.write(token + "\n")
        return 0
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("密码: ")
        if getpass.getpass("再输入一次: ") != password:
            sys.stderr.write("两次输入的密码不一致\n")
            return 2
    if len(password) < 8:
        sys.stderr.write("密码至少8位\n")
        return 2
    spec = users.get(args.name) or {}
    spec["password"] = hash_password(password)
    spec["display_name"] = args.display or spec.get("display_name") or args.name
    spec["role"] = args.role or spec.get("role") or "agent"
    if args.departments is not None:
        spec["departments"] = [d.strip() for d in args.departments.split(",") if d.strip()]
    spec.setdefault("departments", [])
    users[args.name] = spec
    _write_raw(path, raw)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
