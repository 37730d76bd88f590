"""One turn at a time per citizen, across every Rasa process: Rasa's Redis lock store, made atomic
and leased (endpoints.yml: `lock_store: type: bot.rasa.lock_store.AtomicRedisLockStore`).

Rasa 3.6's `RedisLockStore` keeps a conversation's queue of tickets as one JSON value and changes
it by read-modify-write from each process. With several processes that is a race:
  - two messages of one citizen arriving at once on two processes can both read the same queue
    and both take ticket 0: both turns run at once and the later tracker save drops the other
    turn's events (a message lost);
  - a process finishing (`cleanup`) can delete the queue just after another process added its
    ticket: that turn fails with `LockError` (a message lost).
And a process that dies while holding a ticket (SIGKILL, OOM) blocks the citizen's next messages
until the ticket expires, 60 s later (TICKET_LOCK_LIFETIME).

Here every change of a queue is one Lua script, run atomically by Redis, on the same JSON as
Rasa's (`TicketLock.from_dict` reads it; stock processes can read it during an upgrade). Each
ticket is a lease of LEASE_S seconds that its process renews while it waits and while it holds
the lock, so a turn may take as long as it needs, and a dead process's tickets expire within
LEASE_S. A waiting turn looks again every POLL_S (Rasa looks once a second), so a citizen's
second message starts as soon as the first is done. The queue's key expires with its last lease:
no lock is left behind in Redis forever. A waiting turn whose own lease lapsed (its process's
event loop stalled longer than a lease) queues again at the back instead of failing the citizen's
message, and ticket numbers never repeat, so a lapsed ticket is never mistaken for another's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator
from typing import Any

from rasa.core.lock import Ticket, TicketLock
from rasa.core.lock_store import LockError, RedisLockStore

log = logging.getLogger(__name__)

LEASE_S = 15.0  # a dead process's turn blocks its citizen at most this long
POLL_S = 0.05

# KEYS[1] lock key; ARGV: now, lease seconds, conversation id -> {the new ticket's number, live
# tickets in the queue with it} (1: nobody ahead, the turn may start without reading the queue).
# Numbers never repeat: a number is above every number issued before (`last_issued`, kept in the
# JSON, which Rasa's reader ignores) and above the clock in ms (the queue's key may have gone).
# Reusing the number of a lapsed ticket would let two turns of one citizen run at once.
_ISSUE = """
local now, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
local kept, last = {}, math.floor(now * 1000) - 1
local raw = redis.call('GET', KEYS[1])
if raw then
  local lock = cjson.decode(raw)
  last = math.max(last, tonumber(lock['last_issued'] or -1))
  for _, t in ipairs(lock['tickets'] or {}) do
    local d = cjson.decode(t)
    last = math.max(last, d['number'])
    if d['expires'] >= now then table.insert(kept, t) end
  end
