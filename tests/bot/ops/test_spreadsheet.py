"""The FAQ spreadsheet (bot/ops/spreadsheet*.py): a faithful view of the YAML catalogue.

Every test works on a copy of the project's data, so the real catalogue is never touched.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from openpyxl import Workbook, load_workbook

from bot.infra import settings
from bot.ops import content_check, spreadsheet, spreadsheet_book, spreadsheet_yaml
from bot.ops.spreadsheet_book import Book, Department, Example, Topic

NEW_EXAMPLES = [
    "体育馆怎么预约", "全民健身中心几点开门", "游泳馆要不要预约", "体育场馆免费开放吗", "羽毛球场怎么订",
    "学校操场周末对外开放吗", "健身步道在哪", "社区健身器材坏了找谁", "老年人去体育馆打折吗",
    "篮球场晚上开到几点", "公共体育场馆开放时间", "在哪里可以免费打乒乓球",
]  # fmt: skip


def yml_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "data").rglob("*.yml"))}


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A copy of the project's data (and what the content check reads beside it)."""
    root = tmp_path / "project"
    shutil.copytree(settings.ROOT / "data", root / "data")
    shutil.copy(settings.ROOT / "domain.yml", root / "domain.yml")
    return root


def current(root: Path) -> Book:
    return spreadsheet_yaml.book_of(spreadsheet_yaml.load_project(root))


def edit(book: Book, topic_id: str, **changes: str) -> Book:
    return replace(book, topics=[replace(t, **changes) if t.id == topic_id else t for t in book.topics])


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["catalogue.xlsx", "csv"])
def test_export_import_export_preserves_the_catalogue_byte_for_byte(project: Path, tmp_path: Path, target: str) -> None:
    before = yml_files(project)
    sheet = tmp_path / target
    spreadsheet.export(sheet, project)
    read = spreadsheet_book.read_book(sheet)
    assert read == current(project)  # every department, topic, answer, source, date and example
    assert len(read.topics) >= 40 and len(read.examples) > 1000

    result = spreadsheet.import_book(read, project)
    assert result.ok, [p.line() for p in result.problems]
    assert result.written == [] and result.changes == []
    assert yml_files(project) == before

    again = tmp_path / f"again-{target}"
    spreadsheet.export(again, project)
    assert spreadsheet_book.read_book(again) == read


def test_every_existing_entry_is_written_exactly_as_the_files_have_it(project: Path) -> None:
    """The writer's style is the files' style: new entries look like the ones ops already know."""
    p = spreadsheet_yaml.load_project(project)
    book = spreadsheet_yaml.book_of(p)
    topics_lines = p.lines[p.topics_file]
    dept_at = p.key_lines(p.topics_file, "departments")
    faq_at = p.key_lines(p.topics_file, "faq")
    examples: dict[str, list[str]] = {}
    for e in book.examples:
        examples.setdefault(e.intent, []).append(e.text)
    for d in book.departments:
        assert spreadsheet_yaml.department_line(d) == topics_lines[dept_at[d.id]]
    for t in book.topics:
        assert spreadsheet_yaml.topic_line(t) == topics_lines[faq_at[t.id]]
        r = p.responses[f"utter_faq/{t.id}"]
        assert spreadsheet_yaml.response_lines(t) == p.lines[r.path][r.start : r.end]
        b = p.nlu[f"faq/{t.id}"][0]
        assert spreadsheet_yaml.nlu_lines(t, examples[f"faq/{t.id}"]) == p.lines[b.path][b.start : b.ex_end]


