"""bot.ops.crisis_eval: any crisis set, in either format, gives recall per kind and directness,
false alarms and check questions (the figures `make eval` prints)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.ops import crisis_eval


def test_a_yaml_set_and_a_txt_set_are_read_alike(tmp_path: Path) -> None:
    statements = tmp_path / "statements.yml"
    statements.write_text(
        "- {text: 我不想活了, kind: self_harm, directness: direct}\n- {text: 社保卡怎么补办, kind: none, directness: everyday}\n",
        encoding="utf-8",
    )
    everyday = tmp_path / "chat.txt"
    everyday.write_text("你好\n\n今天天气怎么样\n", encoding="utf-8")
    assert crisis_eval.read_set(statements) == [
        crisis_eval.Item("我不想活了", "self_harm", "direct", "statements.yml"),
        crisis_eval.Item("社保卡怎么补办", "none", "everyday", "statements.yml"),
    ]
    assert [i.text for i in crisis_eval.read_set(everyday)] == ["你好", "今天天气怎么样"]
    assert {i.kind for i in crisis_eval.read_set(everyday)} == {"none"}


def test_figures_count_recall_false_alarms_and_check_questions() -> None:
    items = [
        crisis_eval.Item("我不想活了", "self_harm", "direct", "s"),
        crisis_eval.Item("我不想再拖累家里人了", "self_harm", "indirect", "s"),
        crisis_eval.Item("社保卡怎么补办", "none", "everyday", "e"),
        crisis_eval.Item("救命，这个表怎么填", "none", "hard", "e"),
    ]
    f = crisis_eval.figures(items)
    assert f["recall"]["self_harm/direct"] == {"n": 1, "recall": 1.0, "as_crisis": 1.0}
    assert f["recall"]["self_harm/indirect"]["recall"] == 1.0  # the check question counts as caught
    assert f["recall"]["direct"] == {"n": 1, "recall": 1.0}
    assert f["none"]["all"] == {"n": 2, "false_alarm": 0.0, "check_rate": 0.0}
    assert f["missed"] == [] and f["false_alarms"] == []
    assert {"pattern": "(快|赶紧|帮我|马上|请)报警|救命|救救我(?!们)", "band": "clear", "count": 1} in f[
        "lexicon_on_none"
    ]
    assert "| direct | 1 | 100.0% |" in crisis_eval.markdown("s", f)


def test_the_default_sets_are_the_dev_set_and_eval_where_present(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(crisis_eval, "EVAL", tmp_path)
    assert crisis_eval.default_sets() == [crisis_eval.DEV]
    (tmp_path / "crisis").mkdir()
    (tmp_path / "crisis" / "statements.yml").write_text("[]\n", encoding="utf-8")
    (tmp_path / "everyday").mkdir()
    for name in ("b.txt", "a.txt", "notes.md"):
        (tmp_path / "everyday" / name).write_text("你好\n", encoding="utf-8")
    assert crisis_eval.default_sets() == [
        crisis_eval.DEV,
        tmp_path / "crisis" / "statements.yml",
        tmp_path / "everyday" / "a.txt",
        tmp_path / "everyday" / "b.txt",
    ]
