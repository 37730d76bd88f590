"""The project's topics are the contract's: every name the spec lists exists, spelled the same."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.core import topics
from bot.infra import settings

SPEC = settings.ROOT.parent / "shared" / "spec" / "topics.yml"


def test_every_contract_section_is_loaded() -> None:
    cat = topics.load()
    assert len(cat.of_kind("faq")) == 43
    assert {t.intent for t in cat.of_kind("crisis")} == {"self_harm", "emergency", "child_welfare"}
    assert cat.get("faq/hpf_withdraw_rent").department == "housing_fund"
    assert cat.get("report_noise").department == "ecology_environment"
    assert cat.department_name("hrss") == "人力资源和社会保障局"


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
