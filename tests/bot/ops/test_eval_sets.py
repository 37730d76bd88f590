"""bot/ops/eval_sets.py and the sets under eval/: big enough, balanced, and apart from training.

The last two tests are the only code that reads data/nlu next to eval/: they prove that no eval
line was copied from (or into) the training data and that training never reads eval/.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest
import yaml

from bot.infra import settings
from bot.ops import eval_sets, training
from bot.ops.eval_sets import CrisisKind, DeflectKind, Directness

NLU_DIR = settings.ROOT / "data" / "nlu"
ENTITY = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")


def norm(text: str) -> str:
    """Compare texts as a person would: width, case, spaces and punctuation do not count."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(ch for ch in folded if not (ch.isspace() or unicodedata.category(ch).startswith("P")))
    return kept or folded.strip()  # a message of punctuation alone ("？") is compared as it is


def nlu_examples() -> set[str]:
    """Every training example of data/nlu (Rasa `examples: |` blocks), entity markup removed."""
    found: set[str] = set()
    for path in sorted(NLU_DIR.rglob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in doc.get("nlu") or []:
            for line in str(block.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    found.add(norm(ENTITY.sub(r"\1", line[2:])))
    return found


def semantic_bank_texts() -> set[str]:
    """The statements the crisis screening's semantic stage is fitted on (data/crisis_bank.yml and
    data/crisis_negatives.yml): training data too."""
    found: set[str] = set()
    for name in ("crisis_bank.yml", "crisis_negatives.yml"):
        doc = yaml.safe_load((settings.DATA / name).read_text(encoding="utf-8")) or {}
        for entries in doc.values():
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict) and entry.get("text"):
                    found.add(norm(str(entry["text"])))
    return found


@pytest.fixture(scope="module")
def crisis() -> list[eval_sets.CrisisStatement]:
    return eval_sets.load_crisis_statements()


@pytest.fixture(scope="module")
def everyday() -> list[eval_sets.EverydayMessage]:
    return eval_sets.load_everyday()


@pytest.fixture(scope="module")
def complaints() -> list[eval_sets.LongComplaint]:
    return eval_sets.load_long_complaints()


@pytest.fixture(scope="module")
def deflect() -> list[eval_sets.DeflectItem]:
    return eval_sets.load_deflect()


def test_crisis_statements_cover_every_kind_mostly_indirect(crisis: list[eval_sets.CrisisStatement]) -> None:
    assert len(crisis) >= 320
    kinds = Counter(s.kind for s in crisis)
    assert set(kinds) == set(CrisisKind)
    assert min(kinds.values()) >= 80, kinds
    indirect = [s for s in crisis if s.directness is Directness.INDIRECT]
    assert len(indirect) / len(crisis) >= 0.60
    for kind in CrisisKind:
        of_kind = [s for s in crisis if s.kind is kind]
        share = sum(s.directness is Directness.INDIRECT for s in of_kind) / len(of_kind)
        assert share >= 0.60, (kind, share)
        assert any(s.directness is Directness.DIRECT for s in of_kind), kind


def test_crisis_statements_come_from_several_writers_and_named_guidance(
    crisis: list[eval_sets.CrisisStatement],
) -> None:
    writers = Counter(s.source.split(",")[0] for s in crisis)
    assert all(w.startswith("writer-") for w in writers), writers
    assert len(writers) >= 6
    assert max(writers.values()) / len(crisis) <= 0.25, writers
    assert all(", after " in s.source for s in crisis)


def test_everyday_sets_are_big_and_include_the_named_hard_negatives(everyday: list[eval_sets.EverydayMessage]) -> None:
    assert len(everyday) >= 3000
    sets = Counter(m.set_name for m in everyday)
    assert {"hard_negatives", "assistant_commands", "chitchat", "government"} <= set(sets), sets
    hard = " ".join(m.text for m in everyday if m.set_name == "hard_negatives")
    for phrase in (
        "想死你了",
        "笑死",
        "累死",
        "热死",
        "饿死",
        "烦死",
        "困死",
        "救命",
        "跳楼价",
        "跳槽",
        "跳水",
        "要命",
    ):
        assert phrase in hard, phrase
    for phrase in ("了结", "不想上学", "我想去", "想唱就唱", "穷孩子富孩子", "停电"):
        assert phrase in hard, phrase
    assert all(m.source.startswith("writer-") for m in everyday)


def test_long_complaints_are_long_and_varied(complaints: list[eval_sets.LongComplaint]) -> None:
    assert len(complaints) >= 100
    assert all(100 <= len(c.text) <= 600 for c in complaints)
    topics = Counter(c.topic for c in complaints)
    for topic in ("wages", "property", "noise", "traffic", "medical_bill", "refund", "pollution", "past_event"):
        assert topics[topic] >= 3, topic
    assert len({c.source for c in complaints}) >= 5


DEFLECT_MINIMUM = {
    DeflectKind.OUT_OF_SCOPE: 120,
    DeflectKind.PRIVATE_MATTER: 100,
    DeflectKind.UNREASONABLE_DEMAND: 120,
    DeflectKind.ABUSE: 80,
    DeflectKind.SUGGESTION: 80,
}

# issue 22's measured failures, which the set must hold verbatim under the kind the seed expects
DEFLECT_SEED = {
    "你们政府给我报销旅游费用": DeflectKind.UNREASONABLE_DEMAND,
    "婆婆总是干涉我们家的事怎么办": DeflectKind.PRIVATE_MATTER,
    "蠢货，赶紧给我解决": DeflectKind.ABUSE,
    "打开厨房的灯": DeflectKind.OUT_OF_SCOPE,
    "1磅有多少斤": DeflectKind.OUT_OF_SCOPE,
    "我家门外的马路太窄了，要求政府拓宽": DeflectKind.SUGGESTION,
}


def test_deflect_set_is_big_enough_in_every_kind(deflect: list[eval_sets.DeflectItem]) -> None:
    assert len(deflect) >= 500
    kinds = Counter(d.kind for d in deflect)
    assert {kind: kinds[kind] for kind in DeflectKind if kinds[kind] < DEFLECT_MINIMUM[kind]} == {}, kinds


def test_deflect_set_holds_the_seed_examples_verbatim(deflect: list[eval_sets.DeflectItem]) -> None:
    found = {d.text: d.kind for d in deflect}
    assert {text: found.get(text) for text in DEFLECT_SEED} == DEFLECT_SEED


def test_deflect_set_comes_from_several_writers(deflect: list[eval_sets.DeflectItem]) -> None:
    writers = Counter(d.writer for d in deflect)
    assert all(re.fullmatch(r"writer-[a-z]", w) for w in writers), writers
    assert len(writers) >= 5
    assert max(writers.values()) / len(deflect) <= 0.30, writers
    for kind in DeflectKind:
        assert len({d.writer for d in deflect if d.kind is kind}) >= 5, kind


def test_deflect_demands_carry_the_words_that_bait_an_faq(deflect: list[eval_sets.DeflectItem]) -> None:
    demands = [d.text for d in deflect if d.kind is DeflectKind.UNREASONABLE_DEMAND]
    for word in ("报销", "补贴", "房子", "低保", "医保"):
        assert sum(word in text for text in demands) >= 3, word


def test_deflect_set_has_no_duplicates(deflect: list[eval_sets.DeflectItem]) -> None:
    counts = Counter(norm(d.text) for d in deflect)
    assert [t for t, n in counts.items() if n > 1] == []


def test_no_message_is_in_two_places() -> None:
    counts = Counter(norm(t) for t in eval_sets.all_texts())
    assert [t for t, n in counts.items() if n > 1] == []


def test_unknown_kind_is_refused(tmp_path: Path) -> None:
    (tmp_path / "crisis").mkdir()
    (tmp_path / "crisis" / "statements.yml").write_text(
        "statements:\n  - {text: 某句, kind: flood, directness: direct, source: writer-x}\n", encoding="utf-8"
    )
    with pytest.raises(ValueError, match="flood"):
        eval_sets.load_crisis_statements(tmp_path)


def test_txt_sets_are_one_message_a_line(tmp_path: Path) -> None:
    (tmp_path / "everyday").mkdir()
    (tmp_path / "everyday" / "extra.txt").write_text("# where it came from\n明天几点开门\n\n在吗\n", encoding="utf-8")
    messages = eval_sets.load_everyday(tmp_path)
    assert [(m.text, m.set_name) for m in messages] == [("明天几点开门", "extra"), ("在吗", "extra")]


def test_unknown_deflect_kind_is_refused(tmp_path: Path) -> None:
    (tmp_path / "deflect").mkdir()
    (tmp_path / "deflect" / "messages.yml").write_text(
        "messages:\n  - {text: 某句, kind: chitchat, writer: writer-x, note: x}\n", encoding="utf-8"
    )
    with pytest.raises(ValueError, match="chitchat"):
        eval_sets.load_deflect(tmp_path)


def test_no_eval_line_appears_in_the_training_data() -> None:
    training = nlu_examples()
    assert len(training) > 100  # the parse found the training data
    copied = sorted({t for t in eval_sets.all_texts() if norm(t) in training})
    assert copied == []
    bank = semantic_bank_texts()
    assert len(bank) > 100  # the parse found the banks
    assert sorted({t for t in eval_sets.all_texts() if norm(t) in bank}) == []


def test_training_never_reads_eval() -> None:
    makefile = (settings.ROOT / "Makefile").read_text(encoding="utf-8")
    train_data = next(line for line in makefile.splitlines() if line.startswith("TRAIN_DATA"))
    assert "eval" not in train_data
    assert "data/nlu" in train_data
    assert not [p for p in training.INPUTS if p.startswith("eval")]  # what `make train` fingerprints and reads
