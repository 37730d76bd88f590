"""`make validate`：运营改完问题、例句或答案后，上线前的全部检查。

In this order (the cheap, most readable checks first; every static check runs even when an
earlier one fails, so ops see all their mistakes at once; training only when all pass):
  1. examples: the same example under two intents (error, both files and lines named),
     the same example twice in one intent (warning), topics with fewer than 12 examples,
     held-out test sentences copied into the training data (warning: figures would lie);
  2. `rasa data validate --fail-on-warnings`;
  3. the content check (`python -m bot.ops.content_check`: wording, placeholders, metadata ...);
  4. train (bot.ops.training: only when data, domain or config changed);
  5. the held-out evaluation per kind (bot.ops.evaluate);
  6. compare with the figures last committed (docs/quality.json at git HEAD): any kind that
     got worse fails, with a Chinese summary of what got worse, by how much, and the new
     confusions that explain why.
When everything passes: docs/quality.{md,json} are updated (commit them with the data) and
models/validated.json names the model that `make ship` will put live.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import re
import subprocess
import sys
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.infra import settings
from bot.ops import evaluate, quality, training
from bot.ops.spreadsheet_book import MIN_EXAMPLES, normalise
from bot.ops.spreadsheet_yaml import TOPIC_KINDS, load_project, parse_nlu

VALIDATED = "validated.json"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class Finding:
    level: str  # error | warning
    zh: str

    def line(self) -> str:
        return f"  {'错误' if self.level == 'error' else '警告'}：{self.zh}"


# --------------------------------------------------------------------------------------------
# 1. examples


def check_examples(root: Path | None = None) -> list[Finding]:
    """Conflicts, duplicates and too few examples in data/nlu, with file:line for each."""
    root = (root or settings.ROOT).resolve()
    project = load_project(root)
    titles = quality.topic_titles(root)
    where: dict[str, list[tuple[str, str, str]]] = defaultdict(list)  # words -> (intent, file:line, text)
    counts: dict[str, int] = defaultdict(int)
    for intent, blocks in project.nlu.items():
        for b in blocks:
            for text, line in zip(b.examples, b.examples_line, strict=True):
                words = normalise(text)
                if not words:
                    continue
                counts[intent] += 1
                where[words].append((intent, f"{b.path.relative_to(root)}:{line + 1}", text))
    findings: list[Finding] = []
    for places in where.values():
        intents = list(dict.fromkeys(i for i, _, _ in places))
        if len(intents) > 1:
            first = places[0]
            other = next(p for p in places if p[0] != first[0])
            findings.append(Finding("error",
                f"例句冲突：“{first[2]}”（{first[1]}）属于 {quality.name(first[0], titles)}，"
                f"“{other[2]}”（{other[1]}）却属于 {quality.name(other[0], titles)}。"
                "同一句话只能属于一个意图，否则模型学不会区分它们；请删掉标错的那一条。"))  # fmt: skip
        elif len(places) > 1:
            findings.append(Finding("warning",
                f"例句重复：“{places[0][2]}” 在 {quality.name(intents[0], titles)} 下出现 {len(places)} 次"
                f"（{'、'.join(p[1] for p in places)}），保留一条即可。"))  # fmt: skip
    for intent, kind in project.kinds.items():
        if kind not in TOPIC_KINDS:
            continue
        n = counts.get(intent, 0)
        if n < MIN_EXAMPLES:
            files = sorted({str(b.path.relative_to(root)) for b in project.nlu.get(intent, [])})
            findings.append(Finding("error",
                f"例句太少：{quality.name(intent, titles)} 只有 {n} 条例句，至少需要 {MIN_EXAMPLES} 条"
                f"（{'、'.join(files) or '还没有例句文件'}）。请补充群众的不同说法：口语、方言、错别字、长句、替家人问。"))  # fmt: skip
    heldout = root / "tests" / "nlu" / "heldout.yml"
    if heldout.exists():
        for b in parse_nlu(heldout, heldout.read_text(encoding="utf-8")):
            for text, line in zip(b.examples, b.examples_line, strict=True):
                hits = where.get(normalise(text))
                if hits:
                    findings.append(Finding("warning",
                        f"评估集的句子“{text}”（tests/nlu/heldout.yml:{line + 1}）也在训练例句里（{hits[0][1]}），"
                        "评估结果会偏高；请从训练例句中删掉它或换一种说法。"))  # fmt: skip
    return findings


# --------------------------------------------------------------------------------------------
# 2. rasa data validate, 3. content check


def _env() -> dict[str, str]:
    return {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(settings.ROOT)}


def rasa_validate(root: Path) -> tuple[bool, list[str]]:
    rasa = str(Path(sys.executable).parent / "rasa")
    cmd = [rasa, "data", "validate", "--fail-on-warnings", "--data", *training.TRAIN_DATA,
           "--domain", "domain.yml", "--config", "config.yml"]  # fmt: skip
    p = subprocess.run(cmd, cwd=root, env=_env(), capture_output=True, text=True)  # noqa: S603 - fixed argument list
    if p.returncode == 0:
        return True, []
    text = _ANSI.sub("", p.stdout + p.stderr)
    lines = [
        ln.split("UserWarning: ", 1)[-1].strip()
        for ln in text.splitlines()
        if re.search(r"UserWarning|ERROR|Error", ln)
    ]
    return False, (lines or text.strip().splitlines())[-20:]


def content_check(root: Path) -> tuple[bool, list[str]]:
    if importlib.util.find_spec("bot.ops.content_check") is None:
        return False, [
            "内容检查模块 bot/ops/content_check.py 不存在，无法检查答案的用语、占位符和元数据；请联系开发人员。"
        ]
    cmd = [sys.executable, "-m", "bot.ops.content_check"]
    if root.resolve() != settings.ROOT.resolve():
        cmd += ["--root", str(root)]
    p = subprocess.run(cmd, cwd=settings.ROOT, env=_env(), capture_output=True, text=True)  # noqa: S603
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith(("错误", "警告"))]
    if p.returncode != 0 and not lines:
        lines = (p.stdout + p.stderr).strip().splitlines()[-20:]
    return p.returncode == 0, lines


def baseline(root: Path) -> tuple[dict[str, Any] | None, str]:
    """The figures last committed (git HEAD), else the working copy's, else none."""
    try:
        p = subprocess.run(["git", "show", "HEAD:docs/quality.json"], cwd=root, capture_output=True, text=True)  # noqa: S603, S607
        if p.returncode == 0:
            return json.loads(p.stdout), "git HEAD 的 docs/quality.json"
    except (OSError, ValueError):
        pass
    f = root / "docs" / "quality.json"
    if f.exists():
        return json.loads(f.read_text(encoding="utf-8")), "工作区的 docs/quality.json（尚未提交）"
    return None, ""


