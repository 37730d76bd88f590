"""FAQ 目录的表格视图：导出为 Excel/CSV，在表格里编辑，校验后写回 YAML。

The YAML files stay the single source of truth (Rasa trains on them, git reviews them):
  data/topics.yml                    departments; FAQ topics with title and department
  data/responses/faq_<dept>.yml      utter_faq/<id>: the one approved answer + metadata
  data/nlu/faq_<dept>.yml, others    training examples per intent
The spreadsheet is only a view of them: `make export` writes it, ops edit it in Excel/WPS,
`make import` validates every row and, only when nothing is wrong, writes the YAML back.

Writing back patches only the lines that changed, in the style the files already use, so an
unchanged spreadsheet writes identical bytes and a changed one gives a small, reviewable diff.
After patching, the new files are read back and compared with the spreadsheet: if the YAML
would not say exactly what the sheet says, nothing is written.

    python -m bot.ops.spreadsheet export catalogue.xlsx      (or a directory: CSV files)
    python -m bot.ops.spreadsheet import catalogue.xlsx [--dry-run]
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from bot.core import catalogue, city, guard
from bot.infra import settings

MIN_EXAMPLES = 12  # fewer and the classifier cannot tell a topic from its neighbours
MAX_ANSWER_BYTES = 2048  # WeChat's limit for one text message, city profile filled in
TOPIC_KINDS = ("faq", "report", "deflect", "crisis")
ID_RE = re.compile(r"^[a-z][a-z0-9_]{1,59}$")

# (key, Chinese label): the header of each column is "<label> <key>", e.g. "问题编号 id"
TOPIC_COLUMNS = [
    ("id", "问题编号"),
    ("title", "标题"),
    ("department", "部门"),
    ("answer", "答案"),
    ("source", "依据来源"),
    ("reviewed", "复核日期"),
]
EXAMPLE_COLUMNS = [("intent", "意图"), ("example", "例句")]
DEPARTMENT_COLUMNS = [("id", "部门编号"), ("name", "部门名称")]
SHEETS = {"topics": "问题 topics", "examples": "例句 examples", "departments": "部门 departments"}
CSV_FILES = {"topics": "topics.csv", "examples": "examples.csv", "departments": "departments.csv"}
SHEET_ZH = {"topics": "问题表", "examples": "例句表", "departments": "部门表"}
README = [
    "FAQ 目录表格（由 make export 生成）",
    "",
    "问题表：每行一个问题。问题编号只用小写英文、数字和下划线，已有编号不要改。",
    "部门：填“部门表”里的部门编号。答案：一个问题只有一个经审核的答案，不超过2048字节；",
    "本市的名称、地址、时间、电话等请用城市档案里的占位符，如 {city_hall_address}。",
    "依据来源：法规或官方渠道的名称。复核日期：YYYY-MM-DD。",
    "例句表：每行一条群众的说法。意图写 faq/问题编号（FAQ）或 报事、劝导等意图名。",
    f"每个问题至少 {MIN_EXAMPLES} 条例句；同一句话不能出现在两个意图下。",
    "部门表：可以新增部门，已有部门不能删除。",
    "",
    "改完后：make import FILE=这个文件，然后 make validate，通过后提交并 make ship。",
    "详见 docs/ops.md。",
]


# --------------------------------------------------------------------------------------------
# the catalogue as the spreadsheet holds it


@dataclass
class Department:
    id: str
    name: str
    row: int = field(default=0, compare=False)


@dataclass
class Topic:
    id: str
    title: str
    department: str
    answer: str
    source: str
    reviewed: str
    row: int = field(default=0, compare=False)


@dataclass
class Example:
    intent: str
    text: str
    row: int = field(default=0, compare=False)


@dataclass
class Book:
    departments: list[Department]
    topics: list[Topic]
    examples: list[Example]


@dataclass(frozen=True)
class Problem:
    level: str  # error | warning
    where: str
    zh: str

    def line(self) -> str:
        return f"{'错误' if self.level == 'error' else '警告'} {self.where}：{self.zh}"


def normalise(text: str) -> str:
    """The words of an example, for finding the same example twice: no entity markup, case,
    width, spaces or punctuation ("社保卡 怎么办？" == "社保卡怎么办")."""
    text = re.sub(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})", r"\1", text)
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


# --------------------------------------------------------------------------------------------
# the YAML files, read with line positions so that they can be patched


@dataclass
class NluBlock:
    path: Path
    intent: str
    start: int  # first line of the block (its comment line, when there is one)
    intent_line: int
    ex_start: int  # first example line
    ex_end: int  # one past the last example line
    indent: str  # indentation of the example lines
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


_INTENT = re.compile(r"^(?P<indent>\s*)- intent: (?P<name>\S+)\s*$")
_EXAMPLES = re.compile(r"^(?P<indent>\s*)examples: \|[-+]?\s*$")
_RESPONSE = re.compile(r"^  (?P<name>utter_faq/\S+):\s*$")
_ENTRY = re.compile(r"^  (?P<key>[A-Za-z0-9_]+):\s+(?P<value>.*?)\s*$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def example_text(line: str) -> str:
    """An example as Rasa reads it from `- text` in an `examples: |` block."""
    return line.strip()[1:].strip()


def parse_nlu(path: Path, lines: list[str]) -> list[NluBlock]:
    blocks = []
    i = 0
    while i < len(lines):
        m = _INTENT.match(lines[i])
        if not m:
            i += 1
            continue
        indent = len(m.group("indent"))
        j = i + 1
        e = _EXAMPLES.match(lines[j]) if j < len(lines) else None
        if not e:
            i += 1
            continue
        key_indent = len(e.group("indent"))
        k = j + 1
        while k < len(lines) and lines[k].strip() and _indent(lines[k]) > key_indent:
            k += 1
        start = i
        if i > 0 and lines[i - 1].strip().startswith("#") and _indent(lines[i - 1]) == indent:
            start = i - 1
        ex_lines = [x for x in range(j + 1, k) if lines[x].strip().startswith("-")]
        ex_indent = " " * (_indent(lines[j + 1]) if k > j + 1 else key_indent + 2)
        blocks.append(
            NluBlock(
                path,
                m.group("name"),
                start,
                i,
                j + 1,
                k,
                ex_indent,
                [example_text(lines[x]) for x in ex_lines],
                ex_lines,
            )  # fmt: skip
        )
        i = k
    return blocks


def parse_responses(path: Path, lines: list[str]) -> list[ResponseBlock]:
    data = (yaml.safe_load("\n".join(lines)) or {}).get("responses") or {}
    blocks = []
    for i, line in enumerate(lines):
        m = _RESPONSE.match(line)
        if not m:
            continue
        k = i + 1
        while k < len(lines) and (not lines[k].strip() or _indent(lines[k]) > 2):
            k += 1
        while k > i + 1 and not lines[k - 1].strip():
            k -= 1  # trailing blank lines belong to the file, not to this answer
        variations = data.get(m.group("name")) or []
        first = variations[0] if variations and isinstance(variations[0], dict) else {}
        other = len(variations) != 1 or set(first) - {"text", "metadata"}
        blocks.append(
            ResponseBlock(
                path,
                m.group("name"),
                i,
                k,
                str(first.get("text") or ""),
                dict(first.get("metadata") or {}),
                bool(other),
            )  # fmt: skip
        )
    return blocks


def _section(lines: list[str], name: str) -> tuple[int, int, dict[str, int]]:
    """(first entry line, one past the last entry line, key -> line) of a top-level mapping."""
    try:
        head = lines.index(f"{name}:")
    except ValueError:
        return -1, -1, {}
    entries: dict[str, int] = {}
    last = head
    for i in range(head + 1, len(lines)):
        if lines[i] and not lines[i].startswith((" ", "#")):
            break
        m = _ENTRY.match(lines[i])
        if m:
            entries[m.group("key")] = i
            last = i
    return head + 1, last + 1, entries


# --------------------------------------------------------------------------------------------
# writing in the files' own style


def _quoted(s: str) -> str:
    return json.dumps(s, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _scalar(s: str, flow: bool) -> str:
    """Plain when YAML reads it back as the same string (most Chinese titles), else quoted."""
    unsafe = ",[]{}" if flow else ""
    if s and s == s.strip() and not any(c in s for c in unsafe) and "\n" not in s:
        doc = f"{{k: {s}}}" if flow else f"k: {s}"
        try:
            if yaml.safe_load(doc) == {"k": s}:
                return s
        except yaml.YAMLError:
            pass
    return _quoted(s)


def department_line(d: Department) -> str:
    return f"  {d.id + ':':<21} {_scalar(d.name, flow=False)}"


def topic_line(t: Topic) -> str:
    return f"  {t.id + ':':<29} {{title: {_scalar(t.title, flow=True)}, department: {t.department}}}"


def response_lines(t: Topic) -> list[str]:
    return [
        f"  utter_faq/{t.id}:",
        f"    - text: {_quoted(t.answer)}",
        f"      metadata: {{owner: {t.department}, title: {_quoted(t.title)}, "
        f"source: {_quoted(t.source)}, reviewed: {_quoted(t.reviewed)}}}",
    ]


def nlu_lines(t: Topic, examples: list[str]) -> list[str]:
    return [f"  # {t.title}", f"  - intent: faq/{t.id}", "    examples: |", *(f"      - {e}" for e in examples)]


def response_header(d: Department) -> list[str]:
    return [
        'version: "3.1"',
        f"# FAQ answers owned by {d.id}（{d.name}）. One approved variation per topic.",
        "# Local facts only via city_* placeholders from data/city.yml; each answer's metadata says when it was reviewed.",
        "responses:",
    ]


def nlu_header(d: Department) -> list[str]:
    return [
        'version: "3.1"',
        f"# Citizens' wordings for the FAQ topics of {d.id}（{d.name}）.",
        "# Deliberately varied: colloquial, dialect, typos/homophones, voice-to-text without punctuation,",
        "# long stories, asking for relatives, very short. Close topics carry discriminating examples.",
        "nlu:",
    ]


# --------------------------------------------------------------------------------------------
# the project as it is on disk (or as it would be, with `overlay` files not yet written)


@dataclass
class Project:
    root: Path
    lines: dict[Path, list[str]]
    departments: dict[str, str]
    faq: dict[str, tuple[str, str]]  # id -> (title, department)
    kinds: dict[str, str]  # intent -> kind, for every intent of topics.yml
    nlu: dict[str, list[NluBlock]]
    responses: dict[str, ResponseBlock]

    @property
    def topics_file(self) -> Path:
        return self.root / "data" / "topics.yml"

    def nlu_files(self) -> list[Path]:
        return sorted(p for p in self.lines if p.parent == self.root / "data" / "nlu")


def _read(path: Path, overlay: dict[Path, str] | None) -> str:
    if overlay and path in overlay:
        return overlay[path]
    return path.read_text(encoding="utf-8")


def load_project(root: Path | None = None, overlay: dict[Path, str] | None = None) -> Project:
    root = (root or settings.ROOT).resolve()
    paths = {root / "data" / "topics.yml"}
    paths |= set((root / "data" / "nlu").glob("*.yml")) | set((root / "data" / "responses").glob("faq_*.yml"))
    paths |= {p for p in (overlay or {}) if p.suffix == ".yml"}
    lines = {p: _read(p, overlay).split("\n") for p in sorted(paths)}
    raw = yaml.safe_load("\n".join(lines[root / "data" / "topics.yml"])) or {}
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
    for p, ls in lines.items():
        if p.parent.name == "nlu":
            for b in parse_nlu(p, ls):
                nlu[b.intent].append(b)
        elif p.parent.name == "responses":
            for r in parse_responses(p, ls):
                responses[r.name] = r
    return Project(root, lines, departments, faq, kinds, dict(nlu), responses)


def book_of(project: Project) -> Book:
    """What `make export` puts in the spreadsheet."""
    departments = [Department(k, v) for k, v in project.departments.items()]
    topics = []
    for tid, (title, dept) in project.faq.items():
        r = project.responses.get(f"utter_faq/{tid}")
        meta = r.metadata if r else {}
        reviewed = meta.get("reviewed", "")
        topics.append(Topic(tid, title, dept, r.text if r else "", str(meta.get("source") or ""),
                            reviewed.isoformat() if isinstance(reviewed, date) else str(reviewed or "")))  # fmt: skip
    examples = [
        Example(b.intent, e)
        for p in project.nlu_files()
        for b in sorted((b for bs in project.nlu.values() for b in bs if b.path == p), key=lambda b: b.start)
        for e in b.examples
    ]
    return Book(departments, topics, examples)


# --------------------------------------------------------------------------------------------
# spreadsheet files


def _header(columns: list[tuple[str, str]]) -> list[str]:
    return [f"{zh} {key}" for key, zh in columns]


def _rows(book: Book) -> dict[str, list[list[str]]]:
    return {
        "topics": [[t.id, t.title, t.department, t.answer, t.source, t.reviewed] for t in book.topics],
        "examples": [[e.intent, e.text] for e in book.examples],
        "departments": [[d.id, d.name] for d in book.departments],
    }


_COLUMNS = {"topics": TOPIC_COLUMNS, "examples": EXAMPLE_COLUMNS, "departments": DEPARTMENT_COLUMNS}


def write_book(book: Book, path: Path) -> list[Path]:
    """An .xlsx workbook, or (any other path) a directory of UTF-8 CSV files Excel can open."""
    rows = _rows(book)
    if path.suffix.lower() == ".xlsx":
        _write_xlsx(rows, path)
        return [path]
    path.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, name in CSV_FILES.items():
        # utf-8-sig: with the byte order mark Excel opens Chinese CSV correctly
        with (path / name).open("w", encoding="utf-8-sig", newline="") as f:
            w = csv.writer(f)
            w.writerow(_header(_COLUMNS[kind]))
            w.writerows(rows[kind])
        written.append(path / name)
    return written


def _write_xlsx(rows: dict[str, list[list[str]]], path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    widths = {"topics": [24, 28, 20, 100, 50, 12], "examples": [34, 70], "departments": [24, 40]}
    first = True
    for kind, title in SHEETS.items():
        ws = wb.active if first else wb.create_sheet()
        first = False
        ws.title = title
        ws.append(_header(_COLUMNS[kind]))
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for r in rows[kind]:
            ws.append(r)
        for col_cells in ws.iter_cols(min_row=2):
            for cell in col_cells:
                # text, always: "12345" stays a text, "=..." is never a formula
                cell.data_type = "s"
                cell.number_format = "@"
        for i, w in enumerate(widths[kind]):
            ws.column_dimensions[chr(ord("A") + i)].width = w
        if kind == "topics":
            for cell in ws["D"][1:]:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.freeze_panes = "A2"
    ws = wb.create_sheet("说明 readme")
    for line in README:
        ws.append([line])
    ws.column_dimensions["A"].width = 100
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)


def _cell(value: Any) -> str:
    """A cell as text, whatever Excel made of it (numbers, dates, Windows line ends)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).replace("\r\n", "\n").replace("\r", "\n").strip()


