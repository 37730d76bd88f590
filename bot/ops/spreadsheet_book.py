"""The FAQ spreadsheet (`make export` / `make import`): its rows as typed values, and its files.

An .xlsx workbook (sheets 问题 topics, 例句 examples, 部门 departments and a readme), or a
directory of UTF-8 CSV files Excel opens. Columns are found by their header ("问题编号 id", or
either half of it), so ops may reorder them; every cell is read as text, whatever Excel made of it.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

MIN_EXAMPLES = 12  # fewer and the classifier cannot tell a topic from its neighbours

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


def normalise(text: str) -> str:
    """The words of an example, for finding the same example twice: no entity markup, case,
    width, spaces or punctuation ("社保卡 怎么办？" == "社保卡怎么办")."""
    text = re.sub(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})", r"\1", text)
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


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
        ws = wb.worksheets[0] if first else wb.create_sheet()
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