# --------------------------------------------------------------------------------------------
# the pipeline


def _stage(n: int, total: int, title: str) -> None:
    sys.stdout.write(f"\n【{n}/{total}】{title}\n")
    sys.stdout.flush()


def _result(ok: bool, lines: list[str], ok_text: str) -> None:
    for ln in lines:
        sys.stdout.write(ln if ln.startswith("  ") else f"  {ln}")
        sys.stdout.write("\n")
    sys.stdout.write(f"  {'✔ ' + ok_text if ok else '✘ 未通过'}\n")
    sys.stdout.flush()


def static_checks(root: Path, total: int) -> list[str]:
    """Stages 1-3; the names of the failed ones."""
    failed = []
    _stage(1, total, "例句检查：冲突、重复、数量")
    findings = check_examples(root)
    ok = not any(f.level == "error" for f in findings)
    _result(ok, [f.line() for f in findings], f"例句没有冲突，每个问题至少 {MIN_EXAMPLES} 条")
    if not ok:
        failed.append("例句检查")
    _stage(2, total, "Rasa 数据校验（rasa data validate）")
    ok, lines = rasa_validate(root)
    _result(ok, lines, "训练数据、对话规则和 domain 一致")
    if not ok:
        failed.append("Rasa 数据校验")
    _stage(3, total, "内容检查：用语、占位符、长度、依据来源和复核日期")
    ok, lines = content_check(root)
    _result(ok, lines, "所有答案通过内容检查")
    if not ok:
        failed.append("内容检查")
    return failed


