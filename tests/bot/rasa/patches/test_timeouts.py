"""bot/rasa/patches/timeouts.py: Rasa's calls to the action server and its Redis tracker store time out."""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Iterator

import pytest

from bot.infra import settings
from bot.rasa import patches
from bot.rasa.patches import timeouts

CFG = dataclasses.replace(settings.Settings(), action_timeout_s=7.5)


@pytest.fixture()
def restore_rasa() -> Iterator[None]:
    import rasa.core.actions.action as remote_action
    import rasa.utils.endpoints as endpoints
    from rasa.core.tracker_store import RedisTrackerStore

    saved = (remote_action.DEFAULT_REQUEST_TIMEOUT, endpoints.DEFAULT_REQUEST_TIMEOUT, RedisTrackerStore.__init__)
    yield
    remote_action.DEFAULT_REQUEST_TIMEOUT, endpoints.DEFAULT_REQUEST_TIMEOUT, RedisTrackerStore.__init__ = saved


def test_calls_to_the_action_server_time_out_after_the_setting(restore_rasa: None) -> None:
    import rasa.core.actions.action as remote_action
    import rasa.utils.endpoints as endpoints

    assert remote_action.DEFAULT_REQUEST_TIMEOUT == 300  # Rasa's own: five minutes
    timeouts.install(CFG.action_timeout_s)
    assert remote_action.DEFAULT_REQUEST_TIMEOUT == 7.5
    assert endpoints.DEFAULT_REQUEST_TIMEOUT == 7.5


def test_a_hung_redis_fails_the_tracker_store_in_seconds_not_never(fresh_process: None) -> None:
    import redis
    from rasa.core.tracker_store import RedisTrackerStore

    patches.apply(CFG)
    patches.apply(CFG)  # idempotent: not wrapped twice
    with socket.socket() as hung:  # accepts connections, never answers
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        store = RedisTrackerStore(domain=None, host="127.0.0.1", port=hung.getsockname()[1])  # type: ignore[arg-type]
        started = time.monotonic()
        with pytest.raises(redis.exceptions.TimeoutError):
            store.red.get("hotline:tracker:x")
        assert time.monotonic() - started < timeouts.REDIS_TIMEOUT_S + 3


def test_what_apply_changed_is_put_back_by_undo(fresh_process: None) -> None:
    import rasa.core.actions.action as remote_action
    from rasa.core.tracker_store import RedisTrackerStore

    rasas_init = RedisTrackerStore.__init__
    patches.apply(CFG)
    assert RedisTrackerStore.__init__ is not rasas_init and remote_action.DEFAULT_REQUEST_TIMEOUT == 7.5
    patches.undo()
    assert RedisTrackerStore.__init__ is rasas_init and remote_action.DEFAULT_REQUEST_TIMEOUT == 300
    assert patches.applied() == {}