def test_a_topic_missing_from_the_files_is_recreated_identically(project: Path) -> None:
    """hotline_scope is the last topic of topics.yml and alone in its files: cut it out, import
    the full sheet, and the files must be exactly what they were."""
    before = yml_files(project)
    book = current(project)
    p = spreadsheet_yaml.load_project(project)
    r = p.responses["utter_faq/hotline_scope"]
    b = p.nlu["faq/hotline_scope"][0]
    faq_at = p.key_lines(p.topics_file, "faq")
    for path, start, end in [(r.path, r.start, r.end), (b.path, b.start, b.ex_end),
                             (p.topics_file, faq_at["hotline_scope"], faq_at["hotline_scope"] + 1)]:  # fmt: skip
        lines = p.lines[path]
        path.write_text("\n".join(lines[:start] + lines[end:]), encoding="utf-8")
    assert yml_files(project) != before

    result = spreadsheet.import_book(book, project)
    assert result.ok, [x.line() for x in result.problems]
    assert any("新增问题 hotline_scope" in c.zh for c in result.changes)
    assert yml_files(project) == before


# --- edits in the sheet reach the YAML, and only what changed changes ------------------------


def test_edits_made_in_excel_become_small_yaml_changes_that_rasa_reads(project: Path, tmp_path: Path) -> None:
    before = yml_files(project)
    sheet = tmp_path / "catalogue.xlsx"
    spreadsheet.export(sheet, project)
    wb = load_workbook(sheet)
    topics, examples, departments = wb["问题 topics"], wb["例句 examples"], wb["部门 departments"]
    row = next(r for r in topics.iter_rows(min_row=2) if r[0].value == "hpf_loan")
    new_answer = row[3].value + "贷款额度以公积金中心审批为准。"
    row[3].value = new_answer
    row[5].value = datetime(2026, 11, 27)  # Excel turns a typed date into a date
    examples.append(["faq/hpf_loan", "公积金贷款能不能提前还"])
    departments.append(["sports", "体育局"])
    topics.append(["sports_venue", "公共体育场馆开放", "sports", "公共体育场馆的开放时间和预约方式请查看{city_gov_app}，"
                   "如您需要人工帮助，请回复“人工”。", "《全民健身条例》", "2026-11-26"])  # fmt: skip
    for text in NEW_EXAMPLES:
        examples.append(["faq/sports_venue", text])
    wb.save(sheet)

    result = spreadsheet.import_book(spreadsheet_book.read_book(sheet), project)
    assert result.ok, [p.line() for p in result.problems]
    changes = " ".join(c.zh for c in result.changes)
    assert "新增部门 sports" in changes and "新增问题 sports_venue" in changes
    assert "修改答案 hpf_loan" in changes and "faq/hpf_loan：新增 1 条例句" in changes

    after = yml_files(project)
    changed = {k for k in after if before.get(k) != after[k]}
    assert changed == {"data/topics.yml", "data/responses/faq_housing_fund.yml", "data/nlu/faq_housing_fund.yml",
                       "data/responses/faq_sports.yml", "data/nlu/faq_sports.yml"}  # fmt: skip
    # the answer and its review date are its two lines (text, metadata); the example one added line
    old = before["data/responses/faq_housing_fund.yml"].decode().split("\n")
    new = after["data/responses/faq_housing_fund.yml"].decode().split("\n")
    assert len(old) == len(new) and sum(a != b for a, b in zip(old, new, strict=True)) == 2
    assert len(after["data/nlu/faq_housing_fund.yml"].decode().split("\n")) == len(
        before["data/nlu/faq_housing_fund.yml"].decode().split("\n")) + 1  # fmt: skip

    responses = yaml.safe_load((project / "data/responses/faq_housing_fund.yml").read_text(encoding="utf-8"))
    loan = responses["responses"]["utter_faq/hpf_loan"][0]
    assert loan["text"] == new_answer and loan["metadata"]["reviewed"] == "2026-11-27"
    topics_yml = yaml.safe_load((project / "data/topics.yml").read_text(encoding="utf-8"))
    assert topics_yml["departments"]["sports"] == "体育局"
    assert topics_yml["faq"]["sports_venue"] == {"title": "公共体育场馆开放", "department": "sports"}

    # what Rasa reads: the new topic's examples under its retrieval intent
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(project / "data" / "nlu"))
    keys = {m.get("intent_response_key") for m in data.intent_examples if m.get("text") in NEW_EXAMPLES}
    assert keys == {"faq/sports_venue"}
    # and the content check accepts the written answers
    findings, _ = content_check.check(project)
    assert not [f.line() for f in findings if f.level == "error"]

    # a second round trip of the edited catalogue changes nothing
    again = tmp_path / "again.xlsx"
    spreadsheet.export(again, project)
    snapshot = yml_files(project)
    second = spreadsheet.import_book(spreadsheet_book.read_book(again), project)
    assert second.ok and second.changes == [] and yml_files(project) == snapshot


