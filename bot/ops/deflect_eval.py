"""Deflection figures (issue 22) on any `{text, kind}` set: `make eval` prints them for
eval/deflect/messages.yml when it exists, `python -m bot.ops.evaluate --deflect FILE` for another.

Per kind (out_of_scope, private_matter, unreasonable_demand, abuse, suggestion): recall (the
message got its own kind: the deflection's script, or for a suggestion its ticket form), and
what else it got. The wrong-answer rate counts a deflection message (not a suggestion, whose
right answer is a form) that received an FAQ answer or a report form; abuse answered with the
fallback ("rephrase") is counted apart, because the target for it is zero.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from bot.ops.eval_sets import DeflectKind, DeflectMessage

TARGETS = {"recall": 0.95, "faq_or_form": 0.01, "abuse_rephrase": 0}
FALLBACK = "nlu_fallback"


@dataclass(frozen=True)
class Outcome:
    message: DeflectMessage
    predicted: str  # the intent, or faq/<id> for an FAQ answer
    answer: str  # what the citizen got: own | faq | form | deflect | fallback | crisis | other


def answer_of(predicted: str, expected: DeflectKind, kinds: dict[str, str]) -> str:
    """What kind of reply the predicted label gives; `kinds` maps a label to its topic kind."""
    if predicted == expected.value:
        return "own"
    if predicted == FALLBACK:
        return "fallback"
    kind = kinds.get(predicted, "other")
    return {"faq": "faq", "report": "form", "deflect": "deflect", "crisis": "crisis"}.get(kind, "other")


def outcomes(messages: list[DeflectMessage], predicted: list[str], kinds: dict[str, str]) -> list[Outcome]:
    return [Outcome(m, p, answer_of(p, m.kind, kinds)) for m, p in zip(messages, predicted, strict=True)]


def figures(results: list[Outcome]) -> dict[str, Any]:
    by_kind: dict[DeflectKind, list[Outcome]] = defaultdict(list)
    for r in results:
        by_kind[r.message.kind].append(r)
    per_kind: dict[str, Any] = {}
    for kind in DeflectKind:
        items = by_kind.get(kind, [])
        if not items:
            continue
        answers = Counter(r.answer for r in items)
        per_kind[kind.value] = {
            "n": len(items),
            "recall": round(answers["own"] / len(items), 4),
            "answers": dict(sorted(answers.items())),
        }
    deflections = [r for r in results if r.message.kind is not DeflectKind.SUGGESTION]
    wrong = [r for r in deflections if r.answer in ("faq", "form")]
    abuse_rephrase = [r for r in results if r.message.kind is DeflectKind.ABUSE and r.answer == "fallback"]
    misses = Counter((r.message.kind.value, r.predicted) for r in results if r.answer != "own")
    return {
        "examples": len(results),
        "kinds": per_kind,
        "faq_or_form": round(len(wrong) / max(len(deflections), 1), 4),
        "faq_or_form_count": len(wrong),
        "abuse_rephrase": len(abuse_rephrase),
        "worst": [{"kind": k, "predicted": p, "count": n} for (k, p), n in misses.most_common(10)],
    }


def verdicts(f: dict[str, Any]) -> list[str]:
    missed = [
        f"{kind} recall {v['recall']:.1%} < {TARGETS['recall']:.0%}"
        for kind, v in f["kinds"].items()
        if v["recall"] < TARGETS["recall"]
    ]
    if f["faq_or_form"] > TARGETS["faq_or_form"]:
        missed.append(f"FAQ or report form for a deflection {f['faq_or_form']:.1%} > {TARGETS['faq_or_form']:.0%}")
    if f["abuse_rephrase"] > TARGETS["abuse_rephrase"]:
        missed.append(f"abuse answered with rephrase: {f['abuse_rephrase']}")
    return missed


def markdown(f: dict[str, Any], source: str) -> str:
    rows = ["| kind | messages | recall | got instead |", "| --- | ---: | ---: | --- |"]
    for kind, v in f["kinds"].items():
        instead = ", ".join(f"{a} {n}" for a, n in v["answers"].items() if a != "own") or "-"
        rows.append(f"| {kind} | {v['n']} | {v['recall']:.1%} | {instead} |")
    worst = "\n".join(f"| {w['kind']} | {w['predicted']} | {w['count']} |" for w in f["worst"]) or "| - | - | 0 |"
    missed = verdicts(f)
    return f"""## Deflections: `{source}` ({f['examples']} messages)

{chr(10).join(rows)}

| measure | value | target |
| --- | ---: | --- |
| FAQ answer or report form for a deflection message | {f['faq_or_form']:.1%} ({f['faq_or_form_count']}) | ≤ 1% |
| abuse answered with "rephrase" | {f['abuse_rephrase']} | 0 |

Targets missed: {'none' if not missed else '; '.join(missed)}.

| kind | got | count |
| --- | --- | ---: |
{worst}
"""
