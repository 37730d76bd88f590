"""bot/rasa/nlg.py: replies filled from the slots and the city profile, buttons' payloads as written."""

from __future__ import annotations

import asyncio
import logging

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker

from bot.core import city
from bot.infra import settings
from bot.rasa.nlg import CityNLG


@pytest.fixture
def failures(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What Rasa's interpolator reports as failed (it logs them through structlog, with a traceback)."""
    from rasa.core.nlg import interpolator

    seen: list[str] = []

    class Recorder:
        def exception(self, event: str, **kw: object) -> None:
            seen.append(f"{event}: {kw.get('response')}")

    monkeypatch.setattr(interpolator, "structlogger", Recorder())
    return seen


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load([str(settings.ROOT / "domain.yml"), str(settings.ROOT / "data" / "responses")])


def _generate(domain: Domain, action: str, *events: SlotSet) -> dict:
    tracker = DialogueStateTracker.from_events("nlg", list(events), domain.slots)
    out = asyncio.run(CityNLG(domain=domain).generate(action, tracker, "rest"))
    assert out is not None
    return out


def test_buttons_keep_their_payloads_and_nothing_is_logged_as_an_error(
    domain: Domain, caplog: pytest.LogCaptureFixture, failures: list[str]
) -> None:
    with caplog.at_level(logging.WARNING):
        out = _generate(domain, "utter_ask_helpful")
    assert out["text"] == "以上解答对您有帮助吗？"
    assert [(b["title"], b["payload"]) for b in out["buttons"]] == [
        ("有帮助", '/feedback{"helpful": "yes"}'),
        ("没帮助", '/feedback{"helpful": "no"}'),
    ]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert failures == []


def test_a_reply_with_buttons_still_gets_its_slots_filled(
    domain: Domain, caplog: pytest.LogCaptureFixture, failures: list[str]
) -> None:
    with caplog.at_level(logging.WARNING):
        out = _generate(domain, "utter_ask_satisfaction", SlotSet("ticket_id", "20261202-000042"))
    assert out["text"] == "请您对本次服务进行评价（工单 20261202-000042）："
    assert out["buttons"][0] == {"title": "满意", "payload": '/rate_service{"satisfaction": "满意"}'}
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert failures == []


def test_city_placeholders_are_filled_from_the_profile(domain: Domain) -> None:
    faq = next(k for k, v in domain.responses.items() if "{city_gov_app}" in v[0].get("text", ""))
    out = _generate(domain, faq)
    assert "{city_" not in out["text"]
    assert city.placeholders()["city_gov_app"] in out["text"]
