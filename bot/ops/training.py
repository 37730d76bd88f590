"""Train only when the training data, domain or config changed; run the conversation tests.

`make run` and `make test` call this: a second `make run` with unchanged data starts at once.
A file lock serialises concurrent trainings (two terminals, parallel test runs).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from bot.infra import settings

log = logging.getLogger("training")
TRAIN_DATA = ["data/nlu", "data/rules", "data/responses"]
INPUTS = ["config.yml", "domain.yml", "data/jieba", *TRAIN_DATA, "bot/rasa/nlu"]


def fingerprint(root: Path = settings.ROOT) -> str:
    h = hashlib.sha256()
    for entry in INPUTS:
        p = root / entry
        files = sorted(p.rglob("*")) if p.is_dir() else [p]
        for f in files:
            if f.is_file() and "__pycache__" not in f.parts:
                h.update(str(f.relative_to(root)).encode())
                h.update(f.read_bytes())
    return h.hexdigest()


def _state_file(model_dir: Path) -> Path:
    return model_dir / "fingerprint.json"


def current_model(model_dir: Path) -> Path | None:
    state = _state_file(model_dir)
    if not state.exists():
        return None
    data = json.loads(state.read_text())
    model = model_dir / data.get("model", "")
    return model if model.is_file() and data.get("fingerprint") == fingerprint() else None


def train(force: bool = False) -> Path:
    cfg = settings.load()
    model_dir = Path(cfg.model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    with open(model_dir / ".train.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        model = current_model(model_dir)
        if model is None and not force and cfg.skip_train:
            # developers working on channels while others edit data: use the newest model
            existing = sorted(model_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
            model = existing[-1] if existing else None
        if model is not None and not force:
            print(f"model up to date: {model.name} (no retraining)", flush=True)  # noqa: T201
            return model
        fp = fingerprint()
        name = time.strftime("%Y%m%d-%H%M%S")
        cmd = [str(Path(sys.executable).parent / "rasa"), "train", "--config", "config.yml", "--domain", "domain.yml",
               "--data", *TRAIN_DATA, "--out", str(model_dir), "--fixed-model-name", name]  # fmt: skip
        print("training: data, domain or config changed", flush=True)  # noqa: T201
        started = time.monotonic()
        env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(settings.ROOT)}
        subprocess.run(cmd, cwd=settings.ROOT, check=True, env=env)  # noqa: S603 - fixed argument list
        model = model_dir / f"{name}.tar.gz"
        current = model_dir / "current"
        if current.is_symlink():
            note = f"models/current still points at {current.resolve().name}: `make ship` serves the new model"
            print(note, flush=True)  # noqa: T201 - the command's own output
        _state_file(model_dir).write_text(
            json.dumps({"fingerprint": fp, "model": model.name, "seconds": round(time.monotonic() - started, 1)})
        )
        return model


def test_stories() -> None:
    model = train()
    out = settings.ROOT / "results" / "stories"
    cmd = [str(Path(sys.executable).parent / "rasa"), "test", "core", "--model", str(model),
           "--stories", "tests/test_stories.yml", "--endpoints", "endpoints.test.yml",
           "--fail-on-prediction-errors", "--out", str(out)]  # fmt: skip
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(settings.ROOT)}
    subprocess.run(cmd, cwd=settings.ROOT, check=True, env=env)  # noqa: S603


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--test-stories", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    if args.test_stories:
        test_stories()
    else:
        train(force=args.force)


if __name__ == "__main__":
    main()
