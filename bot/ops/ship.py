"""`make ship` / `make rollback`：把模型换进正在运行的 Rasa 进程，不停服务。

    python -m bot.ops.ship                    # the model `make validate` approved (models/validated.json)
    python -m bot.ops.ship --model PATH       # a given model archive
    python -m bot.ops.ship --rollback         # back to the model that was live before

How: Rasa's HTTP API (`PUT /model {"model_file": ...}`, with `?token=` when RASA_AUTH_TOKEN is
set) loads the archive into a running server; the server swaps its agent when the new one is
ready. Every process in RASA_URLS (comma separated; default RASA_URL) is switched in turn, then
checked: `GET /status` must report the new archive and its model id, and one parse warms the
new graph so that no citizen waits for it. Requests that arrive while a process loads wait for
it (the load holds the server's event loop for a few seconds); none is dropped. If any process
refuses the model, the processes already switched are put back and the pointers stay as they
were.

models/current and models/previous are symlinks to the live and the previous archive;
`--rollback` swaps them. The live archive is also made the newest file in models/, because a
restarted process (bot.ops.launch) loads the newest archive. Each ship or rollback is appended to
models/history.jsonl; every audit record names the model that answered (its archive name).
The Rasa processes must see the same models/ directory (same machine or shared disk).
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bot.infra import settings

log = logging.getLogger("ship")
CURRENT, PREVIOUS, HISTORY = "current", "previous", "history.jsonl"
VALIDATED = "validated.json"
LOAD_TIMEOUT_S = 600.0  # loading a model on 2 busy cores can take a minute


class ShipError(Exception):
    """Something an operator must read (Chinese)."""


@dataclass(frozen=True)
class Live:
    url: str
    model_file: str
    model_id: str


def model_id(archive: Path) -> str:
    """The id Rasa gave the model when it was trained (metadata.json inside the archive)."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                # the archive's own, not a component's (e.g. DIETClassifier.data_example_metadata.json)
                if member.name.lstrip("/").removeprefix("./") == "metadata.json":
                    f = tar.extractfile(member)
                    if f is not None:
                        return str(json.load(f).get("model_id") or "")
    except (OSError, tarfile.TarError, ValueError) as e:
        raise ShipError(f"{archive} 不是可用的模型文件：{e}") from e
    raise ShipError(f"{archive} 里没有模型信息（metadata.json），不是 Rasa 模型")


def rasa_urls() -> list[str]:
    cfg = settings.load()
    return [u.rstrip("/") for u in cfg.rasa_urls] or [cfg.rasa_url.rstrip("/")]


