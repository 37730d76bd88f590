"""The project's topics are the contract's: every name the spec lists exists, spelled the same."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.core import topics
from bot.core.vocabulary import Kind, Priority
from bot.infra import settings

SPEC = settings.ROOT.parent / "shared" / "spec" / "topics.yml"


def test_every_contract_section_is_loaded() -> None:
    cat = topics.load()
    assert len(cat.of_kind("faq")) == 43
    assert {t.intent for t in cat.of_kind("crisis")} == {"self_harm", "emergency", "child_welfare"}
    assert cat.get("faq/hpf_withdraw_rent").department == "housing_fund"
    assert cat.get("report_noise").department == "ecology_environment"
    assert cat.department_name("hrss") == "人力资源和社会保障局"


def test_ticket_routing_is_read_into_the_vocabularys_values(tmp_path: Path) -> None:
    cat = topics.load()
    utilities, crisis, handoff = cat.get("report_utilities"), cat.get("self_harm"), cat.get(topics.HANDOFF_INTENT)
    assert (utilities.ticket_kind, utilities.priority) == (Kind.HELP, Priority.P1)
    assert (crisis.ticket_kind, crisis.priority) == (Kind.HELP, Priority.P0)
    assert (handoff.ticket_kind, handoff.priority, handoff.title) == (Kind.CONSULT, Priority.P2, "要求人工服务")
    assert cat.problems == ()
    assert all(t.ticket_kind and t.priority for t in cat.topics.values() if t.files_tickets)
    # a wrong value never stops the bot: the topic routes as consult/P2 and the problem is listed
    broken = tmp_path / "topics.yml"
    broken.write_text(
        "report:\n  report_a: {title: 甲, department: hrss, kind: complain, priority: P1}\n"
        "  report_b: {title: 乙, department: hrss}\n",
        encoding="utf-8",
    )
    cat = topics.load(str(broken))
    assert (cat.get("report_a").ticket_kind, cat.get("report_a").priority) == (None, Priority.P1)
    assert [str(p) for p in cat.problems] == [
        "report_a: kind “complain” is not one of consult, help, complaint, report, suggestion",
        "report_b: files tickets but has no kind",
        "report_b: files tickets but has no priority",
    ]


@pytest.mark.skipif(not SPEC.exists(), reason="the shared spec is not beside this checkout")
def test_project_topics_keep_every_name_of_the_shared_spec() -> None:
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    ours = yaml.safe_load(Path(settings.DATA / "topics.yml").read_text(encoding="utf-8"))
    for section in ("departments", "faq", "report", "deflect", "crisis", "core"):
        missing = set(spec[section]) - set(ours[section])
        assert not missing, f"{section}: {missing}"
        for name, value in spec[section].items():
            if isinstance(value, dict) and "department" in value:
                assert ours[section][name]["department"] == value["department"], name


def test_every_contract_intent_is_in_the_domain_and_has_training_data() -> None:
    domain = yaml.safe_load((settings.ROOT / "domain.yml").read_text(encoding="utf-8"))
    examples: dict[str, int] = {}
    for f in (settings.DATA / "nlu").glob("*.yml"):
        for item in yaml.safe_load(f.read_text(encoding="utf-8")).get("nlu", []):
            if "intent" in item:
                examples[item["intent"]] = examples.get(item["intent"], 0) + item["examples"].count("\n- ") + 1
    for t in topics.load().topics.values():
        base = t.intent.split("/")[0]
        assert base in domain["intents"], t.intent
        assert examples.get(t.intent, 0) >= 5, f"{t.intent} has {examples.get(t.intent, 0)} examples"
