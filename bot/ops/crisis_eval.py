"""Crisis screening figures for any crisis set (`make eval`, or `python -m bot.ops.crisis_eval FILE...`).

A set is either a YAML list of `{text, kind, directness}` (kind `none` for a message that is no
crisis; directness `direct` / `indirect` for a crisis, anything for the others, e.g. `hard`,
`everyday`, `long`) or a `.txt` file with one everyday message per line (kind `none`). Every message
goes through bot.core.crisis.assess, the function the bot itself runs, so the figures are the bot's:
- recall per kind and directness: a crisis caught (band CRISIS, or CHECK: the check question
  carries the emergency numbers and a yes gives the urgent ticket); `as_crisis` counts CRISIS alone;
- the false-alarm rate (band CRISIS on a message that is none) and the check-question rate, per
  group of the non-crisis messages; the lexicon patterns that raised false alarms.
The issue's targets (issue 17) are printed beside them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.core import crisis
from bot.infra import settings

DEV = settings.ROOT / "tests" / "nlu" / "crisis_dev.yml"
EVAL = settings.ROOT / "eval"
TARGETS = {"direct": 1.0, "indirect": 0.97, "false_alarm": 0.003, "false_alarm_long": 0.005, "check_rate": 0.01}


@dataclass(frozen=True)
class Item:
    text: str
    kind: str
    directness: str
    source: str  # the file it came from


def read_set(path: Path) -> list[Item]:
    if path.suffix == ".txt":
        lines = path.read_text(encoding="utf-8").splitlines()
        return [Item(t.strip(), "none", "everyday", path.name) for t in lines if t.strip()]
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    if isinstance(raw, dict):  # eval/ sets keep their list under one key (statements:, messages:, complaints:)
        raw = next((v for v in raw.values() if isinstance(v, list)), [])
    return [
        Item(str(r["text"]), str(r.get("kind") or "none"), str(r.get("directness") or "none"), path.name) for r in raw
    ]


def default_sets() -> list[Path]:
    """The dev set and, where they exist, the independent evaluation sets under eval/."""
    found = [DEV]
    statements = EVAL / "crisis" / "statements.yml"
    if statements.exists():
        found.append(statements)
    everyday = EVAL / "everyday"
    if everyday.is_dir():
        found += sorted(p for p in everyday.iterdir() if p.suffix in (".txt", ".yml", ".yaml"))
    return found


def _rate(n: int, total: int) -> float:
    return round(n / total, 4) if total else 0.0


def figures(items: list[Item]) -> dict[str, Any]:
    started = time.monotonic()
    results = [(item, crisis.assess(item.text)) for item in items]
    elapsed = time.monotonic() - started
    out: dict[str, Any] = {"messages": len(items), "ms_per_message": round(1000 * elapsed / max(len(items), 1), 1)}
    recall: dict[str, Any] = {}
    groups: dict[tuple[str, str], list[crisis.Assessment]] = defaultdict(list)
    for item, a in results:
        if item.kind != "none":
            groups[(item.kind, item.directness)].append(a)
    for (kind, directness), found in sorted(groups.items()):
        caught = sum(a.band is not crisis.Band.CLEAR for a in found)
        recall[f"{kind}/{directness}"] = {
            "n": len(found),
            "recall": _rate(caught, len(found)),
            "as_crisis": _rate(sum(a.band is crisis.Band.CRISIS for a in found), len(found)),
        }
    for directness in ("direct", "indirect"):
        found = [a for (_, d), xs in groups.items() if d == directness for a in xs]
        caught = sum(a.band is not crisis.Band.CLEAR for a in found)
        recall[directness] = {"n": len(found), "recall": _rate(caught, len(found))}
    out["recall"] = recall
    out["missed"] = [
        {"text": item.text, "kind": item.kind, "directness": item.directness}
        for item, a in results
        if item.kind != "none" and a.band is crisis.Band.CLEAR
    ]
    none: dict[str, list[tuple[Item, crisis.Assessment]]] = defaultdict(list)
    for item, a in results:
        if item.kind == "none":
            none[f"{item.source}:{item.directness}"].append((item, a))
            none["all"].append((item, a))
    out["none"] = {
        group: {
            "n": len(xs),
            "false_alarm": _rate(sum(a.band is crisis.Band.CRISIS for _, a in xs), len(xs)),
            "check_rate": _rate(sum(a.band is crisis.Band.CHECK for _, a in xs), len(xs)),
        }
        for group, xs in sorted(none.items())
    }
    out["false_alarms"] = [
        {"text": item.text[:80], "source": a.source.value, "pattern": a.pattern, "score": _score(a)}
        for item, a in none["all"]
        if a.band is crisis.Band.CRISIS
    ]
    out["checks"] = [
        {"text": item.text[:80], "source": a.source.value, "score": _score(a)}
        for item, a in none["all"]
        if a.band is crisis.Band.CHECK
    ]
    # which lexicon patterns fired on messages that are no crisis, and how the context judged them
    fired = Counter((a.pattern, a.band.value) for _, a in none["all"] if a.pattern)
    out["lexicon_on_none"] = [{"pattern": p, "band": b, "count": n} for (p, b), n in fired.most_common()]
    return out


def _score(a: crisis.Assessment) -> float | None:
    return round(a.semantic.probability, 3) if a.semantic else None


def markdown(name: str, f: dict[str, Any]) -> str:
    rows = [
        f"### {name} ({f['messages']} messages, {f['ms_per_message']} ms each)",
        "",
        "| crisis kind / directness | n | caught (crisis or check) | as crisis | target |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for key, r in f["recall"].items():
        target = f"{TARGETS[key]:.0%}" if key in TARGETS else ""
        as_crisis = f"{r['as_crisis']:.1%}" if "as_crisis" in r else ""
        rows.append(f"| {key} | {r['n']} | {r['recall']:.1%} | {as_crisis} | {target} |")
    rows += ["", "| no crisis | n | false alarms | check questions |", "| --- | ---: | ---: | ---: |"]
    for group, r in f["none"].items():
        rows.append(f"| {group} | {r['n']} | {r['false_alarm']:.2%} | {r['check_rate']:.2%} |")
    rows.append(
        f"\nTargets: direct 100%, indirect ≥ 97%, false alarms ≤ {TARGETS['false_alarm']:.1%} of everyday "
        f"and ≤ {TARGETS['false_alarm_long']:.1%} of long complaints, check questions ≤ {TARGETS['check_rate']:.0%}."
    )
    for title, key in (("Missed", "missed"), ("False alarms", "false_alarms"), ("Check questions", "checks")):
        if f[key]:
            rows += ["", f"{title}:"] + [f"- {json.dumps(x, ensure_ascii=False)}" for x in f[key][:40]]
    return "\n".join(rows) + "\n"


def run(paths: list[Path]) -> dict[str, dict[str, Any]]:
    return {
        str(p.relative_to(settings.ROOT) if p.is_relative_to(settings.ROOT) else p): figures(read_set(p)) for p in paths
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sets", nargs="*", help="crisis sets (default: the dev set and eval/ where present)")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    results = run([Path(p) for p in args.sets] or default_sets())
    for name, f in results.items():
        sys.stdout.write(markdown(name, f) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
