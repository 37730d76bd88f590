"""Forwarding to the city's ticketing system (bot/core/forwarding.py) against a local stand-in
receiver on loopback that answers what each test scripts."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from bot.core import forwarding, tickets
from bot.infra import db


class Receiver:
    """Answers the scripted statuses in order (then 201); "slow" sleeps past the timeout."""

    def __init__(self) -> None:
        self.script: list[int | str] = []
        self.requests: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"headers": dict(self.headers), "body": json.loads(body)})
                answer = receiver.script.pop(0) if receiver.script else 201
                if answer == "slow":
                    time.sleep(2)
                    answer = 201
                self.send_response(int(answer))
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}' if int(answer) < 300 else b'{"error": "refused"}')

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/tickets"


@pytest.fixture()
def receiver(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    r = Receiver()
    monkeypatch.setenv("FORWARD_URL", r.url)
    monkeypatch.setenv("FORWARD_TOKEN", "city-secret")
    monkeypatch.setenv("FORWARD_TIMEOUT_S", "0.5")
    yield r
    r.server.shutdown()


def _ticket(key: str = "k") -> dict[str, Any]:
    t, _ = tickets.create(
        idempotency_key=key,
        channel="wechat",
        sender_id="o1",
        topic="report_noise",
        summary="噪音",
        contact="13912345678",
    )
    return t


def _outbox(ticket_id: str) -> db.OutboxItem:
    with db.session() as s:
        return s.execute(select(db.OutboxItem).where(db.OutboxItem.ticket_id == ticket_id)).scalar_one()


def _later(seconds: float = 7200) -> Any:
    return db.utcnow() + timedelta(seconds=seconds)


def test_a_new_ticket_is_posted_once_with_its_idempotency_key(receiver: Receiver) -> None:
    t = _ticket()
    assert forwarding.run_once() == 1
    assert forwarding.run_once(_later()) == 0  # delivered: never again
    [req] = receiver.requests
    assert req["headers"]["Idempotency-Key"] == t["id"]
    assert req["headers"]["Authorization"] == "Bearer city-secret"
    assert req["body"]["id"] == t["id"] and req["body"]["contact"] == "13912345678"
    assert forwarding.status(t["id"])["state"] == "delivered"


def test_5xx_and_timeouts_are_retried_with_growing_delays(receiver: Receiver) -> None:
    t = _ticket()
    receiver.script = [503, "slow", 502]
    forwarding.run_once(base_delay=1)
    first = _outbox(t["id"])
    assert (first.attempts, first.last_status, first.delivered_at) == (1, 503, None)
    assert forwarding.run_once() == 0  # not due yet: backoff
    forwarding.run_once(_later(), base_delay=1)
    second = _outbox(t["id"])
    assert second.attempts == 2 and second.last_error == "timeout"
    forwarding.run_once(_later(), base_delay=1)
    forwarding.run_once(_later(2 * 7200), base_delay=1)
    done = _outbox(t["id"])
    assert done.attempts == 4 and done.delivered_at is not None
    assert {r["headers"]["Idempotency-Key"] for r in receiver.requests} == {t["id"]}


def test_a_4xx_is_given_up_recorded_and_shown_to_agents(receiver: Receiver) -> None:
    t = _ticket()
    receiver.script = [422]
    forwarding.run_once()
    item = _outbox(t["id"])
    assert item.gave_up_at is not None and item.last_status == 422 and "refused" in item.last_error
    assert forwarding.run_once(_later()) == 0
    assert len(receiver.requests) == 1
    assert "转发至外部工单系统被拒绝" in tickets.get(t["id"])["notes"][-1]["text"]
    assert forwarding.status(t["id"])["state"] == "failed"


def test_a_receiver_that_is_down_keeps_the_ticket_waiting(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.stack.processes import free_port

    monkeypatch.setenv("FORWARD_URL", f"http://127.0.0.1:{free_port()}/x")
    t = _ticket()
    forwarding.run_once()
    item = _outbox(t["id"])
    assert item.attempts == 1 and item.delivered_at is None and item.gave_up_at is None
    assert item.last_error.startswith("connection error")


def test_two_workers_never_send_the_same_row_twice(receiver: Receiver) -> None:
    for i in range(6):
        _ticket(f"k{i}")
    results: list[int] = []
    workers = [threading.Thread(target=lambda: results.append(forwarding.run_once())) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sum(results) == 6
    assert sorted(r["headers"]["Idempotency-Key"] for r in receiver.requests) == sorted(
        t["id"] for t in tickets.query()
    )


def test_backoff_doubles_and_is_capped() -> None:
    delays = [forwarding.backoff(n, base=2, cap=60) for n in (1, 2, 3, 4, 10)]
    for got, expected in zip(delays, (2, 4, 8, 16, 60), strict=False):
        assert expected * 0.8 <= got <= expected * 1.2
