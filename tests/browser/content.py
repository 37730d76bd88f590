"""What the tests ask, taken from the project's own content so that a reworded FAQ does not break them."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.core import catalogue
from bot.infra import settings

PREFERRED = "faq/shebao_card_apply"  # a topic every city has; any other FAQ topic serves as well


def faq_example() -> tuple[str, str]:
    """(a citizen's question from the training data, the name of the response that answers it)."""
    cat = catalogue.load()
    found: list[tuple[str, str]] = []
    for path in sorted((settings.DATA / "nlu").glob("faq_*.yml")):
        for item in (yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}).get("nlu") or []:
            intent = str(item.get("intent", ""))
            examples = [e[2:].strip() for e in str(item.get("examples", "")).splitlines() if e.startswith("- ")]
            response = f"utter_{intent}"
            if intent.startswith("faq/") and examples and cat.variations(response):
                found.append((intent, examples[0]))
    if not found:
        raise LookupError("no FAQ topic with training examples and an approved answer")
    intent, question = next(((i, q) for i, q in found if i == PREFERRED), found[0])
    return question, f"utter_{intent}"
