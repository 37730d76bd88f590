"""The evaluation sets under eval/, written apart from the training data (docs/quality.md).

eval/crisis/statements.yml holds crisis statements (kind, directness, writer and the public
guidance the situation came from); eval/everyday/*.yml (or one-message-a-line *.txt) hold
everyday messages that are not crises; eval/everyday/long_complaints.yml holds long citizen
complaints; eval/deflect/messages.yml holds messages the line must deflect (out of scope,
private matters, unreasonable demands, abuse, suggestions). None of it is training data: the
Makefile's TRAIN_DATA does not name eval/, and no threshold may be tuned on these lines, or the
figures they give stop meaning anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from bot.infra import settings

EVAL_DIR = settings.ROOT / "eval"
LONG_COMPLAINTS = "long_complaints.yml"
# deflection messages written apart from the training data (issue 22), `{text, kind}` each
DEFLECT_SET = EVAL_DIR / "deflect" / "messages.yml"


class CrisisKind(str, Enum):
    SELF_HARM = "self_harm"
    EMERGENCY = "emergency"
    CHILD_WELFARE = "child_welfare"


class Directness(str, Enum):
    DIRECT = "direct"  # the crisis is named in explicit words
    INDIRECT = "indirect"  # it is not: a farewell, a person collapsed, a child left alone


@dataclass(frozen=True)
class CrisisStatement:
    text: str
    kind: CrisisKind
    directness: Directness
    source: str  # "writer-x, after <public guidance>: <situation>"


@dataclass(frozen=True)
class EverydayMessage:
    text: str
    category: str  # e.g. hyperbole_si, weather, government_question
    source: str  # "writer-x, hand-written" or "writer-x, templated: <frames x fillers>"
    set_name: str  # the file's stem: hard_negatives, assistant_commands, ...


@dataclass(frozen=True)
class LongComplaint:
    text: str
    topic: str  # wages, property, noise, traffic, medical_bill, refund, pollution, ...
    source: str


class DeflectKind(str, Enum):
    OUT_OF_SCOPE = "out_of_scope"  # not a government matter, or another public line's question
    PRIVATE_MATTER = "private_matter"  # a family or neighbour quarrel with no public duty
    UNREASONABLE_DEMAND = "unreasonable_demand"  # what the government cannot grant
    ABUSE = "abuse"  # insults and venting at the line, no threat
    SUGGESTION = "suggestion"  # to be registered as a suggestion ticket


@dataclass(frozen=True)
class DeflectItem:
    text: str
    kind: DeflectKind
    writer: str  # writer-a ... writer-h, the voices of eval/crisis/statements.yml
    note: str  # what the message is, and the word that baits a wrong answer


def _field(item: Any, name: str, path: Path) -> str:
    value = item.get(name) if isinstance(item, dict) else None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{path}: item {item!r} has no {name}")
    return value.strip()


def _items(path: Path, key: str) -> list[Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    items = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a top-level list `{key}:`")
    return items


def load_crisis_statements(root: Path = EVAL_DIR) -> list[CrisisStatement]:
    path = root / "crisis" / "statements.yml"
    return [
        CrisisStatement(
            text=_field(item, "text", path),
            kind=CrisisKind(_field(item, "kind", path)),
            directness=Directness(_field(item, "directness", path)),
            source=_field(item, "source", path),
        )
        for item in _items(path, "statements")
    ]


def _txt_messages(path: Path) -> list[EverydayMessage]:
    # a .txt set is one message a line; `#` lines say where the file came from
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [EverydayMessage(line, "", path.name, path.stem) for line in lines if line and not line.startswith("#")]


def load_everyday(root: Path = EVAL_DIR) -> list[EverydayMessage]:
    """Every everyday set except the long complaints, file by file in name order."""
    messages: list[EverydayMessage] = []
    for path in sorted((root / "everyday").iterdir()):
        if path.name == LONG_COMPLAINTS:
            continue
        if path.suffix == ".txt":
            messages.extend(_txt_messages(path))
        elif path.suffix == ".yml":
            messages.extend(
                EverydayMessage(
                    text=_field(item, "text", path),
                    category=_field(item, "category", path),
                    source=_field(item, "source", path),
                    set_name=path.stem,
                )
                for item in _items(path, "messages")
            )
    return messages


def load_long_complaints(root: Path = EVAL_DIR) -> list[LongComplaint]:
    path = root / "everyday" / LONG_COMPLAINTS
    return [
        LongComplaint(
            text=_field(item, "text", path),
            topic=_field(item, "topic", path),
            source=_field(item, "source", path),
        )
        for item in _items(path, "complaints")
    ]


def load_deflect(root: Path = EVAL_DIR) -> list[DeflectItem]:
    path = root / "deflect" / "messages.yml"
    return [
        DeflectItem(
            text=_field(item, "text", path),
            kind=DeflectKind(_field(item, "kind", path)),
            writer=_field(item, "writer", path),
            note=_field(item, "note", path),
        )
        for item in _items(path, "messages")
    ]


def all_texts(root: Path = EVAL_DIR) -> list[str]:
    """Every message of every set, crisis first, in file order (duplicates kept, to be counted)."""
    return (
        [s.text for s in load_crisis_statements(root)]
        + [m.text for m in load_everyday(root)]
        + [c.text for c in load_long_complaints(root)]
        + [d.text for d in load_deflect(root)]
    )


@dataclass(frozen=True)
class DeflectMessage:
    text: str
    kind: DeflectKind


def load_deflections(path: Path = DEFLECT_SET) -> list[DeflectMessage]:
    """A `{text, kind}` set: a top-level list, or one under `messages:` (other fields are ignored)."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    items = doc.get("messages") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list of {{text, kind}} (top level or under `messages:`)")
    return [DeflectMessage(_field(item, "text", path), DeflectKind(_field(item, "kind", path))) for item in items]
