"""Learning from traffic (bot/ops/learn.py): unclear messages, grouped, labelled, back as examples."""

from __future__ import annotations

import csv
import shutil
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import yaml
from openpyxl import load_workbook

from bot.infra import db, settings
from bot.ops import learn

AT = datetime(2026, 11, 20, 6, 0, tzinfo=timezone.utc)  # 14:00 in the city


def inbound(text: str, intent: str | None, confidence: float | None, at: datetime = AT, **extra: str) -> None:
    with db.session() as s:
        s.add(
            db.InboundRecord(
                at=at, channel="rest", sender_id="c1", text=text, intent=intent, confidence=confidence, **extra
            )
        )


@pytest.fixture()
def traffic(db_url: str) -> str:
    for text in ["我家门口的共享单车乱停放", "共享单车乱停没人管", "小区门口共享单车堆满了", "共享单车停在盲道上"]:
        inbound(text, "nlu_fallback", 0.41)
    inbound("共享单车乱停没人管", "nlu_fallback", 0.38)  # the same words again: one row, counted twice
    for text in ["今年退休金涨了多少", "养老金今年涨多少", "养老金涨了吗"]:
        inbound(text, "faq/retirement_procedure", 0.62)
    inbound("明天天气怎么样", "out_of_scope", 0.5)
    inbound("我电话13812345678 共享单车占道", "nlu_fallback", 0.3)  # recorded unmasked by mistake
    # not candidates:
    inbound("社保卡丢了怎么办", "faq/shebao_card_replace", 0.97)  # sure and answered
    inbound("公积金怎么提", "nlu_fallback", 0.2, at=datetime(2026, 10, 1, tzinfo=timezone.utc))  # outside the period
    inbound("我不想活了", "nlu_fallback", 0.2, crisis="self_harm")  # the crisis screen handled it
    inbound("人工客服在吗", None, None)  # never reached the model (handoff, rate limit)
    inbound("我还在等回复", "nlu_fallback", 0.1, handled_by="agent")  # an agent's conversation
    return db_url


def test_only_unclear_messages_of_the_period_answered_by_the_bot_are_candidates(traffic: str) -> None:
    items = learn.candidates(date(2026, 11, 1), date(2026, 11, 30))
    texts = {c.text: c for c in items}
    assert set(texts) == {
        "我家门口的共享单车乱停放", "共享单车乱停没人管", "小区门口共享单车堆满了", "共享单车停在盲道上",
        "今年退休金涨了多少", "养老金今年涨多少", "养老金涨了吗", "明天天气怎么样", "我电话138****5678 共享单车占道",
    }  # fmt: skip
    assert texts["共享单车乱停没人管"].count == 2 and texts["共享单车乱停没人管"].confidence == pytest.approx(0.395)
    assert texts["养老金涨了吗"].predicted == "faq/retirement_procedure"
    assert texts["明天天气怎么样"].first_seen.utcoffset().total_seconds() == 8 * 3600  # city time
    # a stricter threshold drops the answered-but-unsure ones
    strict = {c.text for c in learn.candidates(date(2026, 11, 1), date(2026, 11, 30), threshold=0.45)}
    assert "养老金涨了吗" not in strict and "明天天气怎么样" not in strict and "共享单车乱停没人管" in strict


def test_the_period_is_whole_days_in_the_city_time_zone(db_url: str) -> None:
    inbound(
        "夜里的问题", "nlu_fallback", 0.1, at=datetime(2026, 11, 30, 17, 0, tzinfo=timezone.utc)
    )  # 12-01 01:00 city
    inbound(
        "早上的问题", "nlu_fallback", 0.1, at=datetime(2026, 11, 30, 15, 30, tzinfo=timezone.utc)
    )  # 11-30 23:30 city
    assert [c.text for c in learn.candidates(date(2026, 11, 30), date(2026, 11, 30))] == ["早上的问题"]


def test_similar_wordings_are_grouped_biggest_group_first(traffic: str) -> None:
    items = learn.cluster(learn.candidates(date(2026, 11, 1), date(2026, 11, 30)))
    group = {c.text: c.cluster for c in items}
    bikes = {
        group[t]
        for t in ["我家门口的共享单车乱停放", "共享单车乱停没人管", "小区门口共享单车堆满了", "共享单车停在盲道上"]
    }
    pensions = {group[t] for t in ["今年退休金涨了多少", "养老金今年涨多少"]}
    assert len(bikes) == 1 and len(pensions) == 1 and bikes != pensions
    assert group["明天天气怎么样"] not in bikes | pensions
    assert bikes == {1}  # the most messages: ops label it first
    first = [c for c in items if c.cluster == 1]
    assert first[0].text == "共享单车乱停没人管" and first[0].cluster_size == sum(c.count for c in first)
    assert [c.cluster for c in items] == sorted(c.cluster for c in items)


