"""Fit the crisis screening's semantic probe: `python -m bot.ops.crisis_fit`.

Embeds the reviewed crisis statements (data/crisis_bank.yml), the hard negatives
(data/crisis_negatives.yml) and the everyday training messages (data/nlu, without the crisis
intents) with bot.infra.embeddings, fits a logistic regression (crisis or not) over the
embeddings and writes data/crisis_semantic.npz: the probe's weights, the bank's embeddings (for
the closest statement) and the fingerprint of what it was fitted on. Run it after every change of
the two reviewed files (tests/bot/core/test_crisis_semantic.py fails until then), then `make eval`.
Takes about a minute here (2,000 short texts).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path

import numpy as np
import yaml

from bot.core import crisis_semantic as semantic
from bot.infra import embeddings, settings

log = logging.getLogger(__name__)

# inverse regularisation and the weight of a hard negative against an everyday message: chosen on
# tests/nlu/crisis_dev.yml (docs/crisis.md)
C = 30.0
HARD_NEGATIVE_WEIGHT = 3.0
_ANNOTATION = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")
CRISIS_TRAINING = "crisis.yml"  # the classifier's crisis intents: statements, not background


def everyday_messages(nlu: Path = settings.DATA / "nlu") -> list[str]:
    """Every training example of data/nlu except the crisis intents', without entity markup."""
    out: list[str] = []
    for path in sorted(nlu.glob("*.yml")):
        if path.name == CRISIS_TRAINING:
            continue
        for item in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
            if "intent" not in item or item["intent"] in semantic.KINDS:
                continue
            for line in str(item.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    out.append(_ANNOTATION.sub(r"\1", line[2:]).strip())
    return [t for t in dict.fromkeys(out) if t]


def fit(out: Path = semantic.PROBE) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression  # fitting only: serving needs numpy alone

    statements = semantic.read_bank()
    negatives = semantic.read_negatives()
    known = {s.text for s in statements}
    everyday = [t for t in everyday_messages() if t not in known and t not in set(negatives)]
    positives = embeddings.embed_many([s.text for s in statements])
    hard = embeddings.embed_many(negatives)
    background = embeddings.embed_many(everyday)
    x = np.vstack([positives, hard, background])
    y = np.array([1] * len(positives) + [0] * (len(hard) + len(background)))
    weight = np.array([1.0] * len(positives) + [HARD_NEGATIVE_WEIGHT] * len(hard) + [1.0] * len(background))
    model = LogisticRegression(C=C, max_iter=5000, class_weight="balanced")
    model.fit(x, y, sample_weight=weight)
    np.savez(
        out,
        coef=model.coef_[0].astype(np.float32),
        intercept=np.float32(model.intercept_[0]),
        bank=positives.astype(np.float32),
        fingerprint=np.array(semantic.fingerprint(statements, negatives)),
        model=np.array(embeddings.MODEL),
    )
    return {"statements": len(statements), "negatives": len(negatives), "everyday": len(everyday)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(semantic.PROBE))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    counts = fit(Path(args.out))
    log.info("fitted on %s; written %s", counts, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
