"""A model shipped to a running server (`PUT /model`, `make ship`) is loaded in a worker thread.

Rasa 3.6 loads it on the event loop: every conversation of the process froze for as long as the
loading took (seconds; more than 15 on a busy CI machine). WeChat's 5 s deadline passed for every
callback in flight, and turns waiting for their citizen's lock saw their lease lapse and answered
"busy" (tests/bot/ops/test_ship.py caught it in CI). Turns keep running on the old model until the
new one is ready; then the server swaps agents exactly as Rasa does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import warnings
from typing import Any

from bot.rasa.patches.wrapping import Replacement, replace

log = logging.getLogger(__name__)


def install() -> list[Replacement]:
    import rasa.core.agent
    import rasa.server
    from rasa.server import ErrorResponse

    original = rasa.server._load_agent

    async def _load_agent(
        model_path: str | None = None,
        model_server: Any = None,
        remote_storage: str | None = None,
        endpoints: Any = None,
    ) -> Any:
        from_disk = (
            model_path is not None
            and model_server is None
            and remote_storage is None
            and not (endpoints and endpoints.model)
            and os.path.exists(model_path)
        )
        if not from_disk:  # a model server or remote storage: Rasa's own way
            return await original(model_path, model_server, remote_storage, endpoints)
        try:
            # stores, NLG and action endpoint as Rasa builds them; the model itself off the loop
            with warnings.catch_warnings():  # "Agent loaded with no model!": it is loaded next
                warnings.simplefilter("ignore", UserWarning)
                agent = await rasa.core.agent.load_agent(endpoints=endpoints)
            await asyncio.to_thread(agent.load_model, model_path)
        except Exception as e:  # Rasa's answer for a model that cannot be loaded
            log.exception("could not load the model %s", model_path)
            raise ErrorResponse(500, "LoadingError", f"An unexpected error occurred. Error: {e}") from e
        if not agent.is_ready():
            raise ErrorResponse(400, "BadRequest", f"Agent with name '{model_path}' could not be loaded.")
        return agent

    return [replace(rasa.server, "_load_agent", _load_agent)]