def _call(method: str, url: str, path: str, body: Any = None, timeout: float = 30.0) -> tuple[int, Any]:
    token = settings.load().rasa_auth_token
    full = f"{url}{path}" + (f"?{urlencode({'token': token})}" if token else "")
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(full, data=data, method=method, headers={"Content-Type": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - operator-configured Rasa URL
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw) if raw else None
        except ValueError:
            return e.code, raw.decode("utf-8", "replace")[:300]
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        raise ShipError(f"连不上 Rasa 服务 {url}：{getattr(e, 'reason', e)}") from e


def status(url: str) -> Live:
    code, body = _call("GET", url, "/status")
    if code == 401:
        raise ShipError(f"{url} 拒绝访问（401）：请设置正确的 RASA_AUTH_TOKEN")
    if code != 200 or not isinstance(body, dict):
        raise ShipError(f"{url} 的 /status 返回 {code}：{body}")
    return Live(url, str(body.get("model_file") or ""), str(body.get("model_id") or ""))


def load(url: str, archive: Path, expected_id: str) -> Live:
    """Put `archive` into the Rasa process at `url` and check that it answers with it."""
    code, body = _call("PUT", url, "/model", {"model_file": str(archive)}, timeout=LOAD_TIMEOUT_S)
    if code not in (200, 204):
        message = body.get("message") if isinstance(body, dict) else body
        raise ShipError(f"{url} 没有加载模型 {archive.name}（{code}）：{message}")
    live = status(url)
    if live.model_file != archive.name or (expected_id and live.model_id != expected_id):
        raise ShipError(
            f"{url} 加载后报告的模型是 {live.model_file}（{live.model_id}），不是 {archive.name}（{expected_id}）"
        )
    # the first parse builds the graph's caches: let it be ours, not a citizen's
    try:
        _call("POST", url, "/model/parse", {"text": "你好"}, timeout=120)
    except ShipError:
        log.warning("warm-up parse failed at %s (the model is loaded)", url)
    return live


def pointer(model_dir: Path, name: str) -> Path | None:
    link = model_dir / name
    if link.is_symlink() or link.exists():
        target = link.resolve()
        return target if target.is_file() else None
    return None


def _set_pointer(model_dir: Path, name: str, target: Path) -> None:
    tmp = model_dir / f".{name}.tmp"
    tmp.unlink(missing_ok=True)
    # relative, so that models/ can be moved or mounted elsewhere
    tmp.symlink_to(os.path.relpath(target, model_dir))
    os.replace(tmp, model_dir / name)  # atomic: a reader sees the old link or the new one


def _history(model_dir: Path, action: str, archive: Path, mid: str, urls: list[str]) -> None:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    entry = {"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "action": action, "model": archive.name,
             "model_id": mid, "processes": urls, "by": user}  # fmt: skip
    with (model_dir / HISTORY).open("a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")


def ship(
    archive: Path, urls: list[str] | None = None, model_dir: Path | None = None, action: str = "ship"
) -> list[Live]:
    """Switch every process to `archive`; on any failure put back the ones already switched."""
    model_dir = Path(model_dir or settings.load().model_dir).resolve()
    archive = archive.resolve()
    if not archive.is_file():
        raise ShipError(f"模型文件不存在：{archive}")
    urls = urls or rasa_urls()
    expected = model_id(archive)
    before = {u: status(u) for u in urls}  # every process must be up before any is touched
    current = pointer(model_dir, CURRENT)
    if current is None:  # first ship: what the processes run now is what a rollback goes back to
        running = model_dir / before[urls[0]].model_file
        current = running if before[urls[0]].model_file and running.is_file() else None
    switched: list[str] = []
    done: list[Live] = []
    for url in urls:
        try:
            done.append(load(url, archive, expected))
            switched.append(url)
        except ShipError as e:
            restored = []
            for u in switched:
                old = current or (model_dir / before[u].model_file)
                try:
                    load(u, old, model_id(old))
                    restored.append(u)
                except ShipError:
                    log.exception("could not put %s back on %s", u, old.name)
            note = f"；已把 {'、'.join(restored)} 换回原来的模型" if restored else ""
            raise ShipError(f"{e}{note}。线上模型没有变化。") from e
    if current != archive:
        if current is not None:
            _set_pointer(model_dir, PREVIOUS, current)
        _set_pointer(model_dir, CURRENT, archive)
    os.utime(archive)  # the newest archive is what a restarted process loads (bot.ops.launch)
    _history(model_dir, action, archive, expected, urls)
    return done


def rollback(urls: list[str] | None = None, model_dir: Path | None = None) -> list[Live]:
    model_dir = Path(model_dir or settings.load().model_dir).resolve()
    previous = pointer(model_dir, PREVIOUS)
    if previous is None:
        raise ShipError("没有上一个版本可以回滚（models/previous 不存在或它指向的模型文件已被删除）")
    return ship(previous, urls, model_dir, action="rollback")


def validated_model(model_dir: Path) -> Path:
    state = model_dir / VALIDATED
    if not state.exists():
        raise ShipError("还没有通过 make validate 的模型：请先运行 make validate，或用 --model 指定模型文件")
    name = json.loads(state.read_text(encoding="utf-8")).get("model", "")
    archive = model_dir / name
    if not name or not archive.is_file():
        raise ShipError(f"make validate 通过的模型 {name} 已不存在：请重新运行 make validate")
    return archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--model", type=Path, help="要上线的模型文件（默认：make validate 通过的模型）")
    group.add_argument("--rollback", action="store_true", help="换回上一个模型")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    model_dir = Path(settings.load().model_dir).resolve()
    urls = rasa_urls()
    try:
        if args.rollback:
            live = rollback(urls, model_dir)
        else:
            archive = args.model or validated_model(model_dir)
            if args.model:
                try:
                    approved = validated_model(model_dir).resolve() == args.model.resolve()
                except ShipError:
                    approved = False
                if not approved:
                    sys.stdout.write(f"注意：{args.model.name} 不是 make validate 最近通过的模型。\n")
            live = ship(archive, urls, model_dir)
    except ShipError as e:
        sys.stdout.write(f"失败：{e}\n")
        return 1
    for item in live:
        sys.stdout.write(f"  ✔ {item.url} 正在使用 {item.model_file}（{item.model_id}）\n")
    previous = pointer(model_dir, PREVIOUS)
    verb = "已回滚到" if args.rollback else "已上线"
    sys.stdout.write(f"{verb} {live[0].model_file}。")
    if previous is not None:
        sys.stdout.write(f"如有问题，运行 make rollback 换回 {previous.name}。")
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