end
local number = last + 1
table.insert(kept, cjson.encode({number = number, expires = now + lease}))
redis.call('SET', KEYS[1], cjson.encode({conversation_id = ARGV[3], tickets = kept, last_issued = number}))
redis.call('PEXPIRE', KEYS[1], math.ceil((lease + 5) * 1000))
return {number, #kept}
"""
# ARGV: now, lease, number -> 1 when the ticket was still there (renewed), else 0
_RENEW = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local lock = cjson.decode(raw)
local now, lease, number = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local found, kept = 0, {}
for _, t in ipairs(lock['tickets'] or {}) do
  local d = cjson.decode(t)
  if d['number'] == number then
    d['expires'] = now + lease; found = 1
    table.insert(kept, cjson.encode(d))
  elseif d['expires'] >= now then
    table.insert(kept, t)
  end
end
if #kept == 0 then redis.call('DEL', KEYS[1]); return 0 end
lock['tickets'] = kept
redis.call('SET', KEYS[1], cjson.encode(lock))
redis.call('PEXPIRE', KEYS[1], math.ceil((lease + 5) * 1000))
return found
"""
# ARGV: now, number -> remaining tickets; the key goes when none is left
_FINISH = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local lock = cjson.decode(raw)
local now, number = tonumber(ARGV[1]), tonumber(ARGV[2])
local kept = {}
for _, t in ipairs(lock['tickets'] or {}) do
  local d = cjson.decode(t)
  if d['number'] ~= number and d['expires'] >= now then table.insert(kept, t) end
end
if #kept == 0 then redis.call('DEL', KEYS[1]); return 0 end
lock['tickets'] = kept
redis.call('SET', KEYS[1], cjson.encode(lock))
return #kept
"""


class AtomicRedisLockStore(RedisLockStore):
    """`RedisLockStore` whose ticket queue changes atomically, with renewed leases."""

    def __init__(self, endpoint_config: Any = None, **kwargs: Any) -> None:
        if endpoint_config is not None:  # how Rasa builds a lock store named by module path
            options = {**endpoint_config.kwargs, **kwargs}
            options.pop("type", None)
            super().__init__(host=endpoint_config.url or "localhost", **options)
        else:
            super().__init__(**kwargs)
        self._issue = self.red.register_script(_ISSUE)
        self._renew = self.red.register_script(_RENEW)
        self._finish = self.red.register_script(_FINISH)

    def _key(self, conversation_id: str) -> str:
        return self.key_prefix + conversation_id

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LEASE_S) -> int:
        return self._issue_counting(conversation_id, lock_lifetime)[0]

    def _issue_counting(self, conversation_id: str, lease: float = LEASE_S) -> tuple[int, int]:
        """A new ticket's number and how many live tickets the queue holds with it."""
        try:
            number, queued = self._issue(keys=[self._key(conversation_id)], args=[time.time(), lease, conversation_id])
        except Exception as e:
            raise LockError(f"Error while acquiring lock. Error:\n{e}") from e
        return int(number), int(queued)

    def renew(self, conversation_id: str, ticket: int, lease: float = LEASE_S) -> bool:
        return bool(self._renew(keys=[self._key(conversation_id)], args=[time.time(), lease, ticket]))

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        self._finish(keys=[self._key(conversation_id)], args=[time.time(), ticket_number])

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        self.cleanup(conversation_id, ticket_number)

    def update_lock(self, conversation_id: str) -> None:
        """Expired tickets are skipped when read and dropped by every script: nothing to write."""

    @contextlib.asynccontextmanager
    async def lock(
        self, conversation_id: str, lock_lifetime: float = LEASE_S, wait_time_in_seconds: float = POLL_S
    ) -> AsyncGenerator[TicketLock, None]:
        # Rasa passes its own 60 s lifetime and 1 s wait: leases and a short poll replace both
        number, queued = self._issue_counting(conversation_id, LEASE_S)
        ticket = [number]  # the keep-alive renews whichever is current
        renewal = asyncio.ensure_future(self._keep_alive(conversation_id, ticket))
        try:
            if queued == 1:  # nobody ahead (the usual case): the turn starts without reading the queue back
                yield TicketLock(conversation_id, deque([Ticket(number, time.time() + LEASE_S)]))
            else:
                yield await self._wait_for_turn(conversation_id, ticket)
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal
            try:
                self.cleanup(conversation_id, ticket[0])
            except Exception:  # Redis away: the lease expires by itself
                log.warning("could not release the lock of a conversation; its lease expires in %.0f s", LEASE_S)

    async def _keep_alive(self, conversation_id: str, ticket: list[int]) -> None:
        while True:
            await asyncio.sleep(LEASE_S / 5)  # four renewals may fail before the lease runs out
            try:
                if not self.renew(conversation_id, ticket[0]):
                    log.warning("the lock lease of a conversation lapsed (the event loop stalled > %.0f s?)", LEASE_S)
            except Exception:
                log.warning("could not renew a conversation's lock lease (Redis unavailable)")

    async def _wait_for_turn(self, conversation_id: str, ticket: list[int]) -> TicketLock:
        delay = POLL_S
        while True:
            lock = self.get_lock(conversation_id)
            if lock is None or ticket[0] not in [t.number for t in lock.tickets]:
                # Our lease lapsed while we waited: this process's event loop stalled longer than a
                # lease (a CPU-starved machine; a dead process does not get here). Dropping the
                # citizen's message for that would be worse than queueing it again at the back.
                log.warning("a waiting turn's lock lease lapsed (event loop stalled?): queued again")
                ticket[0] = self.issue_ticket(conversation_id, LEASE_S)
                continue
            if not lock.is_locked(ticket[0]):
                return lock
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.25)  # a long turn ahead: look less often
