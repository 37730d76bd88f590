"""Shipping a model without downtime (bot/ops/ship.py): swap, verify, roll back, audit.

The stack test swaps models in a real Rasa server while citizens keep writing: no request may
be lost or answered with anything but an approved reply.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core import catalogue
from bot.infra import db, settings
from bot.ops import ship
from bot.stack.processes import Stack, request_json, start_stack

TOKEN = "ship-test-token"


def real_models() -> list[Path]:
    return sorted(Path(settings.load().model_dir).glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)


# --- without servers --------------------------------------------------------------------------


def test_a_file_that_is_not_a_model_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "x.tar.gz"
    junk.write_bytes(b"not a model")
    with pytest.raises(ship.ShipError, match="不是可用的模型文件"):
        ship.model_id(junk)


def test_model_id_is_the_one_rasa_wrote_at_training() -> None:
    models = real_models()
    if not models:
        pytest.skip("no trained model in models/")
    import tarfile

    with tarfile.open(models[-1]) as tar:
        member = next(m for m in tar.getmembers() if m.name.lstrip("/") == "metadata.json")
        expected = json.load(tar.extractfile(member))["model_id"]  # type: ignore[arg-type]
    assert ship.model_id(models[-1]) == expected and len(expected) >= 16


def test_rollback_without_a_previous_model_says_so(tmp_path: Path) -> None:
    with pytest.raises(ship.ShipError, match="没有上一个版本可以回滚"):
        ship.rollback(["http://127.0.0.1:9"], tmp_path)


def test_ship_without_a_validated_model_asks_for_make_validate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setenv("MODEL_DIR", str(tmp_path))
    assert ship.main([]) == 1
    assert "请先运行 make validate" in capsys.readouterr().out


def test_an_unreachable_process_changes_nothing(tmp_path: Path) -> None:
    models = real_models()
    if not models:
        pytest.skip("no trained model in models/")
    with pytest.raises(ship.ShipError, match="连不上 Rasa 服务"):
        ship.ship(models[-1], ["http://127.0.0.1:9"], tmp_path)
    assert ship.pointer(tmp_path, ship.CURRENT) is None and not (tmp_path / ship.HISTORY).exists()


def test_rasa_urls_lists_every_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RASA_URLS", "http://10.0.0.1:5005/, http://10.0.0.2:5005")
    assert ship.rasa_urls() == ["http://10.0.0.1:5005", "http://10.0.0.2:5005"]
    monkeypatch.delenv("RASA_URLS")
    monkeypatch.setenv("RASA_URL", "http://127.0.0.1:5999")
    assert ship.rasa_urls() == ["http://127.0.0.1:5999"]


# --- a real swap under load -------------------------------------------------------------------


@pytest.fixture(scope="module")
def swap_stack() -> Iterator[tuple[Stack, Path, Path, Path]]:
    """Rasa (with an API token) on a model directory holding two models, A live, B waiting."""
    models = real_models()
    if not models:
        pytest.skip("no trained model in models/ (make train)")
    model_dir = Path(tempfile.mkdtemp(prefix="ship-models-"))
    a, b = model_dir / "model-a.tar.gz", model_dir / "model-b.tar.gz"
    shutil.copy(models[-1], b)
    shutil.copy(models[-2] if len(models) > 1 else models[-1], a)
    os.utime(b, (time.time() - 60, time.time() - 60))  # A is the newest: the server starts with it
    stack = start_stack(("actions", "rasa"), {"MODEL_DIR": str(model_dir), "RASA_AUTH_TOKEN": TOKEN,
                                              "RATE_LIMIT_PER_MINUTE": "0"})  # fmt: skip
    yield stack, model_dir, a, b
    stack.stop()
    shutil.rmtree(model_dir, ignore_errors=True)


def _status(stack: Stack) -> dict:
    code, body = request_json("GET", f"{stack.rasa_url}/status?token={TOKEN}")
    assert code == 200, body
    return body


def _ship_cli(stack: Stack, model_dir: Path, *args: str, token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(settings.ROOT), "RASA_URL": stack.rasa_url, "MODEL_DIR": str(model_dir),
           "RASA_AUTH_TOKEN": token}  # fmt: skip
    env.pop("RASA_URLS", None)
    return subprocess.run([sys.executable, "-m", "bot.ops.ship", *args], cwd=settings.ROOT, env=env,
                          capture_output=True, text=True, timeout=900)  # fmt: skip


@pytest.mark.stack
def test_a_wrong_token_is_refused_and_nothing_changes(swap_stack: tuple[Stack, Path, Path, Path]) -> None:
    stack, model_dir, a, b = swap_stack
    before = _status(stack)["model_file"]
    p = _ship_cli(stack, model_dir, "--model", str(b), token="wrong")
    assert p.returncode == 1 and "401" in p.stdout and "RASA_AUTH_TOKEN" in p.stdout
    assert _status(stack)["model_file"] == before
    assert ship.pointer(model_dir, ship.CURRENT) is None


@pytest.mark.stack
def test_a_model_swap_during_a_stream_of_requests_loses_none(swap_stack: tuple[Stack, Path, Path, Path]) -> None:
    stack, model_dir, a, b = swap_stack
    assert _status(stack)["model_file"] == a.name
    cat = catalogue.load()
    results: list[tuple[float, float, int, list[str]]] = []
    errors: list[str] = []
    stop = threading.Event()

    def citizen(n: int) -> None:
        messages = ["你好", "公积金余额怎么查", "社保卡丢了怎么办", "谢谢", "身份证过期了怎么换"]
        i = 0
        while not stop.is_set():
            started = time.monotonic()
            try:
                code, body = request_json("POST", f"{stack.rasa_url}/webhooks/rest/webhook",
                                          {"sender": f"swap-{n}", "message": messages[i % len(messages)]}, timeout=600)  # fmt: skip
                results.append((started, time.monotonic(), code, [m.get("text", "") for m in body or []]))
            except Exception as e:  # a lost request is what this test exists to catch
                errors.append(f"{type(e).__name__}: {e}")
            i += 1

    threads = [threading.Thread(target=citizen, args=(n,), daemon=True) for n in range(3)]
    for t in threads:
        t.start()
    time.sleep(3)
    t0 = time.monotonic()
    shipped = _ship_cli(stack, model_dir, "--model", str(b))
    t1 = time.monotonic()
    time.sleep(2)
    rolled = _ship_cli(stack, model_dir, "--rollback")
    t2 = time.monotonic()
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join(600)

    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    assert f"已上线 {b.name}" in shipped.stdout and "make rollback" in shipped.stdout
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert f"已回滚到 {a.name}" in rolled.stdout

    # no request lost, every answer approved and none of them the "service busy" apology
    assert errors == []
    assert len(results) > 10
    assert all(code == 200 for _, _, code, _ in results)
    for _, _, _, texts in results:
        assert texts, "a request got no answer"
        for text in texts:
            assert cat.match(text) not in (None, "utter_service_busy"), text + "\n" + stack.log_text("rasa")[-6000:]
    during = [r for r in results if t0 <= r[0] <= t2]
    assert during, "no request was in flight while the models were swapped"

    # the server answers with the rolled-back model; pointers and history say so
    status = _status(stack)
    assert status["model_file"] == a.name and status["model_id"] == ship.model_id(a)
    assert ship.pointer(model_dir, ship.CURRENT) == a.resolve()
    assert ship.pointer(model_dir, ship.PREVIOUS) == b.resolve()
    history = [json.loads(line) for line in (model_dir / ship.HISTORY).read_text(encoding="utf-8").splitlines()]
    assert [(h["action"], h["model"]) for h in history] == [("ship", b.name), ("rollback", a.name)]

    # the audit trail names the model that answered each message
    with db.session(stack.env["DATABASE_URL"]) as s:
        rows = s.query(db.AuditRecord.at, db.AuditRecord.model_version).filter(db.AuditRecord.channel == "rest").all()
    versions = {v for _, v in rows}
    assert {a.name, b.name} <= versions, versions
    assert None not in versions
    assert t1 > t0
