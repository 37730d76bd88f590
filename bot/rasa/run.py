"""Rasa's command line with timeouts on its outbound calls: `python -m bot.rasa.run run ...`.

bot/ops/launch.py starts the Rasa server through here instead of the `rasa` script. Rasa 3.6 waits
up to 5 minutes for the action server (a constant, not a setting) and gives its Redis tracker
store no socket timeout, so a hung action server or Redis would hold a citizen's request that
long. Here both get the project's limits before Rasa starts:
  - calls to endpoints (action server): ACTION_TIMEOUT_S;
  - the Redis tracker store: REDIS_TIMEOUT_S socket and connect timeouts (the lock store has
    its own, 10 s by default).
It also adds `--auth-token` from RASA_AUTH_TOKEN (see `with_auth_token`).
"""

from __future__ import annotations

import sys
from typing import Any

from bot.infra import settings

REDIS_TIMEOUT_S = 5.0


def apply_timeouts(cfg: settings.Settings) -> None:
    import rasa.core.actions.action as remote_action
    import rasa.utils.endpoints as endpoints
    from rasa.core.tracker_store import RedisTrackerStore

    # read at call time by RemoteAction.run and EndpointConfig.session
    remote_action.DEFAULT_REQUEST_TIMEOUT = cfg.action_timeout_s  # type: ignore[attr-defined]
    endpoints.DEFAULT_REQUEST_TIMEOUT = cfg.action_timeout_s  # type: ignore[attr-defined]

    if getattr(RedisTrackerStore.__init__, "_with_timeouts", False):
        return
    original = RedisTrackerStore.__init__

    def __init__(self: RedisTrackerStore, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        # connections are made lazily from these kwargs, so every one gets the timeouts
        self.red.connection_pool.connection_kwargs.update(
            socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )

    __init__._with_timeouts = True  # type: ignore[attr-defined]
    RedisTrackerStore.__init__ = __init__  # type: ignore[method-assign]


def with_auth_token(argv: list[str], cfg: settings.Settings) -> list[str]:
    """`rasa run` arguments plus `--auth-token` from RASA_AUTH_TOKEN.

    Added here, inside the process, so that the token never appears on a command line that
    `ps` shows to every local user.
    """
    if cfg.rasa_auth_token and argv[:1] == ["run"] and "--auth-token" not in argv:
        return [*argv, "--auth-token", cfg.rasa_auth_token]
    return argv


def main() -> int:
    cfg = settings.load()
    apply_timeouts(cfg)
    from bot.rasa import tuning as rasa_tuning

    rasa_tuning.apply()  # what profiling under load found (docs/performance.md)
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *with_auth_token(sys.argv[1:], cfg)]
    rasa_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
