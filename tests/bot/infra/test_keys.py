"""Redis names (bot/infra/keys.py): byte for byte what earlier versions wrote, because a Redis
outlives an upgrade and processes of two versions share it during a rolling restart."""

from __future__ import annotations

import yaml

from bot.infra import keys, settings


def test_every_key_is_spelled_as_before() -> None:
    assert keys.handoff("c-1") == "handoff:c-1"
    assert keys.HANDOFFS == "handoff:*"
    assert keys.rate("c-1", 29612345) == "rate:c-1:29612345"
    assert keys.DESK_EVENTS == "desk:events"
    assert keys.desk_session("abc") == "desk:session:abc"
    assert keys.desk_login_failures("u", "wang") == "desk:loginfail:u:wang"
    assert keys.desk_login_failures("a", "10.0.0.7") == "desk:loginfail:a:10.0.0.7"
    assert keys.rest_outbox("c-1") == "outbox:rest:c-1"
    assert keys.SOCKETIO_CHANNEL == "hotline:socketio"
    assert keys.webchat_history("f" * 32) == "webchat:history:" + "f" * 32
    assert keys.webchat_seen("s1", "m1") == "webchat:seen:s1:m1"
    assert keys.telegram_callback("cb:0123") == "telegram:cb:0123"
    assert keys.telegram_update("123456", 42) == "telegram:update:123456:42"
    assert keys.TRACKER_PREFIX == "hotline:tracker:" and keys.TRACKERS == "hotline:tracker:*"
    assert keys.LOCK_PREFIX == "hotline:lock:"


def test_rasa_stores_use_the_prefix_of_endpoints_yml() -> None:
    endpoints = yaml.safe_load((settings.ROOT / "endpoints.yml").read_text(encoding="utf-8"))
    assert endpoints["tracker_store"]["key_prefix"] == keys.RASA_KEY_PREFIX
    assert endpoints["lock_store"]["key_prefix"] == keys.RASA_KEY_PREFIX

    from rasa.core.lock_store import RedisLockStore
    from rasa.core.tracker_store import RedisTrackerStore
    from rasa.shared.core.domain import Domain

    # the clients connect on first use: no Redis needed to read the prefixes Rasa builds
    assert RedisLockStore(key_prefix=keys.RASA_KEY_PREFIX).key_prefix == keys.LOCK_PREFIX
    tracker_store = RedisTrackerStore(Domain.empty(), key_prefix=keys.RASA_KEY_PREFIX)
    assert tracker_store.key_prefix == keys.TRACKER_PREFIX
