"""The content check fails on what must not reach a citizen (bot/ops/content_check.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from bot.infra import settings
from bot.ops import content_check

META = '{owner: hotline, source: 12345热线服务规范, reviewed: "2026-11-26"}'


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A copy of everything the check reads: domain, responses, topics, city profile, phrase list."""
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    shutil.copy(settings.ROOT / "domain.yml", root / "domain.yml")
    shutil.copytree(settings.DATA / "responses", root / "data" / "responses")
    for name in ("topics.yml", "city.yml", "forbidden_phrases.yml"):
        shutil.copy(settings.DATA / name, root / "data" / name)
    return root


def plant(root: Path, body: str) -> None:
    (root / "data" / "responses" / "zz_planted.yml").write_text(f'version: "3.1"\nresponses:\n{body}', encoding="utf-8")


def run(root: Path, capsys: pytest.CaptureFixture[str], today: str = "2026-11-26") -> tuple[int, str]:
    code = content_check.main(["--root", str(root), "--today", today])
    return code, capsys.readouterr().out


def test_the_projects_catalogue_passes() -> None:
    proc = subprocess.run([sys.executable, "-m", "bot.ops.content_check"], cwd=settings.ROOT, capture_output=True, text=True,
                          env={"PYTHONPATH": str(settings.ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "通过 PASSED" in proc.stdout and "content check passed" in proc.stdout


def test_an_unchanged_copy_passes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(project, capsys)
    assert code == 0, out


def test_a_planted_rude_response_fails_the_check(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plant(
        project,
        f'  utter_planted:\n    - text: "不说话没人把你当哑巴。如需人工服务请回复“人工”。"\n      metadata: {META}\n',
    )
    code, out = run(project, capsys)
    assert code == 1
    line = next(x for x in out.splitlines() if "utter_planted" in x and "公开事件" in x)
    assert line.startswith("错误 ERROR") and "forbidden phrase" in line
    planted = [x for x in out.splitlines() if "utter_planted" in x]
    assert any("insulting word" in x for x in planted) and any("address the citizen as 您" in x for x in planted)
    assert "未通过 FAILED" in out.splitlines()[-1]


CASES: list[tuple[str, str, str]] = [
    # (what is planted, the words the report must show for it, level)
    ('  utter_p:\n    - text: "你可以拨打12345咨询。"\n      metadata: ' + META + "\n", "address the citizen as 您", "error"),
    ('  utter_p:\n    - text: "这件事跟我们没关系。"\n      metadata: ' + META + "\n", "refusing without saying where", "error"),
    ('  utter_p:\n    - text: "您好，请稍候。"\n', "metadata owner is missing", "error"),
    ('  utter_p:\n    - text: "您好，请稍候。"\n      metadata: {owner: hotline, source: x, reviewed: "2024-01-05"}\n',
     "not reviewed for 12 months", "warning"),
    ('  utter_p:\n    - text: "您好，请稍候。"\n      metadata: {owner: hotline, source: x, reviewed: "去年"}\n', "reviewed must be a date", "error"),
    ('  utter_p:\n    - text: "请到{city_nowhere}办理。"\n      metadata: ' + META + "\n", "{city_nowhere} has no value", "error"),
    ('  utter_p:\n    - text: "您的编号是{order_no}。"\n      metadata: ' + META + "\n", "neither a city_* value nor a slot", "error"),
    ('  utter_p:\n    - text: "' + "您好" * 400 + '"\n      metadata: ' + META + "\n", "bytes with the city profile filled", "error"),
    ('  utter_p:\n    - text: ""\n      metadata: ' + META + "\n", "empty text", "error"),
    ('  utter_p:\n    - text: "感谢您的反馈。"\n      metadata: ' + META + "\n", "the same text under different names", "error"),
    ('  utter_p_fallback:\n    - text: "抱歉，这个问题暂时无法回答。"\n      metadata: ' + META + "\n", "without a next step", "error"),
    ('  utter_p:\n    - text: "抱歉，这个问题暂时无法回答。"\n      metadata: {owner: hotline, source: x, reviewed: "2026-11-26", kind: deflection}\n',
     "without a next step", "error"),
    ('  utter_faq/hotline_scope:\n    - text: "另一个答案：请拨打12345。"\n      metadata: ' + META + "\n", "defined in more than one file", "error"),
    ('  utter_faq/no_such_topic:\n    - text: "一个没有问题的答案，请拨打12345。"\n      metadata: ' + META + "\n", "without a faq topic", "warning"),
    ('  utter_p:\n    - text: "请留下您的身份证号码。"\n      metadata: ' + META + "\n", "without saying what it is for", "warning"),
    ('  utter_p:\n    - text: "请选择："\n      buttons:\n        - {title: "滚", payload: /deny}\n      metadata: ' + META + "\n",
     "button '滚'", "error"),
]  # fmt: skip


@pytest.mark.parametrize(("planted", "expected", "level"), CASES, ids=[c[1] for c in CASES])
def test_each_rule_catches_its_case(
    project: Path, capsys: pytest.CaptureFixture[str], planted: str, expected: str, level: str
) -> None:
    plant(project, planted)
    code, out = run(project, capsys)
    lines = [x for x in out.splitlines() if expected in x]
    assert lines, out
    assert lines[0].startswith("错误 ERROR" if level == "error" else "警告 WARNING")
    assert code == (1 if level == "error" else 0), out


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


EDITS: list[tuple[str, Callable[[Path], None], str]] = [
    ("a topic without its answer", lambda root: _edit(root / "data" / "topics.yml", "faq:\n", "faq:\n  new_topic: {title: 新问题, department: hotline}\n"),
     "faq/new_topic of topics.yml must have exactly one answer, has 0"),
    ("a deflection without its response", lambda root: _edit(root / "domain.yml", "  utter_abuse:", "  utter_abuse_old:"), "utter_abuse: 缺少必需的回复"),
    ("a phrase rule that no longer catches its example",
     lambda root: _edit(root / "data" / "forbidden_phrases.yml", 'pattern: "[哑啞]巴"', 'pattern: "啞巴"'), "does not catch its bad example"),
    ("a phrase rule that flags legitimate text",
     lambda root: _edit(root / "data" / "forbidden_phrases.yml", 'pattern: "(?<!迷)你(?!们)"', 'pattern: "你"'), "flags its ok example"),
    ("a broken phrase list", lambda root: _edit(root / "data" / "forbidden_phrases.yml", 'pattern: "[哑啞]巴"', 'pattern: "[哑啞巴"'), "cannot be read"),
    ("a report topic without kind and priority",
     lambda root: _edit(root / "data" / "topics.yml", "report:\n", "report:\n  report_parking: {title: 违章停车, department: traffic_police}\n"),
     "ticket routing: report_parking: files tickets but has no kind"),
    ("a report topic without priority",
     lambda root: _edit(root / "data" / "topics.yml", "department: transport, kind: complaint, priority: P2}", "department: transport, kind: complaint}"),
     "ticket routing: report_taxi: files tickets but has no priority"),
    ("an unknown kind", lambda root: _edit(root / "data" / "topics.yml", "kind: complaint, priority: P2}", "kind: complain, priority: P2}"),
     "ticket routing: report_consumer: kind “complain” is not one of consult, help, complaint, report, suggestion"),
    ("an unknown priority", lambda root: _edit(root / "data" / "topics.yml", "kind: help, priority: P0,", "kind: help, priority: P3,"),
     "ticket routing: self_harm: priority “P3” is not one of P0, P1, P2"),
    ("the handoff intent without routing",
     lambda root: _edit(root / "data" / "topics.yml", "request_human: {title: 要求人工服务, department: hotline, kind: consult, priority: P2}", "request_human: 要求人工服务"),
     "ticket routing: request_human: files tickets but has no kind"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "edit", "expected"), EDITS, ids=[e[0] for e in EDITS])
def test_broken_contract_or_list_fails(
    project: Path, capsys: pytest.CaptureFixture[str], what: str, edit: Callable[[Path], None], expected: str
) -> None:
    edit(project)
    code, out = run(project, capsys)
    assert code == 1 and expected in out, out


def test_two_answers_for_one_faq_topic_fail(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = project / "data" / "responses" / "faq_hotline.yml"
    text = f.read_text(encoding="utf-8")
    first = text.index("    - text:")
    metadata_end = text.index("\n", text.index("      metadata:", first)) + 1
    second = text[first:metadata_end].replace("您可以直接告诉我想办的事", "您也可以直接告诉我想办的事")
    f.write_text(text[:metadata_end] + second + text[metadata_end:], encoding="utf-8")
    code, out = run(project, capsys)
    assert code == 1 and "2 answers for one topic" in out, out


def test_sample_city_values_fail_only_in_production(project: Path) -> None:
    dev, _ = content_check.check(project, date(2026, 11, 26), production=False)
    prod, _ = content_check.check(project, date(2026, 11, 26), production=True)
    assert not [f for f in dev if "sample values" in f.en]
    assert [f for f in prod if f.level == "error" and "sample values" in f.en and "city_name" in f.en]
