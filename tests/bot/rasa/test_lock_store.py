"""bot/rasa/lock_store.py on a real Redis: several processes (here: several store instances, each with
its own connection) share one queue per conversation without races, in order, and a dead
process's turn stops blocking its citizen within one lease."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest

from bot.rasa import lock_store
from bot.rasa.lock_store import AtomicRedisLockStore


@pytest.fixture()
def stores(redis_url: str) -> Iterator[list[AtomicRedisLockStore]]:
    u = urlparse(redis_url)
    made = [AtomicRedisLockStore(host=u.hostname, port=u.port, db=0, key_prefix="hotline") for _ in range(3)]
    yield made
    for s in made:
        s.red.close()


def test_built_by_rasa_from_endpoints_yml(redis_url: str) -> None:
    from rasa.core.lock_store import LockStore
    from rasa.utils.endpoints import EndpointConfig

    u = urlparse(redis_url)
    config = EndpointConfig(url=u.hostname, type="bot.rasa.lock_store.AtomicRedisLockStore", port=u.port, db=0,
                            password="", key_prefix="hotline")  # fmt: skip
    store = LockStore.create(config)
    assert isinstance(store, AtomicRedisLockStore)
    assert store.key_prefix == "hotline:lock:"
    first = store.issue_ticket("c1")
    # later tickets are larger (they start from the clock in ms, so not always first + 1)
    assert first < store.issue_ticket("c1") < store.issue_ticket("c1")


def test_tickets_issued_at_once_from_many_processes_are_all_different(stores: list[AtomicRedisLockStore]) -> None:
    numbers: list[int] = []
    per_store: dict[int, list[int]] = {}
    barrier = threading.Barrier(6)

    def issue(store: AtomicRedisLockStore) -> None:
        barrier.wait()
        for _ in range(40):
            n = store.issue_ticket("race")
            numbers.append(n)
            per_store.setdefault(threading.get_ident(), []).append(n)

    threads = [threading.Thread(target=issue, args=(stores[i % 3],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # read-modify-write (stock RedisLockStore) hands out the same number twice under this load
    assert len(set(numbers)) == 240
    assert all(ns == sorted(ns) for ns in per_store.values())  # and in the order they were asked for


def test_the_queue_is_rasas_own_format_and_expires_with_its_last_lease(stores: list[AtomicRedisLockStore]) -> None:
    store = stores[0]
    first, second = store.issue_ticket("fmt"), store.issue_ticket("fmt")
    lock = store.get_lock("fmt")  # Rasa's TicketLock.from_dict reads it
    assert lock is not None and [t.number for t in lock.tickets] == [first, second]
    assert lock.now_serving == first and lock.is_locked(second)
    assert 0 < store.red.pttl("hotline:lock:fmt") <= (lock_store.LEASE_S + 5) * 1000
    store.cleanup("fmt", first)
    assert [t.number for t in store.get_lock("fmt").tickets] == [second]  # type: ignore[union-attr]
    store.cleanup("fmt", second)
    assert store.red.exists("hotline:lock:fmt") == 0


async def test_turns_on_different_processes_run_one_at_a_time_in_arrival_order(
    stores: list[AtomicRedisLockStore],
) -> None:
    holding: list[int] = []
    peak = 0
    order: list[int] = []

    async def turn(i: int) -> None:
        nonlocal peak
        async with stores[i % 3].lock("citizen"):
            holding.append(i)
            peak = max(peak, len(holding))
            order.append(i)
            await asyncio.sleep(0.02)
            holding.remove(i)

    tasks = []
    for i in range(12):
        tasks.append(asyncio.create_task(turn(i)))
        await asyncio.sleep(0.005)  # messages arrive one after the other, each on the next process
    await asyncio.gather(*tasks)
    assert peak == 1
    assert order == list(range(12))
    assert stores[0].red.exists("hotline:lock:citizen") == 0


async def test_a_turn_longer_than_its_lease_keeps_the_lock(
    stores: list[AtomicRedisLockStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lock_store, "LEASE_S", 0.5)
    events: list[str] = []

    async def long_turn() -> None:
        async with stores[0].lock("long"):
            events.append("long starts")
            await asyncio.sleep(1.5)  # three leases
            events.append("long ends")

    async def next_message() -> None:
        await asyncio.sleep(0.1)
        async with stores[1].lock("long"):
            events.append("next starts")

    await asyncio.gather(long_turn(), next_message())
    assert events == ["long starts", "long ends", "next starts"]


async def test_a_dead_processs_turn_stops_blocking_within_one_lease(
    stores: list[AtomicRedisLockStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lock_store, "LEASE_S", 1.0)
    stores[0].issue_ticket("orphan", 1.0)  # a process took the turn and was killed: no renewal, no cleanup
    started = time.monotonic()
    async with stores[1].lock("orphan"):
        waited = time.monotonic() - started
    assert 0.8 <= waited < 2.0
    raw = stores[1].red.get("hotline:lock:orphan")
    assert raw is None or json.loads(raw)["tickets"] == []


async def test_a_waiting_turn_whose_loop_stalled_past_its_lease_is_queued_again_not_run_alongside(
    stores: list[AtomicRedisLockStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    # seen in CI: a model loaded on the event loop stalled it > 15 s and the waiting citizen got "busy"
    monkeypatch.setattr(lock_store, "LEASE_S", 0.5)
    running = stores[0].issue_ticket("stall", 30.0)  # another process's turn, alive, holds the lock
    events: list[str] = []

    async def next_message() -> None:
        async with stores[1].lock("stall"):
            events.append("next message")

    waiting = asyncio.ensure_future(next_message())
    await asyncio.sleep(0.1)  # queued behind the running turn
    time.sleep(1.2)
    # meanwhile a third message reached another process; its script dropped the lapsed ticket
    third = stores[2].issue_ticket("stall", 30.0)
    await asyncio.sleep(0.3)
    stores[0].cleanup("stall", running)
    await asyncio.sleep(0.5)
    assert events == []  # never alongside the third message's turn, which now holds the lock
    events.append("third message")
    stores[2].cleanup("stall", third)
    await asyncio.wait_for(waiting, 5)
    assert events == ["third message", "next message"]
    assert stores[0].red.exists("hotline:lock:stall") == 0


async def test_a_turn_with_nobody_ahead_starts_without_reading_the_queue_back(
    stores: list[AtomicRedisLockStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = stores[0]
    reads: list[str] = []
    original = AtomicRedisLockStore.get_lock

    def counted(self: AtomicRedisLockStore, conversation_id: str) -> object:
        reads.append(conversation_id)
        return original(self, conversation_id)

    monkeypatch.setattr(AtomicRedisLockStore, "get_lock", counted)
    async with store.lock("alone") as lock:
        assert not lock.is_locked(lock.tickets[0].number)
    assert reads == []  # one round trip to take the lock (issue), none to read it back
    assert store.get_lock("alone") is None  # and it was released
    # the failing twin: a ticket ahead (another process's turn) makes this one read and wait
    ahead = stores[1].issue_ticket("queued")
    later = asyncio.get_running_loop().call_later(0.2, stores[1].cleanup, "queued", ahead)
    started = time.monotonic()
    async with store.lock("queued"):
        waited = time.monotonic() - started
    later.cancel()
    assert "queued" in reads and waited >= 0.15
