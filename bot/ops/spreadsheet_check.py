"""What must be true of a spreadsheet before it may become the catalogue (`make import` checks it
before anything is written): each problem in Chinese, with the sheet and row ops must fix."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from bot.core import catalogue, city, guard
from bot.ops.spreadsheet_book import MIN_EXAMPLES, SHEET_ZH, Book, Department, Example, Topic, normalise
from bot.ops.spreadsheet_yaml import TOPIC_KINDS, Project

MAX_ANSWER_BYTES = 2048  # WeChat's limit for one text message, city profile filled in
ID_RE = re.compile(r"^[a-z][a-z0-9_]{1,59}$")


@dataclass(frozen=True)
class Problem:
    level: str  # error | warning
    where: str
    zh: str

    def line(self) -> str:
        return f"{'错误' if self.level == 'error' else '警告'} {self.where}：{self.zh}"


class Report(Protocol):
    """Adds a problem: its sheet ("topics" ...), row (0: the sheet as a whole), message and level."""

    def __call__(self, sheet: str, row: int, zh: str, level: str = "error") -> None: ...


def check(book: Book, project: Project) -> list[Problem]:
    """Everything wrong with a spreadsheet before it may become the catalogue."""
    out: list[Problem] = []

    def err(sheet: str, row: int, zh: str, level: str = "error") -> None:
        out.append(Problem(level, f"{SHEET_ZH[sheet]}第 {row} 行" if row else SHEET_ZH[sheet], zh))

    depts = _check_departments(book, project, err)
    seen = _check_topics(book, project, depts, err)
    _check_examples(book, project, seen, err)
    return out


def _check_departments(book: Book, project: Project, err: Report) -> dict[str, Department]:
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
    return depts


def _check_topics(book: Book, project: Project, depts: dict[str, Department], err: Report) -> dict[str, Topic]:
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
    return seen


def _check_examples(book: Book, project: Project, seen: dict[str, Topic], err: Report) -> None:
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
