"""The catalogue's YAML files, read and written with ruamel.yaml's round trip.

The YAML files are the single source of truth (Rasa trains on them, git reviews them):
  data/topics.yml                    departments; topics of every kind with title and department
  data/responses/faq_<dept>.yml      utter_faq/<id>: the one approved answer + metadata
  data/nlu/faq_<dept>.yml, others    training examples per intent
Each file is read as a round-trip document (comments, quotes, key order and its indentation
kept) with every entry's line, for messages that name file:line. Written back, a document gives
the bytes it was read from except where it was edited; the one thing ruamel does not keep,
topics.yml's column of values, is put back after writing (`_realign`).
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString, PlainScalarString
from ruamel.yaml.tokens import CommentToken

from bot.infra import settings
from bot.ops.spreadsheet_book import Book, Department, Example, Topic

TOPIC_KINDS = ("faq", "report", "deflect", "crisis")
# topics.yml's value columns ("  hrss:" padded to 24) where a section shows none of its own
DEPARTMENT_COLUMN = 24
TOPIC_COLUMN = 32


# --------------------------------------------------------------------------------------------
# documents


_DASH_AT_KEY = re.compile(r"^- ", re.MULTILINE)


def _yaml(text: str) -> YAML:
    """The round trip for a file written like `text`."""
    y = YAML()
    y.preserve_quotes = True  # type: ignore[assignment]  # ruamel declares its options None until set
    y.width = 1 << 20  # type: ignore[assignment]  # an answer stays on its one line, however long
    if _DASH_AT_KEY.search(text):  # core.yml: a list's "-" at its key's column
        y.indent(mapping=2, sequence=2, offset=0)
    else:  # the others: two spaces in
        y.indent(mapping=2, sequence=4, offset=2)
    return y


def parse(text: str) -> Any:
    """A document; the items of its top-level lists own the comment line right above them."""
    doc = _yaml(text).load(text)
    if isinstance(doc, CommentedMap):
        for key, value in doc.items():
            if isinstance(value, CommentedSeq):
                _own_title_comments(doc, key, value)
    return doc


def dump(doc: Any, like: str, columns: dict[str, int] | None = None) -> str:
    """`doc` as text, in the style of `like` (the file it came from): its indentation, and its
    sections' value columns unless `columns` gives them."""
    out = io.StringIO()
    _yaml(like).dump(doc, out)
    return _realign(out.getvalue(), _value_columns(like) if columns is None else columns)


def _own_title_comments(parent: CommentedMap, key: str, seq: CommentedSeq) -> None:
    """Move the comment line right above each item ("  # 住房公积金贷款" above `- intent: faq/hpf_loan`)
    into ruamel's slot for a comment before that item, so that the item takes it along when it is
    moved or deleted. ruamel reads that line as the tail of whatever precedes the item: the
    previous item's last value, or, for the first item, the key that holds the list."""
    for i in range(len(seq)):
        column = seq.lc.item(i)[1] - 2  # the item's "-"
        token = _take_first_title(parent, key, seq, column) if i == 0 else _take_title_after(seq[i - 1], column)
        if token is not None:
            seq.ca.items[i] = [None, [token], None, None]


def _take_first_title(parent: CommentedMap, key: str, seq: CommentedSeq, column: int) -> CommentToken | None:
    """The comment line between `key:` and the first item (ruamel keeps it with the key and the list)."""
    slot = parent.ca.items.get(key)
    before = slot[3] if slot and slot[3] else []
    if not before or not _is_title(before[-1].value, before[-1].start_mark.column, column):
        return None
    token = before.pop()
    if not before:
        slot[3] = None  # an empty list would still be written, as a missing line end
    if seq.ca.comment and token in (seq.ca.comment[1] or []):
        seq.ca.comment[1].remove(token)
    return token


def _take_title_after(previous: Any, column: int) -> CommentToken | None:
    """The last comment line after an item (ruamel keeps the lines with the item's last value)."""
    if not isinstance(previous, CommentedMap) or not previous:
        return None
    slot = previous.ca.items.get(list(previous)[-1])
    if not slot or slot[2] is None:
        return None
    # the token's first line starts at the token's column; the others carry their own indentation
    lines = slot[2].value.split("\n")[:-1]
    first_column = slot[2].start_mark.column
    indent = first_column if len(lines) == 1 else len(lines[-1]) - len(lines[-1].lstrip())
    if not _is_title(lines[-1].strip() + "\n", indent, column):
        return None
    slot[2] = CommentToken("\n".join(lines[:-1]) + "\n", CommentMark(first_column)) if len(lines) > 1 else None
    return CommentToken(lines[-1].strip() + "\n", CommentMark(column))