def test_moving_a_topic_to_another_department_moves_its_answer_and_examples(project: Path) -> None:
    book = edit(current(project), "legal_aid", department="hotline")
    result = spreadsheet.import_book(book, project)
    assert result.ok, [p.line() for p in result.problems]
    hotline = yaml.safe_load((project / "data/responses/faq_hotline.yml").read_text(encoding="utf-8"))["responses"]
    justice = (
        yaml.safe_load((project / "data/responses/faq_justice.yml").read_text(encoding="utf-8"))["responses"] or {}
    )
    assert hotline["utter_faq/legal_aid"][0]["metadata"]["owner"] == "hotline"
    assert "utter_faq/legal_aid" not in justice
    assert "faq/legal_aid" in (project / "data/nlu/faq_hotline.yml").read_text(encoding="utf-8")
    assert "faq/legal_aid" not in (project / "data/nlu/faq_justice.yml").read_text(encoding="utf-8")
    assert {t.id: t for t in current(project).topics} == {t.id: t for t in book.topics}


# --- validation: nothing is written when anything is wrong -----------------------------------


def _long() -> str:
    return "您好，" + "请带好身份证原件办理。" * 70 + "如您需要人工帮助，请回复“人工”。"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: edit(b, "hpf_loan", department="sports_bureau"), "部门“sports_bureau”不存在"),
        (lambda b: edit(b, "hpf_loan", answer=""), "问题 hpf_loan 没有答案"),
        (lambda b: edit(b, "hpf_loan", answer=_long()), "超过 2048 字节"),
        (
            lambda b: edit(b, "hpf_loan", answer="请到{city_sports_hall}办理。如需人工请回复“人工”。"),
            "占位符 {city_sports_hall}，但城市档案 data/city.yml 中没有这一项",
        ),
        (lambda b: edit(b, "hpf_loan", source=""), "没有依据来源"),
        (lambda b: edit(b, "hpf_loan", reviewed="2026/11/26"), "格式应为 YYYY-MM-DD"),
        (lambda b: replace(b, topics=[t for t in b.topics if t.id != "hpf_loan"]), "缺少问题 hpf_loan"),
        (lambda b: replace(b, departments=b.departments[1:]), "缺少部门 hrss"),
        (
            lambda b: replace(b, examples=[*b.examples, Example("faq/hpf_loan", "公积金余额怎么查", 9999)]),
            "同时出现在 faq/hpf_balance_query",
        ),
        (
            lambda b: replace(b, examples=[*b.examples, Example("faq/no_such_topic", "随便问问", 9999)]),
            "意图“faq/no_such_topic”不存在",
        ),
        (
            lambda b: replace(b, examples=[e for e in b.examples if e.intent != "faq/hpf_loan"]),
            "意图 faq/hpf_loan 没有例句",
        ),
        (
            lambda b: replace(
                b, topics=[*b.topics, Topic("Bad-Id", "标题", "hrss", "答案。", "来源", "2026-11-26", 99)]
            ),
            "问题编号“Bad-Id”只能用小写英文字母",
        ),
    ],
)
def test_a_wrong_sheet_is_refused_with_a_clear_message_and_nothing_written(project: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    before = yml_files(project)
    result = spreadsheet.import_book(change(current(project)), project)
    assert not result.ok
    lines = [p.line() for p in result.problems if p.level == "error"]
    assert any(message in line for line in lines), lines
    assert yml_files(project) == before


def test_duplicate_example_names_both_rows_of_the_sheet(project: Path) -> None:
    book = current(project)
    first = next(e for e in book.examples if e.intent == "faq/hpf_balance_query")
    rows = [replace(e, row=i + 2) for i, e in enumerate(book.examples)]
    planted = Example("faq/hpf_loan", first.text + "？", len(rows) + 2)  # punctuation does not make it new
    result = spreadsheet.import_book(replace(book, examples=[*rows, planted]), project)
    original_row = next(e.row for e in rows if e.text == first.text and e.intent == first.intent)
    error = next(p for p in result.problems if p.level == "error")
    assert error.where == f"例句表第 {planted.row} 行"
    assert f"faq/hpf_balance_query（第 {original_row} 行）" in error.zh and "faq/hpf_loan" in error.zh


def test_import_command_reports_in_chinese_and_fails(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet = tmp_path / "csv"
    spreadsheet.export(sheet, project)
    text = (sheet / "topics.csv").read_text(encoding="utf-8-sig").replace(",housing_fund,", ",housing_fun,", 1)
    (sheet / "topics.csv").write_text(text, encoding="utf-8-sig")
    assert spreadsheet.main(["import", str(sheet), "--root", str(project)]) == 1
    out = capsys.readouterr().out
    assert "部门“housing_fun”不存在" in out and "没有修改任何文件" in out


def test_dry_run_checks_without_writing(project: Path) -> None:
    before = yml_files(project)
    result = spreadsheet.import_book(
        edit(current(project), "hpf_loan", title="住房公积金贷款申请"), project, dry_run=True
    )
    assert result.ok and result.written and yml_files(project) == before


# --- what Excel does to cells -----------------------------------------------------------------


def test_numbers_dates_and_line_ends_typed_in_excel_are_read_as_text(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "问题 topics"
    ws.append([f"{zh} {key}" for key, zh in spreadsheet_book.TOPIC_COLUMNS])
    ws.append(["t1", "标题", "hrss", "第一行\r\n第二行", "来源", datetime(2026, 11, 26)])
    ws = wb.create_sheet("例句 examples")
    ws.append(["例句 example", "意图 intent"])  # columns found by their header, in any order
    ws.append([12345, "faq/hotline_scope"])
    ws.append([None, None])  # an empty row is skipped
    ws = wb.create_sheet("部门 departments")
    ws.append(["部门编号 id", "部门名称 name"])
    ws.append(["hrss", "人社局"])
    path = tmp_path / "typed.xlsx"
    wb.save(path)
    book = spreadsheet_book.read_book(path)
    assert book.topics == [Topic("t1", "标题", "hrss", "第一行\n第二行", "来源", "2026-11-26")]
    assert book.examples == [Example("faq/hotline_scope", "12345")] and book.examples[0].row == 2
    assert book.departments == [Department("hrss", "人社局")]


def test_a_sheet_without_a_required_column_is_refused(tmp_path: Path) -> None:
    wb = Workbook()
    wb.active.title = "问题 topics"
    wb.active.append(["问题编号 id", "标题 title"])
    wb.create_sheet("例句 examples").append(["意图 intent", "例句 example"])
    wb.create_sheet("部门 departments").append(["部门编号 id", "部门名称 name"])
    wb.save(tmp_path / "x.xlsx")
    with pytest.raises(ValueError, match="问题表缺少列"):
        spreadsheet_book.read_book(tmp_path / "x.xlsx")


def test_normalise_ignores_spacing_punctuation_width_and_entity_markup() -> None:
    assert spreadsheet_book.normalise("社保卡 怎么办？") == spreadsheet_book.normalise("社保卡怎么办")
    assert spreadsheet_book.normalise("ＡＢＣ１２３") == spreadsheet_book.normalise("abc123")
    assert spreadsheet_book.normalise("查[20261126-000123](ticket_id)的进度") == spreadsheet_book.normalise(
        "查20261126-000123的进度"
    )
    assert spreadsheet_book.normalise("社保卡丢了") != spreadsheet_book.normalise("社保卡办了")
