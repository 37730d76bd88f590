"""Held-out evaluation per kind (`make eval`): is the bot precise enough to be trusted?

Trains if needed, then parses every message of tests/nlu/heldout.yml (written separately from
the training data) with the real model, in process, and reports per kind (faq, report, deflect,
crisis, core): accuracy, fallback rate, the false-accept rate (an out-of-scope, deflect or
report message that receives an FAQ answer) and crisis recall, plus the worst confusions.
Writes docs/quality.md (the table and the command that made it) and results/eval.json;
`--compare FILE` fails on any regression against figures committed earlier (bot.ops.quality).
Then, when eval/deflect/messages.yml exists (or `--deflect FILE` names another `{text, kind}`
set), the deflection figures of bot.ops.deflect_eval, written to results/eval_deflect.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core import topics
from bot.infra import settings
from bot.ops import deflect_eval, eval_sets, quality, training

HELDOUT = settings.ROOT / "tests" / "nlu" / "heldout.yml"
TARGETS = {"faq": 0.95, "report": 0.90, "deflect": 0.90, "crisis_recall": 1.0, "false_accept": 0.03}
PROJECT_CORE = {"inform", "skip", "stop", "rate_service", "feedback"}


@dataclass
class Case:
    text: str
    expected: str
    predicted: str
    confidence: float


def label_of(parse: dict[str, Any]) -> tuple[str, float]:
    intent = parse.get("intent") or {}
    name, conf = intent.get("name") or "nlu_fallback", float(intent.get("confidence") or 0.0)
    if name == "faq":
        selected = ((parse.get("response_selector") or {}).get("faq") or {}).get("response") or {}
        key = selected.get("intent_response_key")
        if key:
            return key, conf * float(selected.get("confidence") or 0.0)
    return name, conf


def kind_of(label: str) -> str:
    t = topics.load().get(label)
    if t is not None:
        return t.kind
    return "core" if label in PROJECT_CORE else "other"


def read_heldout(path: Path = HELDOUT) -> list[tuple[str, str]]:
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    out = []
    for m in data.intent_examples:
        # retrieval intents come back as intent "faq" with intent_response_key "faq/<id>"
        label = m.get("intent_response_key") or m.get("intent")
        out.append((m.get("text"), str(label)))
    return out


async def _parse_all(model: str, texts: list[str]) -> list[dict[str, Any]]:
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # Rasa logs every parsed text at DEBUG
    agent = Agent.load(model)
    return [await agent.parse_message(t) for t in texts]


def evaluate(model: str, heldout: Path = HELDOUT) -> tuple[dict[str, Any], list[Case]]:
    examples = read_heldout(heldout)
    started = time.monotonic()
    parses = asyncio.run(_parse_all(model, [t for t, _ in examples]))
    elapsed = time.monotonic() - started
    cases = []
    for (text, expected), parse in zip(examples, parses, strict=True):
        predicted, conf = label_of(parse)
        cases.append(Case(text=text, expected=expected, predicted=predicted, confidence=conf))
    by_kind: dict[str, list[Case]] = defaultdict(list)
    for c in cases:
        by_kind[kind_of(c.expected)].append(c)
    figures: dict[str, Any] = {"examples": len(cases), "ms_per_message": round(1000 * elapsed / max(len(cases), 1), 1)}
    for kind, items in sorted(by_kind.items()):
        correct = sum(c.predicted == c.expected for c in items)
        fallback = sum(c.predicted == "nlu_fallback" for c in items)
        figures[kind] = {
            "n": len(items),
            "accuracy": round(correct / len(items), 4),
            "fallback_rate": round(fallback / len(items), 4),
        }
    # false accept: a message that should NOT get an FAQ answer gets one
    negatives = [c for c in cases if kind_of(c.expected) in ("deflect", "report")]
    false_accept = [c for c in negatives if kind_of(c.predicted) == "faq"]
    figures["false_accept"] = round(len(false_accept) / max(len(negatives), 1), 4)
    crisis = [c for c in cases if kind_of(c.expected) == "crisis"]
    figures["crisis_recall"] = round(sum(c.predicted == c.expected for c in crisis) / max(len(crisis), 1), 4)
    # a non-crisis message treated as a crisis (a false alarm costs an agent, not a life)
    non_crisis = [c for c in cases if kind_of(c.expected) != "crisis"]
    figures["crisis_false_alarm"] = round(
        sum(kind_of(c.predicted) == "crisis" for c in non_crisis) / max(len(non_crisis), 1), 4
    )
    confusions = Counter((c.expected, c.predicted) for c in cases if c.predicted != c.expected)
    figures["worst_confusions"] = [
        {"expected": e, "predicted": p, "count": n} for (e, p), n in confusions.most_common(12)
    ]
    return figures, cases


def evaluate_deflections(model: str, path: Path) -> dict[str, Any]:
    """Deflection recall per kind and the FAQ-or-form rate on a `{text, kind}` set."""
    messages = eval_sets.load_deflections(path)
    parses = asyncio.run(_parse_all(model, [m.text for m in messages]))
    predicted = [label_of(p)[0] for p in parses]
    kinds = {label: kind_of(label) for label in set(predicted)}
    return deflect_eval.figures(deflect_eval.outcomes(messages, predicted, kinds))


def verdicts(figures: dict[str, Any]) -> list[str]:
    """Which targets of the issue are missed."""
    missed = []
    for kind in ("faq", "report", "deflect"):
        acc = figures.get(kind, {}).get("accuracy", 0)
        if acc < TARGETS[kind]:
            missed.append(f"{kind} accuracy {acc:.1%} < {TARGETS[kind]:.0%}")
    if figures["false_accept"] > TARGETS["false_accept"]:
        missed.append(f"false accept {figures['false_accept']:.1%} > {TARGETS['false_accept']:.0%}")
    if figures["crisis_recall"] < TARGETS["crisis_recall"]:
        missed.append(f"crisis recall {figures['crisis_recall']:.1%} < 100%")
    return missed


def markdown(figures: dict[str, Any], model: str) -> str:
    rows = ["| kind | examples | accuracy | fallback rate | target |", "| --- | ---: | ---: | ---: | --- |"]
    for kind in ("faq", "report", "deflect", "crisis", "core"):
        if kind in figures:
            f = figures[kind]
            target = f"≥ {TARGETS[kind]:.0%}" if kind in TARGETS else ""
            rows.append(f"| {kind} | {f['n']} | {f['accuracy']:.1%} | {f['fallback_rate']:.1%} | {target} |")
    confusion = "\n".join(f"| {c['expected']} | {c['predicted']} | {c['count']} |" for c in figures["worst_confusions"])
    missed = verdicts(figures)
    return f"""# Quality: held-out evaluation

