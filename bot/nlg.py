"""Rasa's templated NLG, plus the city profile: `{city_*}` placeholders filled from data/city.yml.

Configured in endpoints.yml (`nlg: type: bot.nlg.CityNLG`). Ops change an address in one file;
no retraining is needed because the profile is read when it changes.
"""

from __future__ import annotations

from typing import Any

from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot import city


class CityNLG(TemplatedNaturalLanguageGenerator):
    def __init__(self, endpoint_config: EndpointConfig | None = None, domain: Domain | None = None) -> None:
        super().__init__((domain or Domain.empty()).responses)

    async def generate(
        self,
        utter_action: str,
        tracker: DialogueStateTracker,
        output_channel: str,
        **kwargs: Any,
    ) -> dict[str, Any] | None:
        # unset slots would render as "None": give them an empty value instead
        filled = {k: ("" if v is None else v) for k, v in tracker.current_slot_values().items()}
        values = {**city.placeholders(), **kwargs}
        return self.generate_from_slots(utter_action, filled, output_channel, **values)
