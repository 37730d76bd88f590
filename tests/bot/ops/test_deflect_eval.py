"""bot.ops.deflect_eval and `make eval`'s deflection figures on a `{text, kind}` set (issue 22),
checked on a small fixture with parses made by hand (the arithmetic, not the model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.ops import deflect_eval, eval_sets, evaluate
from bot.ops.eval_sets import DeflectKind

FIXTURE = Path(__file__).parent / "fixtures" / "deflect_messages.yml"
# what the fake model says for each fixture line, in order
PREDICTED = [
    "out_of_scope",
    "faq/hotline_scope",  # an FAQ for an out-of-scope message: counted as a wrong answer
    "private_matter",
    "report_consumer",  # a report form for a demand: counted as a wrong answer
    "abuse",
    "nlu_fallback",  # abuse answered with "rephrase"
    "suggestion",  # a suggestion's own answer is its ticket form
]


def _parse(label: str) -> dict[str, Any]:
    if label.startswith("faq/"):
        return {
            "intent": {"name": "faq", "confidence": 0.9},
            "response_selector": {"faq": {"response": {"intent_response_key": label, "confidence": 0.9}}},
        }
    return {"intent": {"name": label, "confidence": 0.9}}


def test_the_fixture_loads_as_typed_messages() -> None:
    messages = eval_sets.load_deflections(FIXTURE)
    assert len(messages) == 7
    assert {m.kind for m in messages} == set(DeflectKind)
    assert messages[0] == eval_sets.DeflectMessage("帮我把阳台的窗帘拉上", DeflectKind.OUT_OF_SCOPE)


def test_a_top_level_list_with_extra_fields_loads_and_an_unknown_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "messages.yml"
    path.write_text("- {text: 讲个笑话, kind: out_of_scope, writer: w2}\n", encoding="utf-8")
    assert eval_sets.load_deflections(path) == [eval_sets.DeflectMessage("讲个笑话", DeflectKind.OUT_OF_SCOPE)]
    path.write_text("- {text: 讲个笑话, kind: weather}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="weather"):
        eval_sets.load_deflections(path)


def test_recall_per_kind_and_the_faq_or_form_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fake_parse_all(model: str, texts: list[str]) -> list[dict[str, Any]]:
        assert len(texts) == len(PREDICTED)
        return [_parse(label) for label in PREDICTED]

    monkeypatch.setattr(evaluate, "_parse_all", fake_parse_all)
    f = evaluate.evaluate_deflections("model.tar.gz", FIXTURE)
    assert f["examples"] == 7
    assert {k: v["recall"] for k, v in f["kinds"].items()} == {
        "out_of_scope": 0.5,
        "private_matter": 1.0,
        "unreasonable_demand": 0.0,
        "abuse": 0.5,
        "suggestion": 1.0,
    }
    assert f["kinds"]["out_of_scope"]["answers"] == {"faq": 1, "own": 1}
    assert f["kinds"]["unreasonable_demand"]["answers"] == {"form": 1}
    # 2 of the 6 deflection messages (the suggestion is not one) got an FAQ or a form
    assert (f["faq_or_form"], f["faq_or_form_count"]) == (round(2 / 6, 4), 2)
    assert f["abuse_rephrase"] == 1
    missed = deflect_eval.verdicts(f)
    assert any("out_of_scope recall 50.0%" in m for m in missed)
    assert any("abuse answered with rephrase: 1" in m for m in missed)
    text = deflect_eval.markdown(f, str(FIXTURE))
    assert "| unreasonable_demand | 1 | 0.0% | form 1 |" in text
    assert "33.3% (2)" in text


def test_all_right_means_no_target_missed() -> None:
    messages = eval_sets.load_deflections(FIXTURE)
    kinds = {m.kind.value: "deflect" for m in messages}
    results = deflect_eval.outcomes(messages, [m.kind.value for m in messages], kinds)
    f = deflect_eval.figures(results)
    assert all(v["recall"] == 1.0 for v in f["kinds"].values())
    assert (f["faq_or_form"], f["abuse_rephrase"]) == (0.0, 0)
    assert deflect_eval.verdicts(f) == []


def test_make_eval_reads_the_deflection_set_where_the_colleagues_file_goes() -> None:
    assert eval_sets.DEFLECT_SET == eval_sets.EVAL_DIR / "deflect" / "messages.yml"