def _is_title(value: str, at: int, column: int) -> bool:
    """One comment line, at the item's column."""
    return value.startswith("#") and value.count("\n") == 1 and at == column


def title_comment(seq: CommentedSeq, index: int) -> str | None:
    """The text of the comment line right above an item ("住房公积金贷款"), if it has one."""
    before = (seq.ca.items.get(index) or [None, None])[1]
    return before[-1].value[1:].strip() if before else None


def set_title_comment(seq: CommentedSeq, index: int, title: str, column: int) -> None:
    seq.ca.items[index] = [None, [CommentToken(f"# {title}\n", CommentMark(column))], None, None]


def retitle(seq: CommentedSeq, index: int, title: str) -> None:
    """A new text for an item's title comment, where it is; an item without one stays without."""
    before = (seq.ca.items.get(index) or [None, None])[1]
    if before:
        set_title_comment(seq, index, title, before[-1].start_mark.column)


def item_column(like: str) -> int:
    """The column of a list's "-" in a file written like `like` (see `_yaml`)."""
    return 0 if _DASH_AT_KEY.search(like) else 2


_SECTION = re.compile(r"^(?P<key>[A-Za-z_][\w-]*):\s*$")
_ENTRY = re.compile(r"^  (?P<key>[^\s:#][^\s:]*):(?P<gap> +)(?P<value>\S.*)$")


def _value_columns(text: str) -> dict[str, int]:
    """section -> the column its values are aligned at ("departments" -> 24), for the sections of
    two-space `key: value` lines that pad their keys (topics.yml). A key too long for the column
    is followed by one space."""
    padded: dict[str, list[int]] = defaultdict(list)
    section = ""
    for line in text.split("\n"):
        if m := _SECTION.match(line):
            section = m.group("key")
        elif (m := _ENTRY.match(line)) and len(m.group("gap")) > 1:
            padded[section].append(m.start("value"))
    return {s: max(set(cols), key=cols.count) for s, cols in padded.items()}


def _realign(text: str, columns: dict[str, int]) -> str:
    if not columns:
        return text
    out, section = [], ""
    for line in text.split("\n"):
        if m := _SECTION.match(line):
            section = m.group("key")
        elif section in columns and (m := _ENTRY.match(line)):
            head = f"  {m.group('key')}:"
            line = head + " " * max(columns[section] - len(head), 1) + m.group("value")
        out.append(line)
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# entries as the files write them


def scalar(s: str, flow: bool) -> str:
    """Plain when YAML reads it back as the same string (most Chinese titles), else double-quoted.
    (Plain on purpose: a plain text given to an entry that was quoted would stay quoted.)"""
    unsafe = ",[]{}" if flow else ""
    if s and s == s.strip() and not any(c in s for c in unsafe) and "\n" not in s:
        doc = f"{{k: {s}}}" if flow else f"k: {s}"
        try:
            if yaml.safe_load(doc) == {"k": s}:
                return PlainScalarString(s)
        except yaml.YAMLError:
            pass
    return DoubleQuotedScalarString(s)


def _flow(*pairs: tuple[str, Any]) -> CommentedMap:
    m = CommentedMap(pairs)
    m.fa.set_flow_style()
    return m


def topic_entry(t: Topic) -> CommentedMap:
    """data/topics.yml: `<id>: {title: ..., department: ...}`."""
    return _flow(("title", scalar(t.title, flow=True)), ("department", t.department))


def response_metadata(t: Topic) -> CommentedMap:
    quoted = DoubleQuotedScalarString
    return _flow(("owner", t.department), ("title", quoted(t.title)), ("source", quoted(t.source)),
                 ("reviewed", quoted(t.reviewed)))  # fmt: skip


def response_entry(t: Topic) -> CommentedSeq:
    """data/responses/faq_<dept>.yml: `utter_faq/<id>:` with its one variation."""
    variation = CommentedMap([("text", DoubleQuotedScalarString(t.answer)), ("metadata", response_metadata(t))])
    return CommentedSeq([variation])


def examples_block(examples: list[str]) -> LiteralScalarString:
    return LiteralScalarString("".join(f"- {e}\n" for e in examples))