def _table(kind: str, raw_rows: Iterable[Iterable[Any]]) -> list[tuple[int, dict[str, str]]]:
    """Rows as {key: text} with their row number in the sheet; columns found by header."""
    it = iter(raw_rows)
    try:
        header = [_cell(h) for h in next(it)]
    except StopIteration:
        return []
    where: dict[str, int] = {}
    for i, h in enumerate(header):
        tokens = h.split()
        for key, zh in _COLUMNS[kind]:
            if h in (key, zh, f"{zh} {key}") or key in tokens or zh in tokens:
                where.setdefault(key, i)
    missing = [f"{zh} {key}" for key, zh in _COLUMNS[kind] if key not in where]
    if missing:
        raise ValueError(f"{SHEET_ZH[kind]}缺少列：{'、'.join(missing)}（第一行应是表头）")
    out = []
    for n, raw in enumerate(it, start=2):
        values = list(raw)
        row = {k: _cell(values[i]) if i < len(values) else "" for k, i in where.items()}
        if any(row.values()):
            out.append((n, row))
    return out


def read_book(path: Path) -> Book:
    tables: dict[str, list[tuple[int, dict[str, str]]]] = {}
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        for kind, title in SHEETS.items():
            matches = [ws for ws in wb.worksheets if ws.title == title or kind in ws.title.split()]
            if not matches:
                raise ValueError(f"表格里没有工作表“{title}”")
            tables[kind] = _table(kind, matches[0].iter_rows(values_only=True))
        wb.close()
    else:
        for kind, name in CSV_FILES.items():
            f = path / name
            if not f.exists():
                raise ValueError(f"缺少文件 {f}")
            with f.open(encoding="utf-8-sig", newline="") as fh:
                tables[kind] = _table(kind, csv.reader(fh))
    return Book(
        departments=[Department(r["id"], r["name"], n) for n, r in tables["departments"]],
        topics=[
            Topic(r["id"], r["title"], r["department"], r["answer"], r["source"], r["reviewed"], n)
            for n, r in tables["topics"]
        ],  # fmt: skip
        examples=[Example(r["intent"], r["example"], n) for n, r in tables["examples"]],
    )


