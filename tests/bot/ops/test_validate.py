"""`make validate` (bot/ops/validate.py): planted mistakes fail it, with messages ops can act on.

The conflict checks run on a copy of the project's data (no training needed); regressions are
planted as worse figures against a baseline. One end-to-end run evaluates the real model.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.infra import settings
from bot.ops import quality, validate

BASELINE: dict[str, Any] = {
    "examples": 400,
    "ms_per_message": 12.0,
    "faq": {"n": 200, "accuracy": 0.965, "fallback_rate": 0.02},
    "report": {"n": 80, "accuracy": 0.9375, "fallback_rate": 0.025},
    "deflect": {"n": 60, "accuracy": 0.9333, "fallback_rate": 0.0333},
    "crisis": {"n": 30, "accuracy": 1.0, "fallback_rate": 0.0},
    "core": {"n": 30, "accuracy": 0.9667, "fallback_rate": 0.0},
    "false_accept": 0.0143,
    "crisis_recall": 1.0,
    "crisis_false_alarm": 0.0027,
    "worst_confusions": [{"expected": "faq/hpf_withdraw_rent", "predicted": "faq/hpf_withdraw_purchase", "count": 2}],
}


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(settings.ROOT / "data", root / "data")
    for name in ("domain.yml", "config.yml"):
        shutil.copy(settings.ROOT / name, root / name)
    (root / "tests" / "nlu").mkdir(parents=True)
    shutil.copy(settings.ROOT / "tests" / "nlu" / "heldout.yml", root / "tests" / "nlu" / "heldout.yml")
    return root


def plant(root: Path, rel: str, intent: str, example: str) -> int:
    """Add `example` as the first example of `intent` in `rel`; its 1-based line number."""
    path = root / rel
    lines = path.read_text(encoding="utf-8").split("\n")
    at = next(i for i, line in enumerate(lines) if line.strip() == f"- intent: {intent}") + 2
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    lines.insert(at, f"{indent}- {example}")
    path.write_text("\n".join(lines), encoding="utf-8")
    return at + 1


def line_of(root: Path, rel: str, text: str) -> int:
    lines = (root / rel).read_text(encoding="utf-8").split("\n")
    return next(i for i, line in enumerate(lines) if line.strip() == f"- {text}") + 1


# --- 1. examples ------------------------------------------------------------------------------


def test_the_project_as_committed_has_no_conflicts_and_enough_examples() -> None:
    assert [f.zh for f in validate.check_examples() if f.level == "error"] == []


def test_a_planted_conflicting_example_names_both_intents_files_and_lines(project: Path) -> None:
    existing = "公积金余额怎么查"
    original = line_of(project, "data/nlu/faq_housing_fund.yml", existing)
    planted = plant(project, "data/nlu/faq_hrss.yml", "faq/pension_contribution", "公积金余额 怎么查？")
    errors = [f.zh for f in validate.check_examples(project) if f.level == "error"]
    assert len(errors) == 1, errors
    msg = errors[0]
    assert "例句冲突" in msg
    assert f"data/nlu/faq_hrss.yml:{planted}" in msg
    # the original's line moved by nothing (another file): it is named where it really is
    assert f"data/nlu/faq_housing_fund.yml:{original}" in msg
    assert "faq/hpf_balance_query（公积金余额查询与缴存证明）" in msg and "faq/pension_contribution" in msg
    assert "同一句话只能属于一个意图" in msg


def test_a_conflict_with_a_core_intent_is_caught_too(project: Path) -> None:
    plant(project, "data/nlu/reports.yml", "report_noise", "谢谢")
    errors = [f.zh for f in validate.check_examples(project) if f.level == "error"]
    assert any("thank" in e and "report_noise" in e and "data/nlu/core.yml" in e for e in errors), errors


def test_a_topic_with_too_few_examples_fails(project: Path) -> None:
    path = project / "data/nlu/faq_hotline.yml"
    lines = path.read_text(encoding="utf-8").split("\n")
    example_lines = [i for i, line in enumerate(lines) if line.startswith("      - ")]
    keep = set(example_lines[:11])
    path.write_text(
        "\n".join(line for i, line in enumerate(lines) if i not in example_lines or i in keep), encoding="utf-8"
    )
    errors = [f.zh for f in validate.check_examples(project) if f.level == "error"]
    assert errors == [
        "例句太少：faq/hotline_scope（12345热线受理范围与服务时间） 只有 11 条例句，至少需要 12 条（data/nlu/faq_hotline.yml）。"
        "请补充群众的不同说法：口语、方言、错别字、长句、替家人问。"
    ]


def test_a_repeated_example_in_one_intent_and_a_heldout_leak_are_warnings(project: Path) -> None:
    plant(project, "data/nlu/faq_hotline.yml", "faq/hotline_scope", "12345能管什么")
    heldout_text = "社保咔申请"
    plant(project, "data/nlu/faq_hrss.yml", "faq/shebao_card_apply", heldout_text)
    findings = validate.check_examples(project)
    assert not [f for f in findings if f.level == "error"]
    warnings = " ".join(f.zh for f in findings)
    assert "例句重复：“12345能管什么”" in warnings
    assert f"评估集的句子“{heldout_text}”" in warnings


def test_make_validate_fails_on_a_planted_conflict_before_training(project: Path) -> None:
    """The whole static stage, as `make validate` runs it, on the copy."""
    planted = plant(project, "data/nlu/deflect.yml", "out_of_scope", "租房能提取公积金吗")
    p = subprocess.run(
        [sys.executable, "-m", "bot.ops.validate", "--root", str(project)],
        cwd=settings.ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(settings.ROOT)},
    )  # fmt: skip
    assert p.returncode == 1, p.stdout + p.stderr
    assert f"data/nlu/deflect.yml:{planted}" in p.stdout
    assert "例句冲突" in p.stdout and "faq/hpf_withdraw_rent" in p.stdout and "out_of_scope" in p.stdout
    assert "未通过：例句检查" in p.stdout and "未训练模型" in p.stdout
    assert "【4/" not in p.stdout  # no training was started


# --- 6. regressions ---------------------------------------------------------------------------


def test_no_regression_when_nothing_got_worse() -> None:
    better = copy.deepcopy(BASELINE)
    better["faq"]["accuracy"] = 0.98
    assert quality.regressions(BASELINE, BASELINE) == []
    assert quality.regressions(BASELINE, better) == []


def test_a_planted_regression_says_which_kind_by_how_much_and_why() -> None:
    worse = copy.deepcopy(BASELINE)
    worse["faq"]["accuracy"] = 0.945  # 4 of 200 fewer
    worse["worst_confusions"] = [
        {"expected": "faq/hpf_withdraw_rent", "predicted": "faq/hpf_withdraw_purchase", "count": 5},
        {"expected": "faq/hpf_loan", "predicted": "nlu_fallback", "count": 1},
    ]
    lines = quality.regressions(BASELINE, worse)
    text = "\n".join(lines)
    assert lines[0] == "常见问题（FAQ） 准确率下降：96.5% → 94.5%（变差 2.0 个百分点，约 4 条）"
    assert (
        "faq/hpf_withdraw_rent（租房提取住房公积金） 被识别成 faq/hpf_withdraw_purchase（购房提取住房公积金）：5 次（之前 2 次）"
        in text
    )
    assert "faq/hpf_loan（住房公积金贷款） 被识别成 没听懂（兜底）：1 次（之前 0 次）" in text
    assert "为 faq/hpf_loan 补充这类说法的例句" in text
    assert "报事" not in text and "report" not in text  # kinds that did not get worse are not named


def test_crisis_recall_comes_first_and_every_kind_of_measure_is_compared() -> None:
    worse = copy.deepcopy(BASELINE)
    worse["crisis_recall"] = 0.9667
    worse["crisis"]["accuracy"] = 0.9667
    worse["deflect"]["fallback_rate"] = 0.05
    worse["false_accept"] = 0.03
    worse["crisis_false_alarm"] = 0.01
    del worse["core"]
    lines = quality.regressions(BASELINE, worse)
    assert lines[0].startswith("危机识别率下降：100.0% → 96.7%") and "约 1 条" in lines[0]
    text = "\n".join(lines)
    for expected in ("危机 准确率下降", "劝导（超出受理范围等） 没听懂（兜底）的比例上升：3.3% → 5.0%",
                     "误答率上升：1.4% → 3.0%", "危机误报率上升", "对话（问候、确认、转人工等）：评估结果里没有这一类了"):  # fmt: skip
        assert expected in text


def test_tolerance_lets_a_small_drop_pass() -> None:
    worse = copy.deepcopy(BASELINE)
    worse["faq"]["accuracy"] = 0.96
    assert quality.regressions(BASELINE, worse) != []
    assert quality.regressions(BASELINE, worse, tolerance=0.01) == []


def test_make_validate_fails_on_planted_worse_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, worse = tmp_path / "quality.json", tmp_path / "eval.json"
    base.write_text(json.dumps(BASELINE), encoding="utf-8")
    planted = copy.deepcopy(BASELINE)
    planted["report"]["accuracy"] = 0.875
    worse.write_text(json.dumps(planted), encoding="utf-8")
    assert validate.main(["--skip-static", "--figures", str(worse), "--baseline", str(base)]) == 1
    out = capsys.readouterr().out
    assert "投诉举报（报事） 准确率下降：93.8% → 87.5%（变差 6.2 个百分点，约 5 条）" in out
    assert "未通过" in out and "模型没有上线" in out
    assert validate.main(["--skip-static", "--figures", str(base), "--baseline", str(base)]) == 0
    assert "没有任何一类变差" in capsys.readouterr().out


def test_the_baseline_is_the_committed_file(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "quality.json").write_text(json.dumps(BASELINE), encoding="utf-8")
    subprocess.run(["git", "-C", str(tmp_path), "add", "docs"], check=True)
    subprocess.run(
        ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "q"], check=True
    )
    # a later, uncommitted (better or worse) file does not move the bar
    (tmp_path / "docs" / "quality.json").write_text(json.dumps({**BASELINE, "false_accept": 0.5}), encoding="utf-8")
    figures, where = validate.baseline(tmp_path)
    assert figures == BASELINE and "git HEAD" in where


# --- one real end-to-end evaluation -----------------------------------------------------------


@pytest.mark.stack
def test_the_real_model_evaluated_against_a_planted_better_baseline_fails(tmp_path: Path) -> None:
    """bot.ops.evaluate --compare uses quality.regressions on real figures of the real model."""
    models = sorted(Path(settings.load().model_dir).glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        pytest.skip("no trained model in models/ (make train)")
    perfect = {**BASELINE, "faq": {"n": 1, "accuracy": 1.0, "fallback_rate": 0.0}, "false_accept": 0.0}
    base = tmp_path / "perfect.json"
    base.write_text(json.dumps(perfect), encoding="utf-8")
    p = subprocess.run(
        [sys.executable, "-m", "bot.ops.evaluate", "--model", str(models[-1]), "--no-docs", "--compare", str(base)],
        cwd=settings.ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "PYTHONPATH": str(settings.ROOT), "RASA_TELEMETRY_ENABLED": "false"},
    )  # fmt: skip
    figures = json.loads((settings.ROOT / "results" / "eval.json").read_text(encoding="utf-8"))
    if figures["faq"]["accuracy"] < 1.0:
        assert p.returncode == 1, p.stdout[-2000:] + p.stderr[-2000:]
        assert "常见问题（FAQ） 准确率下降：100.0% →" in p.stdout
    assert quality.regressions(figures, figures) == []