def nlu_item(intent: str, examples: list[str]) -> CommentedMap:
    return CommentedMap([("intent", intent), ("examples", examples_block(examples))])


def response_header(d: Department) -> str:
    return (
        'version: "3.1"\n'
        f"# FAQ answers owned by {d.id}（{d.name}）. One approved variation per topic.\n"
        "# Local facts only via city_* placeholders from data/city.yml; each answer's metadata says when it was reviewed.\n"
        "responses:\n"
    )


def nlu_header(d: Department) -> str:
    return (
        'version: "3.1"\n'
        f"# Citizens' wordings for the FAQ topics of {d.id}（{d.name}）.\n"
        "# Deliberately varied: colloquial, dialect, typos/homophones, voice-to-text without punctuation,\n"
        "# long stories, asking for relatives, very short. Close topics carry discriminating examples.\n"
        "nlu:\n"
    )


def _entry_lines(section: str, entry: Any, columns: dict[str, int] | None = None) -> list[str]:
    """What the writer writes for one entry of a section, without the section's key line."""
    return dump(CommentedMap([(section, entry)]), "", columns or {}).split("\n")[1:-1]


def department_line(d: Department) -> str:
    """A department's line in topics.yml."""
    entry = CommentedMap([(d.id, scalar(d.name, flow=False))])
    return _entry_lines("departments", entry, {"departments": DEPARTMENT_COLUMN})[0]


def topic_line(t: Topic) -> str:
    """An FAQ topic's line in topics.yml."""
    return _entry_lines("faq", CommentedMap([(t.id, topic_entry(t))]), {"faq": TOPIC_COLUMN})[0]


def response_lines(t: Topic) -> list[str]:
    """An answer's lines in data/responses/faq_<dept>.yml."""
    return _entry_lines("responses", CommentedMap([(f"utter_faq/{t.id}", response_entry(t))]))


def nlu_lines(t: Topic, examples: list[str]) -> list[str]:
    """A new topic's examples in data/nlu/faq_<dept>.yml, under its title."""
    seq = CommentedSeq([nlu_item(f"faq/{t.id}", examples)])
    set_title_comment(seq, 0, t.title, 2)
    return _entry_lines("nlu", seq)


# --------------------------------------------------------------------------------------------
# reading: the project as it is on disk (or as it would be, with `overlay` files not yet written)


@dataclass
class NluBlock:
    path: Path
    intent: str
    start: int  # first line of the block (its title comment line, when there is one)
    intent_line: int
    ex_start: int  # first example line
    ex_end: int  # one past the last example line
    examples: list[str]
    examples_line: list[int]


@dataclass
class ResponseBlock:
    path: Path
    name: str
    start: int
    end: int
    text: str
    metadata: dict[str, Any]
    other_keys: bool  # buttons, several variations ...: cannot be edited in a spreadsheet


@dataclass
class YamlFile:
    path: Path
    text: str
    doc: Any

    @cached_property
    def lines(self) -> list[str]:
        return self.text.split("\n")


def parse_nlu(path: Path, text: str) -> list[NluBlock]:
    """The `- intent:` items with an `examples: |` block of an NLU file, with their lines."""
    return _nlu_blocks(path, parse(text))


def _nlu_blocks(path: Path, doc: Any) -> list[NluBlock]:
    seq = doc.get("nlu") if isinstance(doc, CommentedMap) else None
    if not isinstance(seq, CommentedSeq):
        return []
    blocks = []
    for i, item in enumerate(seq):
        if not isinstance(item, CommentedMap) or "intent" not in item or not isinstance(item.get("examples"), str):
            continue
        intent_line = int(seq.lc.item(i)[0])
        ex_start = int(item.lc.key("examples")[0]) + 1
        rows = str(item["examples"]).split("\n")
        rows = rows[:-1] if rows[-1] == "" else rows
        found = [(ex_start + j, row.strip()[1:].strip()) for j, row in enumerate(rows) if row.strip().startswith("-")]
        start = intent_line - (1 if title_comment(seq, i) is not None else 0)
        blocks.append(NluBlock(path, str(item["intent"]), start, intent_line, ex_start, ex_start + len(rows),
                               [text for _, text in found], [line for line, _ in found]))  # fmt: skip
    return blocks


