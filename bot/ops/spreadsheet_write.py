"""A checked spreadsheet written back to the catalogue's YAML files (`make import`).

Only what differs from the files is edited, in their round-trip documents (bot.ops.spreadsheet_yaml):
an unchanged spreadsheet writes nothing, a changed one gives a small, reviewable diff. Before
anything is written the new texts are read back and compared with the spreadsheet (`verify`):
if the YAML would not say exactly what the sheet says, nothing is written.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from bot.ops.spreadsheet_book import Book, Department, Example, Topic
from bot.ops.spreadsheet_yaml import (
    Project,
    book_of,
    dump,
    examples_block,
    item_column,
    load_project,
    nlu_header,
    nlu_item,
    parse,
    response_entry,
    response_header,
    response_metadata,
    retitle,
    reviewed_text,
    scalar,
    set_title_comment,
    topic_entry,
)


@dataclass
class Change:
    zh: str


class _Documents:
    """The documents being edited, each parsed again from the project's text when first touched."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.docs: dict[Path, CommentedMap] = {}
        self.like: dict[Path, str] = {}  # the text each document is written in the style of

    def __getitem__(self, path: Path) -> CommentedMap:
        if path not in self.docs:
            text = self.project.files[path].text
            self.docs[path], self.like[path] = parse(text), text
        return self.docs[path]

    def file(self, path: Path, header: str) -> CommentedMap:
        """An existing file's document, or a new file's, which starts with `header`."""
        if path not in self.project.files and path not in self.docs:
            self.docs[path], self.like[path] = parse(header), header
        return self[path]

    def texts(self) -> dict[Path, str]:
        return {p: dump(doc, self.like[p]) for p, doc in sorted(self.docs.items())}


# --------------------------------------------------------------------------------------------
# edits of a document


def _mapping(doc: CommentedMap, key: str) -> CommentedMap:
    """The mapping under `key`, made when the file has none yet (`responses:` with nothing under it)."""
    if not isinstance(doc.get(key), CommentedMap):
        doc[key] = CommentedMap()
    return doc[key]


def _list(doc: CommentedMap, key: str) -> CommentedSeq:
    if not isinstance(doc.get(key), CommentedSeq):
        doc[key] = CommentedSeq()
    return doc[key]


def _append(mapping: CommentedMap, key: str, value: Any) -> None:
    """A new last entry. ruamel keeps the blank line that ends a section (topics.yml's departments)
    with its last entry: it moves to the new one, so that the section still ends with it."""
    last = list(mapping)[-1] if mapping else None
    mapping[key] = value
    slot = mapping.ca.items.get(last) if last is not None else None
    if slot and slot[2] is not None:
        mapping.ca.items[key] = [None, None, slot[2], None]
        slot[2] = None


def _drop(doc: CommentedMap, key: str, entry: Any) -> None:
    """Delete one entry (or list item) under `key`; a section left empty is written `key:` with nothing."""
    section = doc[key]
    if isinstance(section, CommentedSeq):
        del section[next(i for i, item in enumerate(section) if item is entry)]
    else:
        del section[entry]
        section.ca.items.pop(entry, None)
    if not section:
        doc[key] = None


def _items(doc: CommentedMap, intent: str) -> list[CommentedMap]:
    """The NLU items of `intent` in a document."""
    seq = doc.get("nlu")
    return [i for i in seq or [] if isinstance(i, CommentedMap) and i.get("intent") == intent]


def _add_nlu(docs: _Documents, path: Path, t: Topic, examples: list[str], dept: Department) -> None:
    doc = docs.file(path, nlu_header(dept))
    seq = _list(doc, "nlu")
    seq.append(nlu_item(f"faq/{t.id}", examples))
    set_title_comment(seq, len(seq) - 1, t.title, item_column(docs.like[path]))


def _add_response(docs: _Documents, path: Path, t: Topic, dept: Department) -> None:
    doc = docs.file(path, response_header(dept))
    _append(_mapping(doc, "responses"), f"utter_faq/{t.id}", response_entry(t))


def _update_response(variations: CommentedSeq, t: Topic) -> None:
    """The first variation's text and metadata; anything else it has (buttons ...) stays."""
    variation = variations[0]
    old = variation.get("metadata") or {}
    metadata = response_metadata(t)
    for k, v in old.items():
        if k not in metadata:
            metadata[k] = v
    variation["text"] = DoubleQuotedScalarString(t.answer)
    variation["metadata"] = metadata


# --------------------------------------------------------------------------------------------
# the plan


def plan(book: Book, project: Project) -> tuple[dict[Path, str], list[Change]]:
    """The new texts of every file the spreadsheet touches (some may come out as they were), and
    what changed, in words."""
    docs = _Documents(project)
    changes: list[Change] = []
    examples: dict[str, list[str]] = defaultdict(list)
    for e in book.examples:
        if e.text not in examples[e.intent]:  # a repeated row is one example
            examples[e.intent].append(e.text)
    _plan_departments(book, project, docs, changes)
    for t in book.topics:
        _plan_topic(t, book, project, docs, examples[f"faq/{t.id}"], changes)
    _plan_examples(book, project, docs, examples, changes)
    return docs.texts(), changes


def _plan_departments(book: Book, project: Project, docs: _Documents, changes: list[Change]) -> None:
    for d in book.departments:
        if d.id not in project.departments:
            _append(_mapping(docs[project.topics_file], "departments"), d.id, scalar(d.name, flow=False))
            changes.append(Change(f"新增部门 {d.id}（{d.name}）"))
        elif d.name != project.departments[d.id]:
            _mapping(docs[project.topics_file], "departments")[d.id] = scalar(d.name, flow=False)
            changes.append(Change(f"部门 {d.id} 改名为 {d.name}"))


