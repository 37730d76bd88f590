"""`make run` trains only when data, domain or config changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.infra import settings
from bot.ops import training


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for entry in ("config.yml", "domain.yml", "data"):
        src = settings.ROOT / entry
        if src.is_dir():
            shutil.copytree(src, tmp_path / entry)
        else:
            shutil.copy(src, tmp_path / entry)
    (tmp_path / "bot" / "nlu").mkdir(parents=True)
    (tmp_path / "bot" / "nlu" / "crisis_screen.py").write_text("# component\n")
    return tmp_path


def test_fingerprint_is_stable_and_follows_training_inputs(project: Path) -> None:
    first = training.fingerprint(project)
    assert training.fingerprint(project) == first
    (project / "data" / "city.yml").write_text("city_name: 别的市\n", encoding="utf-8")
    assert training.fingerprint(project) == first, "the city profile is filled at send time: no retraining"
    nlu = project / "data" / "nlu" / "core.yml"
    nlu.write_text(nlu.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert training.fingerprint(project) != first


def test_an_unchanged_model_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "m1.tar.gz").write_bytes(b"model")
    (models / "fingerprint.json").write_text(json.dumps({"fingerprint": training.fingerprint(), "model": "m1.tar.gz"}))
    monkeypatch.setenv("MODEL_DIR", str(models))
    assert training.current_model(models) == models / "m1.tar.gz"
    assert training.train() == models / "m1.tar.gz"  # returns at once: no rasa train ran
    (models / "fingerprint.json").write_text(json.dumps({"fingerprint": "stale", "model": "m1.tar.gz"}))
    assert training.current_model(models) is None