# --------------------------------------------------------------------------------------------
# validation


def check(book: Book, project: Project) -> list[Problem]:
    """Everything wrong with a spreadsheet before it may become the catalogue."""
    out: list[Problem] = []

    def err(sheet: str, row: int, zh: str, level: str = "error") -> None:
        out.append(Problem(level, f"{SHEET_ZH[sheet]}第 {row} 行" if row else SHEET_ZH[sheet], zh))

    # departments
    depts: dict[str, Department] = {}
    for d in book.departments:
        if not ID_RE.match(d.id):
            err("departments", d.row, f"部门编号“{d.id}”只能用小写英文字母、数字和下划线，以字母开头")
        elif d.id in depts:
            err("departments", d.row, f"部门编号 {d.id} 重复（另见第 {depts[d.id].row} 行）")
        if not d.name:
            err("departments", d.row, f"部门 {d.id} 没有名称")
        depts.setdefault(d.id, d)
    for dept in project.departments:
        if dept not in depts:
            err(
                "departments",
                0,
                f"缺少部门 {dept}（{project.departments[dept]}）：已有部门不能删除，工单和报表按它分拨",
            )

    # topics
    root = project.root
    city_values = city.placeholders(str(root / "data" / "city.yml"))
    phrases = root / "data" / guard.PHRASES_FILE
    seen: dict[str, Topic] = {}
    for t in book.topics:
        label = f"问题 {t.id}"
        if not ID_RE.match(t.id):
            err("topics", t.row, f"问题编号“{t.id}”只能用小写英文字母、数字和下划线，以字母开头")
            continue
        if t.id in seen:
            err("topics", t.row, f"问题编号 {t.id} 重复（另见第 {seen[t.id].row} 行）")
            continue
        seen[t.id] = t
        if not t.title:
            err("topics", t.row, f"{label} 没有标题")
        if t.department not in depts:
            err("topics", t.row, f"{label} 的部门“{t.department}”不存在；请填部门表里的部门编号，或先在部门表新增部门")
        if not t.answer:
            err("topics", t.row, f"{label} 没有答案")
        else:
            for key in dict.fromkeys(catalogue.PLACEHOLDER.findall(t.answer)):
                if key not in city_values:
                    err("topics", t.row, f"{label} 的答案里有占位符 {{{key}}}，但城市档案 data/city.yml 中没有这一项")
            rendered = catalogue.PLACEHOLDER.sub(lambda m: city_values.get(m.group(1), m.group(0)), t.answer)
            size = len(rendered.encode("utf-8"))
            if size > MAX_ANSWER_BYTES:
                err(
                    "topics",
                    t.row,
                    f"{label} 的答案填入城市档案后有 {size} 字节，超过 {MAX_ANSWER_BYTES} 字节（微信一条消息的上限），请精简",
                )
            for why in guard.phrase_problems(rendered, phrases):
                err("topics", t.row, f"{label} 的答案含禁用语：{why}")
        if not t.source:
            err("topics", t.row, f"{label} 没有依据来源（法规名称或官方渠道）")
        try:
            reviewed = date.fromisoformat(t.reviewed)
        except ValueError:
            err("topics", t.row, f"{label} 的复核日期“{t.reviewed}”格式应为 YYYY-MM-DD")
        else:
            if reviewed > date.today():
                err("topics", t.row, f"{label} 的复核日期 {reviewed} 在未来", "warning")
        r = project.responses.get(f"utter_faq/{t.id}")
        if r is not None and r.other_keys and (t.answer, t.source) != (r.text, str(r.metadata.get("source") or "")):
            err(
                "topics",
                t.row,
                f"{label} 的答案带按钮或有多个版本，不能在表格中修改，请直接编辑 {r.path.relative_to(root)}",
            )
    for tid, (title, _) in project.faq.items():
        if tid not in seen:
            err(
                "topics",
                0,
                f"缺少问题 {tid}（{title}）：表格不能删除问题（外部系统和报表按编号引用），停用问题请联系开发人员",
            )

    # examples
    known = set(project.nlu) | {f"faq/{tid}" for tid in seen}
    by_intent: dict[str, list[Example]] = defaultdict(list)
    by_words: dict[str, Example] = {}
    for e in book.examples:
        if not e.intent or not e.text:
            err("examples", e.row, "意图和例句都要填写")
            continue
        if "\n" in e.text:
            err("examples", e.row, "一条例句不能换行；多种说法请分成多行")
            continue
        if e.intent not in known:
            hint = (
                "FAQ 问题请写 faq/问题编号，并先在问题表里加这个问题"
                if not e.intent.startswith("faq/")
                else "问题表里没有这个问题"
            )
            err("examples", e.row, f"意图“{e.intent}”不存在（{hint}）")
            continue
        words = normalise(e.text)
        if not words:
            err("examples", e.row, f"例句“{e.text}”没有文字")
            continue
        first = by_words.get(words)
        if first is None:
            by_words[words] = e
        elif first.intent != e.intent:
            err("examples", e.row, f"例句“{e.text}”同时出现在 {first.intent}（第 {first.row} 行）和 {e.intent} 下，"
                                   "同一句话只能属于一个意图，请删掉错的那一行")  # fmt: skip
            continue
        else:
            err(
                "examples", e.row, f"例句“{e.text}”在 {e.intent} 下重复（另见第 {first.row} 行），只保留一行", "warning"
            )
        by_intent[e.intent].append(e)
    for intent in sorted(known):
        n = len(by_intent.get(intent, []))
        if n == 0:
            err("examples", 0, f"意图 {intent} 没有例句，至少需要 {MIN_EXAMPLES} 条")
        elif n < MIN_EXAMPLES and project.kinds.get(intent, "faq" if intent.startswith("faq/") else "") in TOPIC_KINDS:
            err(
                "examples",
                0,
                f"意图 {intent} 只有 {n} 条例句，至少需要 {MIN_EXAMPLES} 条（make validate 会不通过）",
                "warning",
            )
    return out