def _plan_topic(
    t: Topic, book: Book, project: Project, docs: _Documents, examples: list[str], changes: list[Change]
) -> None:
    intent = f"faq/{t.id}"
    dept = next(d for d in book.departments if d.id == t.department)
    nlu_file = project.root / "data" / "nlu" / f"faq_{t.department}.yml"
    old = project.faq.get(t.id)
    if old is None:
        _append(_mapping(docs[project.topics_file], "faq"), t.id, topic_entry(t))
        _add_response(docs, project.root / "data" / "responses" / f"faq_{t.department}.yml", t, dept)
        _add_nlu(docs, nlu_file, t, examples, dept)
        changes.append(Change(f"新增问题 {t.id}（{t.title}），{len(examples)} 条例句"))
        return
    if (t.title, t.department) != old:
        _mapping(docs[project.topics_file], "faq")[t.id] = topic_entry(t)
    moved = t.department != old[1]
    changes += _plan_answer(t, project, docs, moved, dept)
    files = sorted({b.path for b in project.nlu.get(intent, [])})
    if moved:
        changes.append(Change(f"问题 {t.id} 从部门 {old[1]} 转到 {t.department}"))
        for path in files:
            for item in _items(docs[path], intent):
                _drop(docs[path], "nlu", item)
        _add_nlu(docs, nlu_file, t, examples, dept)
    elif t.title != old[0]:
        for path in files:
            ours = {id(item) for item in _items(docs[path], intent)}
            seq = docs[path]["nlu"]
            for i, item in enumerate(seq):
                if id(item) in ours:
                    retitle(seq, i, t.title)


def _plan_answer(t: Topic, project: Project, docs: _Documents, moved: bool, dept: Department) -> list[Change]:
    r = project.responses.get(f"utter_faq/{t.id}")
    meta = r.metadata if r else {}
    current = (r.text if r else "", str(meta.get("owner") or ""), str(meta.get("title") or ""),
               str(meta.get("source") or ""), reviewed_text(meta.get("reviewed")))  # fmt: skip
    if r is None or moved:
        if r is not None:
            _drop(docs[r.path], "responses", r.name)
        _add_response(docs, project.root / "data" / "responses" / f"faq_{t.department}.yml", t, dept)
    elif current != (t.answer, t.department, t.title, t.source, t.reviewed):
        _update_response(docs[r.path]["responses"][r.name], t)
    if r is None or current[0] != t.answer:
        return [Change(f"修改答案 {t.id}（{t.title}）")]
    if current[1:] != (t.department, t.title, t.source, t.reviewed):
        return [Change(f"修改问题信息 {t.id}（{t.title}）")]
    return []


def _plan_examples(
    book: Book, project: Project, docs: _Documents, examples: dict[str, list[str]], changes: list[Change]
) -> None:
    """The examples of every intent already in the files (new and moved topics took theirs along)."""
    moved_or_new = {f"faq/{t.id}" for t in book.topics if project.faq.get(t.id, ("", t.department))[1] != t.department}
    moved_or_new |= {f"faq/{t.id}" for t in book.topics if t.id not in project.faq}
    for intent, blocks in project.nlu.items():
        if intent in moved_or_new:
            continue
        wanted = examples.get(intent, [])
        have = [e for b in blocks for e in b.examples]
        if wanted == have:
            continue
        added = len([e for e in wanted if e not in have])
        removed = len([e for e in have if e not in wanted])
        changes.append(Change(f"{intent}：新增 {added} 条例句，删除 {removed} 条"
                              + ("，调整顺序" if not added and not removed else "")))  # fmt: skip
        # all examples of the intent go to its first item (an intent is normally in one file)
        first, *rest = (
            (path, item) for path in sorted({b.path for b in blocks}) for item in _items(docs[path], intent)
        )
        first[1]["examples"] = examples_block(wanted)
        for path, item in rest:
            _drop(docs[path], "nlu", item)


# --------------------------------------------------------------------------------------------
# reading back


def verify(book: Book, project: Project, new_files: dict[Path, str]) -> list[str]:
    """Read the new files back: they must say exactly what the spreadsheet says."""
    try:
        for text in new_files.values():
            yaml.safe_load(text)
        after = book_of(load_project(project.root, new_files))
    except yaml.YAMLError as e:
        return [f"写回的 YAML 无法解析：{e}"]
    problems = []
    want = book_of_expected(book)
    if {d.id: d for d in after.departments} != {d.id: d for d in want.departments}:
        problems.append("部门与表格不一致")
    if {t.id: t for t in after.topics} != {t.id: t for t in want.topics}:
        problems.append("问题与表格不一致")
    by_intent_after: dict[str, list[str]] = defaultdict(list)
    for ex in after.examples:
        by_intent_after[ex.intent].append(ex.text)
    by_intent_want: dict[str, list[str]] = defaultdict(list)
    for ex in want.examples:
        by_intent_want[ex.intent].append(ex.text)
    if by_intent_after != by_intent_want:
        diff = sorted(i for i in set(by_intent_after) | set(by_intent_want) if by_intent_after[i] != by_intent_want[i])
        problems.append(f"例句与表格不一致：{', '.join(diff[:5])}")
    return problems


def book_of_expected(book: Book) -> Book:
    """The spreadsheet as the files will hold it: each example once."""
    seen: set[tuple[str, str]] = set()
    examples = []
    for e in book.examples:
        if (e.intent, e.text) not in seen:
            seen.add((e.intent, e.text))
            examples.append(Example(e.intent, e.text))
    return Book(book.departments, book.topics, examples)
