"""FAQ 目录的表格视图：导出为 Excel/CSV，在表格里编辑，校验后写回 YAML。

The YAML files stay the single source of truth (Rasa trains on them, git reviews them); the
spreadsheet is only a view of them: `make export` writes it, ops edit it in Excel/WPS,
`make import` checks every row and, only when nothing is wrong, writes the YAML back.

    python -m bot.ops.spreadsheet export catalogue.xlsx      (or a directory: CSV files)
    python -m bot.ops.spreadsheet import catalogue.xlsx [--dry-run]

By job: bot.ops.spreadsheet_book (the sheet's rows and its files), spreadsheet_yaml (the YAML
files, read and written round trip), spreadsheet_check (what must be true of a sheet),
spreadsheet_write (the sheet written back to the files, read back before anything is written).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from bot.infra import settings
from bot.ops.spreadsheet_book import Book, read_book, write_book
from bot.ops.spreadsheet_check import Problem, check
from bot.ops.spreadsheet_write import Change, plan, verify
from bot.ops.spreadsheet_yaml import book_of, load_project


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
    new_files = {p: t for p, t in new_files.items() if p not in project.files or t != project.files[p].text}
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
    for problem in result.problems:
        out.write(problem.line() + "\n")
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
    written = "、".join(str(p.relative_to(root)) for p in result.written)
    if args.dry_run:
        out.write(f"检查通过（试运行，未写入）。将修改：{written}\n")
    else:
        out.write(f"已写入：{written}\n下一步：make validate（检查并评估），通过后提交，再 make ship 上线。\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