# --------------------------------------------------------------------------------------------
# applying a spreadsheet to the files


@dataclass
class Change:
    zh: str


class _Edits:
    """Line replacements and appends per file, applied bottom-up so positions stay valid."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.replace: dict[Path, list[tuple[int, int, list[str]]]] = defaultdict(list)
        self.append: dict[Path, list[str]] = defaultdict(list)
        self.new_files: dict[Path, list[str]] = {}

    def sub(self, path: Path, start: int, end: int, new: list[str]) -> None:
        self.replace[path].append((start, end, new))

    def add(self, path: Path, new: list[str], header: list[str]) -> None:
        if path not in self.project.lines and path not in self.new_files:
            self.new_files[path] = header
        self.append[path].extend(new)

    def result(self) -> dict[Path, str]:
        out: dict[Path, str] = {}
        for path in sorted(set(self.replace) | set(self.append) | set(self.new_files)):
            lines = list(self.project.lines.get(path) or [*self.new_files[path], ""])
            for start, end, new in sorted(self.replace[path], key=lambda x: x[0], reverse=True):
                lines[start:end] = new
            if self.append[path]:
                at = len(lines) - 1 if lines and lines[-1] == "" else len(lines)
                lines[at:at] = self.append[path]
            out[path] = "\n".join(lines)
        return out


def plan(book: Book, project: Project) -> tuple[dict[Path, str], list[Change]]:
    """The new contents of every file that changes, and what changed, in words."""
    edits = _Edits(project)
    changes: list[Change] = []
    root = project.root
    topics_file = project.topics_file
    tl = project.lines[topics_file]
    depts = {d.id: d for d in book.departments}

    _, dept_end, dept_lines = _section(tl, "departments")
    new_depts = []
    for d in book.departments:
        if d.id not in project.departments:
            new_depts.append(department_line(d))
            changes.append(Change(f"新增部门 {d.id}（{d.name}）"))
        elif d.name != project.departments[d.id]:
            edits.sub(topics_file, dept_lines[d.id], dept_lines[d.id] + 1, [department_line(d)])
            changes.append(Change(f"部门 {d.id} 改名为 {d.name}"))
    if new_depts:
        edits.sub(topics_file, dept_end, dept_end, new_depts)

    _, faq_end, faq_lines = _section(tl, "faq")
    examples: dict[str, list[str]] = defaultdict(list)
    for e in book.examples:
        if e.text not in examples[e.intent]:  # a repeated row is one example
            examples[e.intent].append(e.text)
    new_topic_lines = []
    for t in book.topics:
        intent = f"faq/{t.id}"
        old = project.faq.get(t.id)
        resp_file = root / "data" / "responses" / f"faq_{t.department}.yml"
        nlu_file = root / "data" / "nlu" / f"faq_{t.department}.yml"
        if old is None:
            new_topic_lines.append(topic_line(t))
            edits.add(resp_file, response_lines(t), response_header(depts[t.department]))
            edits.add(nlu_file, nlu_lines(t, examples[intent]), nlu_header(depts[t.department]))
            changes.append(Change(f"新增问题 {t.id}（{t.title}），{len(examples[intent])} 条例句"))
            continue
        if (t.title, t.department) != old:
            edits.sub(topics_file, faq_lines[t.id], faq_lines[t.id] + 1, [topic_line(t)])
        moved = t.department != old[1]
        r = project.responses.get(f"utter_faq/{intent[4:]}")
        meta = r.metadata if r else {}
        reviewed = meta.get("reviewed")
        reviewed = reviewed.isoformat() if isinstance(reviewed, date) else str(reviewed or "")
        current = (r.text if r else "", str(meta.get("owner") or ""), str(meta.get("title") or ""),
                   str(meta.get("source") or ""), reviewed)  # fmt: skip
        if r is None:
            edits.add(resp_file, response_lines(t), response_header(depts[t.department]))
        elif moved:
            edits.sub(r.path, r.start, r.end, [])
            edits.add(resp_file, response_lines(t), response_header(depts[t.department]))
        elif current != (t.answer, t.department, t.title, t.source, t.reviewed):
            edits.sub(r.path, r.start, r.end, response_lines(t))
        if r is None or current[0] != t.answer:
            changes.append(Change(f"修改答案 {t.id}（{t.title}）"))
        elif current[1:] != (t.department, t.title, t.source, t.reviewed):
            changes.append(Change(f"修改问题信息 {t.id}（{t.title}）"))
        if moved:
            changes.append(Change(f"问题 {t.id} 从部门 {old[1]} 转到 {t.department}"))
            blocks = project.nlu.get(intent, [])
            for b in blocks:
                edits.sub(b.path, b.start, b.ex_end, [])
            edits.add(nlu_file, nlu_lines(t, examples[intent]), nlu_header(depts[t.department]))
        elif t.title != old[0]:
            for b in project.nlu.get(intent, []):
                if b.start < b.intent_line:  # its "# title" comment
                    edits.sub(
                        b.path, b.start, b.start + 1, [f"{project.lines[b.path][b.start].split('#')[0]}# {t.title}"]
                    )
    if new_topic_lines:
        edits.sub(topics_file, faq_end, faq_end, new_topic_lines)

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
        changes.append(
            Change(
                f"{intent}：新增 {added} 条例句，删除 {removed} 条"
                + ("，调整顺序" if not added and not removed else "")
            )
        )
        # all examples of the intent go to its first block (an intent is normally in one file)
        first, rest = blocks[0], blocks[1:]
        edits.sub(first.path, first.ex_start, first.ex_end, [f"{first.indent}- {e}" for e in wanted])
        for b in rest:
            edits.sub(b.path, b.ex_start, b.ex_end, [])
    return edits.result(), changes


def verify(book: Book, project: Project, new_files: dict[Path, str]) -> list[str]:
    """Read the patched files back: they must say exactly what the spreadsheet says."""
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
    for e in after.examples:
        by_intent_after[e.intent].append(e.text)
    by_intent_want: dict[str, list[str]] = defaultdict(list)
    for e in want.examples:
        by_intent_want[e.intent].append(e.text)
    if by_intent_after != by_intent_want:
        diff = sorted(i for i in set(by_intent_after) | set(by_intent_want) if by_intent_after[i] != by_intent_want[i])
        problems.append(f"例句与表格不一致：{', '.join(diff[:5])}")
    return problems


def book_of_expected(book: Book) -> Book:
    """The spreadsheet as the files will hold it: topics in topics.yml order, each example once."""
    seen: set[tuple[str, str]] = set()
    examples = []
    for e in book.examples:
        if (e.intent, e.text) not in seen:
            seen.add((e.intent, e.text))
            examples.append(Example(e.intent, e.text))
    return Book(book.departments, book.topics, examples)


@dataclass
class ImportResult:
    problems: list[Problem]
    changes: list[Change]
    written: list[Path]

    @property
    def ok(self) -> bool:
        return not any(p.level == "error" for p in self.problems)


def import_book(book: Book, root: Path | None = None, dry_run: bool = False) -> ImportResult:
    """Validate, then (only when there is no error) write the changed YAML files."""
    project = load_project(root)
    problems = check(book, project)
    if any(p.level == "error" for p in problems):
        return ImportResult(problems, [], [])
    # topics.yml keeps its order: existing topics where they are, new ones at the end
    order = {tid: i for i, tid in enumerate(project.faq)}
    book = Book(book.departments, sorted(book.topics, key=lambda t: order.get(t.id, len(order))), book.examples)
    new_files, changes = plan(book, project)
    new_files = {p: t for p, t in new_files.items() if p not in project.lines or t != "\n".join(project.lines[p])}
    mismatch = verify(book, project, new_files)
    if mismatch:
        return ImportResult(
            [Problem("error", "写回检查", m + "（没有写入任何文件，请把表格发给开发人员）") for m in mismatch], [], []
        )
    if not dry_run:
        for path, text in new_files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".yml.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
    return ImportResult(problems, changes, sorted(new_files))


def export(path: Path, root: Path | None = None) -> list[Path]:
    return write_book(book_of(load_project(root)), path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    ex = sub.add_parser("export", help="写出表格：.xlsx 文件，或一个目录（CSV）")
    ex.add_argument("path", type=Path)
    im = sub.add_parser("import", help="校验表格并写回 YAML")
    im.add_argument("path", type=Path)
    im.add_argument("--dry-run", action="store_true", help="只检查，不写文件")
    for p in (ex, im):
        p.add_argument("--root", type=Path, default=None, help="项目目录（默认当前项目）")
    args = parser.parse_args(argv)
    out = sys.stdout
    if args.cmd == "export":
        files = export(args.path, args.root)
        out.write(
            "已导出：" + "、".join(str(f) for f in files) + "\n编辑后运行 make import FILE=" + str(args.path) + "\n"
        )
        return 0
    try:
        book = read_book(args.path)
    except (ValueError, OSError) as e:
        out.write(f"无法读取表格：{e}\n")
        return 1
    result = import_book(book, args.root, dry_run=args.dry_run)
    for p in result.problems:
        out.write(p.line() + "\n")
    if not result.ok:
        n = sum(p.level == "error" for p in result.problems)
        out.write(f"导入未通过：{n} 个错误，没有修改任何文件。请改正表格后重新导入。\n")
        return 1
    if not result.changes:
        out.write("表格与现有目录完全一致，没有需要写入的修改。\n")
        return 0
    for c in result.changes:
        out.write(f"  · {c.zh}\n")
    root = (args.root or settings.ROOT).resolve()
    files = "、".join(str(p.relative_to(root)) for p in result.written)
    if args.dry_run:
        out.write(f"检查通过（试运行，未写入）。将修改：{files}\n")
    else:
        out.write(f"已写入：{files}\n下一步：make validate（检查并评估），通过后提交，再 make ship 上线。\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