def test_the_files_for_ops_have_the_predicted_intent_and_an_empty_column_to_fill(traffic: str, tmp_path: Path) -> None:
    assert learn.main(["--from", "2026-11-01", "--to", "2026-11-30", "--out", str(tmp_path)]) == 0
    ws = load_workbook(tmp_path / "candidates.xlsx")["候选 candidates"]
    header = [c.value for c in ws[1]]
    assert header[2] == "消息（已脱敏） text" and header[7] == "正确意图（请填写） correct_intent"
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=2)]
    assert len(rows) == 9
    pension = next(r for r in rows if r[2] == "养老金涨了吗")
    assert pension[4] == "faq/retirement_procedure" and pension[5] == "退休手续办理" and pension[7] is None
    assert not any("13812345678" in str(r[2]) for r in rows)
    assert ws.data_validations.dataValidation, "the intent column offers the list of intents"
    with (tmp_path / "candidates.csv").open(encoding="utf-8-sig") as f:
        csv_rows = list(csv.reader(f))
    assert [r[2] for r in csv_rows[1:]] == [r[2] for r in rows]


def test_no_candidates_still_gives_files_with_headers(db_url: str, tmp_path: Path) -> None:
    assert learn.write(learn.cluster(learn.candidates(date(2026, 1, 1), date(2026, 1, 2))), tmp_path)
    assert len(load_workbook(tmp_path / "candidates.xlsx").worksheets[0]["A"]) == 1


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(settings.ROOT / "data", root / "data")
    shutil.copy(settings.ROOT / "domain.yml", root / "domain.yml")
    return root


def _examples(root: Path, rel: str, intent: str) -> list[str]:
    data = yaml.safe_load((root / rel).read_text(encoding="utf-8"))
    item = next(i for i in data["nlu"] if i.get("intent") == intent)
    return [line[2:].strip() for line in item["examples"].splitlines()]


def test_labelled_candidates_become_examples_of_the_right_intents(traffic: str, tmp_path: Path, project: Path) -> None:
    learn.write(learn.cluster(learn.candidates(date(2026, 11, 1), date(2026, 11, 30))), tmp_path)
    wb = load_workbook(tmp_path / "candidates.xlsx")
    ws = wb["候选 candidates"]
    for r in ws.iter_rows(min_row=2):
        if "共享单车" in r[2].value and "盲道" not in r[2].value:
            r[7].value = "report_street_vending"
        elif r[2].value == "养老金涨了吗":
            r[7].value = "faq/pension_contribution"
        elif r[2].value == "明天天气怎么样":
            r[7].value = "忽略"
    wb.save(tmp_path / "candidates.xlsx")

    result = learn.apply(tmp_path / "candidates.xlsx", project)
    assert result.ok, [p.line() for p in result.problems]
    street = _examples(project, "data/nlu/reports.yml", "report_street_vending")
    assert {
        "我家门口的共享单车乱停放",
        "共享单车乱停没人管",
        "小区门口共享单车堆满了",
        "我电话138****5678 共享单车占道",
    } <= set(street)
    assert "共享单车停在盲道上" not in street
    assert "养老金涨了吗" in _examples(project, "data/nlu/faq_hrss.yml", "faq/pension_contribution")
    assert "明天天气怎么样" not in _examples(project, "data/nlu/deflect.yml", "out_of_scope")
    # applying the same file again adds nothing
    assert learn.apply(tmp_path / "candidates.xlsx", project).changes == []


def test_a_label_that_conflicts_with_an_existing_example_is_refused(db_url: str, tmp_path: Path, project: Path) -> None:
    inbound("公积金余额怎么查", "nlu_fallback", 0.3)  # already an example of faq/hpf_balance_query
    learn.write(learn.cluster(learn.candidates(date(2026, 11, 1), date(2026, 11, 30))), tmp_path)
    wb = load_workbook(tmp_path / "candidates.xlsx")
    wb["候选 candidates"]["H2"] = "faq/hpf_loan"
    wb.save(tmp_path / "candidates.xlsx")
    before = (project / "data/nlu/faq_housing_fund.yml").read_bytes()
    result = learn.apply(tmp_path / "candidates.xlsx", project)
    assert not result.ok
    assert any("同时出现在 faq/hpf_balance_query" in p.zh for p in result.problems)
    assert (project / "data/nlu/faq_housing_fund.yml").read_bytes() == before


def test_a_database_without_records_is_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")  # never migrated: no tables
    assert learn.main(["--out", str(tmp_path)]) == 1
    assert "读不到来信记录" in capsys.readouterr().out
    assert not (tmp_path / "candidates.xlsx").exists()