def _response_blocks(path: Path, doc: Any, lines: list[str]) -> list[ResponseBlock]:
    answers = doc.get("responses") if isinstance(doc, CommentedMap) else None
    if not isinstance(answers, CommentedMap):
        return []
    names = list(answers)
    blocks = []
    for n, name in enumerate(names):
        start = int(answers.lc.key(name)[0])
        end = int(answers.lc.key(names[n + 1])[0]) if n + 1 < len(names) else len(lines)
        while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
            end -= 1  # blank lines and comments after an answer belong to the file, not to it
        if not str(name).startswith("utter_faq/"):
            continue
        variations = answers[name] or []
        first = variations[0] if variations and isinstance(variations[0], dict) else {}
        other = len(variations) != 1 or set(first) - {"text", "metadata"}
        blocks.append(ResponseBlock(path, str(name), start, end, str(first.get("text") or ""),
                                    dict(first.get("metadata") or {}), bool(other)))  # fmt: skip
    return blocks


@dataclass
class Project:
    root: Path
    files: dict[Path, YamlFile]
    departments: dict[str, str]
    faq: dict[str, tuple[str, str]]  # id -> (title, department)
    kinds: dict[str, str]  # intent -> kind, for every intent of topics.yml
    nlu: dict[str, list[NluBlock]]
    responses: dict[str, ResponseBlock]

    @property
    def topics_file(self) -> Path:
        return self.root / "data" / "topics.yml"

    @cached_property
    def lines(self) -> dict[Path, list[str]]:
        return {p: f.lines for p, f in self.files.items()}

    def key_lines(self, path: Path, section: str) -> dict[str, int]:
        """key -> its line, for the entries of a top-level mapping of a file ("departments")."""
        entries: Any = self.files[path].doc.get(section) or {}
        return {str(k): int(entries.lc.key(k)[0]) for k in entries}

    def nlu_files(self) -> list[Path]:
        return sorted(p for p in self.files if p.parent == self.root / "data" / "nlu")


def _read(path: Path, overlay: dict[Path, str] | None) -> str:
    if overlay and path in overlay:
        return overlay[path]
    return path.read_text(encoding="utf-8")


def load_project(root: Path | None = None, overlay: dict[Path, str] | None = None) -> Project:
    root = (root or settings.ROOT).resolve()
    paths = {root / "data" / "topics.yml"}
    paths |= set((root / "data" / "nlu").glob("*.yml")) | set((root / "data" / "responses").glob("faq_*.yml"))
    paths |= {p for p in (overlay or {}) if p.suffix == ".yml"}
    files = {p: YamlFile(p, text, parse(text)) for p in sorted(paths) for text in [_read(p, overlay)]}
    raw = files[root / "data" / "topics.yml"].doc or {}
    departments = {str(k): str(v) for k, v in (raw.get("departments") or {}).items()}
    faq = {
        str(k): (str(v.get("title", k)), str(v.get("department", "hotline"))) for k, v in (raw.get("faq") or {}).items()
    }
    kinds = {}
    for kind in (*TOPIC_KINDS, "core"):
        for name in raw.get(kind) or {}:
            kinds[f"faq/{name}" if kind == "faq" else str(name)] = kind
    nlu: dict[str, list[NluBlock]] = defaultdict(list)
    responses: dict[str, ResponseBlock] = {}
    for p, f in files.items():
        if p.parent.name == "nlu":
            for b in _nlu_blocks(p, f.doc):
                nlu[b.intent].append(b)
        elif p.parent.name == "responses":
            for r in _response_blocks(p, f.doc, f.lines):
                responses[r.name] = r
    return Project(root, files, departments, faq, kinds, dict(nlu), responses)


def reviewed_text(value: Any) -> str:
    """A review date as the sheet shows it, whether the YAML holds a date or a text."""
    return value.isoformat() if isinstance(value, date) else str(value or "")


def book_of(project: Project) -> Book:
    """What `make export` puts in the spreadsheet."""
    departments = [Department(k, v) for k, v in project.departments.items()]
    topics = []
    for tid, (title, dept) in project.faq.items():
        r = project.responses.get(f"utter_faq/{tid}")
        meta = r.metadata if r else {}
        topics.append(Topic(tid, title, dept, r.text if r else "", str(meta.get("source") or ""),
                            reviewed_text(meta.get("reviewed"))))  # fmt: skip
    examples = [
        Example(b.intent, e)
        for p in project.nlu_files()
        for b in sorted((b for bs in project.nlu.values() for b in bs if b.path == p), key=lambda b: b.start)
        for e in b.examples
    ]
    return Book(departments, topics, examples)