def _quiet() -> None:
    """TensorFlow's, jieba's and the libraries' chatter would bury the summary ops must read."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore")
    try:
        import jieba

        jieba.setLogLevel(logging.WARNING)
    except ImportError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=None, help="检查另一个项目目录（只做 1-3 步静态检查）")
    parser.add_argument("--no-train", action="store_true", help="只做 1-3 步静态检查")
    parser.add_argument("--skip-static", action="store_true", help="跳过 1-3 步")
    parser.add_argument("--figures", type=Path, help="用这份评估结果（JSON），不训练也不评估")
    parser.add_argument("--baseline", type=Path, help="对比的基线（默认：git HEAD 的 docs/quality.json）")
    parser.add_argument("--tolerance", type=float, default=0.0, help="允许的下降（0.01 = 1 个百分点），默认 0")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    root = (args.root or settings.ROOT).resolve()
    only_static = args.no_train or root != settings.ROOT.resolve()
    total = 3 if only_static else 6
    started = time.monotonic()
    sys.stdout.write(f"make validate：检查 {root}\n")
    if not args.skip_static:
        failed = static_checks(root, total)
        if failed:
            sys.stdout.write(
                f"\n未通过：{'、'.join(failed)}。请按上面的提示修改后重新运行 make validate（未训练模型）。\n"
            )
            return 1
    if only_static:
        sys.stdout.write(f"\n静态检查通过（{time.monotonic() - started:.0f} 秒；未训练、未评估）。\n")
        return 0

    model: Path | None = None
    _quiet()
    if args.figures:
        figures = json.loads(args.figures.read_text(encoding="utf-8"))
    else:
        _stage(4, total, "训练模型（数据没变时直接用已有模型）")
        try:
            model = training.train()
        except subprocess.CalledProcessError:
            _result(False, ["训练失败，请把上面的输出发给开发人员。"], "")
            return 1
        fresh = training.current_model(Path(settings.load().model_dir)) is not None
        _result(
            True,
            [] if fresh else ["警告：SKIP_TRAIN=1，用的是已有的模型，评估结果不代表当前的数据。"],
            f"模型 {model.name}",
        )
        _stage(5, total, "评估：用单独写的评估集（tests/nlu/heldout.yml）按类别打分")
        figures, _ = evaluate.evaluate(str(model))
        results = settings.ROOT / "results"
        results.mkdir(exist_ok=True)
        (results / "eval.json").write_text(json.dumps(figures, ensure_ascii=False, indent=2), encoding="utf-8")
        summary = [f"{quality.KIND_ZH.get(k, k)}：准确率 {quality.pct(v['accuracy'])}（{v['n']} 条）"
                   for k, v in figures.items() if isinstance(v, dict) and "accuracy" in v]  # fmt: skip
        summary.append(
            f"危机识别率 {quality.pct(figures['crisis_recall'])}，误答率 {quality.pct(figures['false_accept'])}"
        )
        missed = evaluate.verdicts(figures)
        if missed:
            summary.append("未达到目标（不影响本次结果，但请留意）：" + "；".join(missed))
        _result(True, summary, "评估完成（results/eval.json）")
        if not fresh:
            model = None

    _stage(total, total, "与上次提交的质量数据对比")
    if args.baseline:
        old, where = json.loads(args.baseline.read_text(encoding="utf-8")), str(args.baseline)
    else:
        old, where = baseline(settings.ROOT)
    if old is None:
        _result(True, ["还没有提交过质量数据（docs/quality.json），本次结果将作为基线。"], "无可对比的基线")
        worse: list[str] = []
    else:
        worse = quality.regressions(old, figures, args.tolerance)
        _result(not worse, [f"基线：{where}", *worse], "没有任何一类变差")
    if worse:
        sys.stdout.write("\n未通过：和上次提交相比，上面这些变差了。请按建议修改例句后重新运行 make validate；"
                  "模型没有上线，线上服务不受影响。\n")  # fmt: skip
        return 1
    if not args.figures and model is None:
        sys.stdout.write(
            "\n检查通过，但用的不是当前数据训练的模型（SKIP_TRAIN=1），所以没有更新质量数据，也不能 make ship。\n"
        )
        return 0
    if not args.figures and model is not None:
        docs = settings.ROOT / "docs"
        docs.mkdir(exist_ok=True)
        (docs / "quality.md").write_text(evaluate.markdown(figures, str(model)), encoding="utf-8")
        (docs / "quality.json").write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        state = {"model": model.name, "data_fingerprint": training.fingerprint(),
                 "validated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}  # fmt: skip
        (Path(settings.load().model_dir) / VALIDATED).write_text(
            json.dumps(state, ensure_ascii=False), encoding="utf-8"
        )
    sys.stdout.write(f"\n全部通过（{time.monotonic() - started:.0f} 秒）。")
    if not args.figures:
        sys.stdout.write("已更新 docs/quality.md 和 docs/quality.json，请和数据修改一起提交；然后 make ship 上线。")
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
