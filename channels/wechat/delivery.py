"""Each reply delivered exactly once: a message's record in Redis and the scripts that change it.

WeChat waits 5 s for an answer and retries (three deliveries within about 15 s), on any replica.
Every delivery registers in the message's record (`keys.wechat_msg`, shared by all replicas);
only the first starts a bot turn, the others wait for its reply. The record's `State` moves

    pending -> done -> answered | swept       a delivery answered passively (or a later one took it)
    pending -> push -> pushed                 the budget ran out: the customer-service API sends it
    pending -> queued -> outboxed             passive-only: it waits in the outbox
    answered -> pushed | silent               the reply went out another way, or there was none

only through the atomic Lua scripts in lua/ (one file each, loaded once here).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from bot.infra import keys, store

MSG_TTL_S = 15 * 60  # the record: longer than WeChat's retries and the replay window
KEEP_TTL_S = 48 * 3600  # an unanswered reply, the outbox: as long as WeChat lets us talk
SEEN_TTL_S = 7 * 24 * 3600

_LUA = Path(__file__).with_name("lua")


def _load(name: str) -> str:
    """A script as Redis runs it: without its comment header (which stays out of every EVAL)."""
    lines = (_LUA / f"{name}.lua").read_text(encoding="utf-8").splitlines(keepends=True)
    while lines and lines[0].startswith("--"):
        lines.pop(0)
    return "".join(lines)


BEGIN = _load("begin")
RENEW_TURN = _load("renew_turn")
TAKE_OVER = _load("take_over")
FINISH = _load("finish")
CLAIM = _load("claim")
GIVE_UP = _load("give_up")
DRAIN = _load("drain")


class State(str, Enum):
    """The `state` field of a message's record."""

    PENDING = "pending"  # its turn runs; deliveries wait for the reply
    DONE = "done"  # the turn finished; its reply waits for a delivery to take it
    ANSWERED = "answered"  # a delivery took the reply; its retries repeat what it answered
    SWEPT = "swept"  # a later message's passive reply carried it
    PUSH = "push"  # the budget ran out: the customer-service API sends it when the turn ends
    PUSHED = "pushed"  # sent (or being sent) through the customer-service API
    QUEUED = "queued"  # passive-only, out of retries: the reply goes to the outbox when the turn ends
    OUTBOXED = "outboxed"  # in the outbox, for the citizen's next message
    SILENT = "silent"  # the turn had nothing to say
    GAVE_UP = "gave_up"  # never stored: give_up.lua's answer when it handed the reply on (push/queued)


@dataclass
class Claim:
    state: State | None  # the record's state before the script; None: no record
    reply: list[str] | None  # the turn's texts, when this delivery may send them
    passive: str | None = None  # what an earlier delivery of the same message answered


def _claim_result(raw: list[Any]) -> Claim:
    state, reply, passive = [*raw, "", "", ""][:3]
    if state in (State.DONE, State.ANSWERED) and reply:
        return Claim(State(state), json.loads(reply), passive or None)
    return Claim(State(state) if state else None, None)


async def redis_call(fn: Callable[[Any], Awaitable[Any]]) -> Any:
    r = store.async_client()
    try:
        return await fn(r)
    finally:
        await r.close()


# ------------------------------------------------------------------------------------ the record
async def begin(key: str, lease_until: float, seen_openid: str | None) -> int:
    """Count this delivery (the first creates the record, its turn leased until `lease_until`) and
    note that `seen_openid` (when given) wrote now; the number of deliveries so far."""
    r = store.async_client()
    try:
        attempts = int(await r.eval(BEGIN, 1, key, MSG_TTL_S, lease_until))
        if seen_openid is not None:
            await r.set(keys.wechat_seen(seen_openid), str(time.time()), ex=SEEN_TTL_S)
    finally:
        await r.close()
    return attempts


async def renew_leases(keys_: list[str], now: float, until: float) -> None:
    """Renew the leases of these turns, in one round trip."""

    async def renew(r: Any) -> None:
        pipe = r.pipeline(transaction=False)
        for key in keys_:
            pipe.eval(RENEW_TURN, 1, key, now, until)
        await pipe.execute()

    await redis_call(renew)


async def take_over(key: str, now: float, until: float) -> bool:
    """Whether this process now runs the turn (its owner's lease had run out at `now`)."""
    return bool(int(await redis_call(lambda r: r.eval(TAKE_OVER, 1, key, now, until))))


async def finish(key: str, openid: str, texts: list[str]) -> State:
    """The turn is over with `texts`: where its reply goes (DONE: to a delivery, PUSH: through the
    API, QUEUED: to the outbox)."""
    outcome = await redis_call(
        lambda r: r.eval(
            FINISH,
            3,
            key,
            keys.wechat_outbox(openid),
            keys.wechat_recent(openid),
            json.dumps(texts, ensure_ascii=False),
            KEEP_TTL_S,
        )  # fmt: skip
    )
    return State(outcome)


async def claim(key: str, new_state: State) -> Claim:
    """Take the finished reply (ANSWERED: retries may repeat it; SWEPT: never repeated)."""
    raw = await redis_call(lambda r: r.eval(CLAIM, 1, key, new_state.value, MSG_TTL_S))
    return _claim_result(list(raw))


async def give_up(key: str, new_state: State) -> Claim:
    """The budget is spent: the reply goes to the API (PUSH) or the outbox (QUEUED), unless the
    turn finished meanwhile (then its reply is claimed)."""
    raw = await redis_call(lambda r: r.eval(GIVE_UP, 1, key, new_state.value, MSG_TTL_S))
    return _claim_result(list(raw))


async def mark_state(key: str, state: State) -> None:
    """Record that the message's reply went out another way (PUSHED) or that there was none (SILENT)."""
    await redis_call(lambda r: r.hset(key, mapping={"state": state.value}))


async def mark_passive(key: str, text: str) -> None:
    """Record what the message was answered passively, for its other deliveries to repeat."""
    await redis_call(lambda r: r.hset(key, mapping={"passive": text}))


async def answered_with(key: str) -> tuple[State | None, str | None]:
    """The record's state and what the delivery that took the reply answered passively (if it has)."""
    state, passive = await redis_call(lambda r: r.hmget(key, "state", "passive"))
    return (State(state) if state else None), (passive or None)


async def recent(openid: str) -> list[str]:
    """The records of the citizen's last finished turns, newest first."""
    return list(await redis_call(lambda r: r.lrange(keys.wechat_recent(openid), 0, -1)))


# ------------------------------------------------------------------------------------ the outbox
async def outbox_add(openid: str, messages: list[str], front: bool = False) -> None:
    if not messages:
        return

    async def run(r: Any) -> None:
        pipe = r.pipeline()
        if front:
            pipe.lpush(keys.wechat_outbox(openid), *reversed(messages))
        else:
            pipe.rpush(keys.wechat_outbox(openid), *messages)
        pipe.expire(keys.wechat_outbox(openid), KEEP_TTL_S)
        await pipe.execute()

    await redis_call(run)


async def outbox_drain(openid: str) -> list[str]:
    """Everything owed to the citizen, oldest first; the outbox is empty afterwards."""
    return list(await redis_call(lambda r: r.eval(DRAIN, 1, keys.wechat_outbox(openid))))


async def outbox_size(openid: str) -> int:
    return int(await redis_call(lambda r: r.llen(keys.wechat_outbox(openid))))