Made by `make eval` (`python -m bot.ops.evaluate`) on {time.strftime('%Y-%m-%d')} with model `{Path(model).name}`,
on `tests/nlu/heldout.yml` ({figures['examples']} messages the team wrote apart from the training examples: its
own style, so these figures flatter). The figures on text the team did not write follow below; where each
of those sets came from is in [eval-sets.md](eval-sets.md).
Parse time: {figures['ms_per_message']} ms per message (in process, 2 cores).

{chr(10).join(rows)}

| measure | value | target |
| --- | ---: | --- |
| false accept (deflect or report message answered with an FAQ) | {figures['false_accept']:.1%} | ≤ 3% |
| crisis recall | {figures['crisis_recall']:.1%} | 100% |
| crisis false alarms (non-crisis treated as crisis) | {figures['crisis_false_alarm']:.1%} | as low as possible |

Targets missed: {'none' if not missed else '; '.join(missed)}.

## Worst confusions

| expected | predicted | count |
| --- | --- | ---: |
{confusion}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", help="model archive (default: train if needed, then the current one)")
    parser.add_argument("--heldout", default=str(HELDOUT))
    parser.add_argument("--compare", help="fail on a regression against these committed figures (JSON)")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/quality.md")
    parser.add_argument(
        "--crisis",
        action="append",
        help="a crisis set to screen (YAML {text, kind, directness} or .txt of everyday messages); "
        "default: tests/nlu/crisis_dev.yml and eval/crisis, eval/everyday where present",
    )
    parser.add_argument(
        "--deflect",
        help=f"a {{text, kind}} deflection set (default: {eval_sets.DEFLECT_SET.relative_to(settings.ROOT)} if present)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    from bot.ops import crisis_eval

    model = args.model or str(training.train())
    figures, _ = evaluate(model, Path(args.heldout))
    crisis_sets = crisis_eval.run([Path(p) for p in args.crisis] if args.crisis else crisis_eval.default_sets())
    figures["crisis_screening"] = crisis_sets
    extra_md = "\n## Crisis screening (bot.ops.crisis_eval)\n\n" + "\n".join(
        crisis_eval.markdown(name, f) for name, f in crisis_sets.items()
    )
    out = settings.ROOT / "results"
    out.mkdir(exist_ok=True)
    deflect = Path(args.deflect) if args.deflect else eval_sets.DEFLECT_SET
    if deflect.is_file():
        deflections = evaluate_deflections(model, deflect)
        figures["deflection_set"] = deflections
        extra_md += (
            "\n"
            + deflect_eval.markdown(
                deflections,
                str(deflect.relative_to(settings.ROOT) if deflect.is_relative_to(settings.ROOT) else deflect),
            )
            + "\n"
        )
    elif args.deflect:
        sys.stdout.write(f"no deflection set at {deflect}\n")
        return 2
    (out / "eval.json").write_text(json.dumps(figures, ensure_ascii=False, indent=2), encoding="utf-8")
    if not args.no_docs:
        docs = settings.ROOT / "docs"
        docs.mkdir(exist_ok=True)
        (docs / "quality.md").write_text(markdown(figures, model) + extra_md, encoding="utf-8")
        (docs / "quality.json").write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(markdown(figures, model) + extra_md + "\n")
    if args.compare:
        worse = quality.regressions(json.loads(Path(args.compare).read_text(encoding="utf-8")), figures)
        if worse:
            sys.stdout.write("\n".join(worse) + "\n")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
