"""Rasa's outbound calls get the project's time limits.

Rasa 3.6 waits up to 5 minutes for the action server (a constant, not a setting) and gives its
Redis tracker store no socket timeout, so a hung action server or Redis would hold a citizen's
request that long. Here both get the project's limits before Rasa starts:
  - calls to endpoints (action server): ACTION_TIMEOUT_S;
  - the Redis tracker store: REDIS_TIMEOUT_S socket and connect timeouts (the lock
    store has its own, 10 s by default).
"""

from __future__ import annotations

from typing import Any

from bot.rasa.patches.wrapping import Replacement, replace

REDIS_TIMEOUT_S = 5.0


def install(action_timeout_s: float) -> list[Replacement]:
    import rasa.core.actions.action as remote_action
    import rasa.utils.endpoints as endpoints
    from rasa.core.tracker_store import RedisTrackerStore

    original = RedisTrackerStore.__init__

    def __init__(self: RedisTrackerStore, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        # connections are made lazily from these kwargs, so every one gets the timeouts
        self.red.connection_pool.connection_kwargs.update(
            socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )

    return [
        # read at call time by RemoteAction.run and EndpointConfig.session
        replace(remote_action, "DEFAULT_REQUEST_TIMEOUT", action_timeout_s),
        replace(endpoints, "DEFAULT_REQUEST_TIMEOUT", action_timeout_s),
        replace(RedisTrackerStore, "__init__", __init__),
    ]
