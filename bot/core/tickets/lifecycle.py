"""A ticket's life, in one place: filed (new) → an agent claims it (claimed) → closed.

    new ──claim / first reply──▶ claimed ──close──▶ closed
     └──────────────close──────────────────────────▲

Who may do what in which status:
  - claim, reply: not on a closed ticket; on a claimed one only its agent (replying to a new
    ticket claims it);
  - close: not twice; a ticket claimed by another agent only with `overrule` (a supervisor);
  - take up again (a handoff, a phone call-back): only while the ticket is open.
The checks take the status and claimant, so that the store (records.py) applies them to the
row it is about to change, inside its transaction, and the desk to the ticket it has read.
"""

from __future__ import annotations

from bot.core.vocabulary import Status

# the moves the life cycle allows (claiming a ticket one already holds changes nothing)
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.CLAIMED, Status.CLOSED}),
    Status.CLAIMED: frozenset({Status.CLAIMED, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}


class TicketError(Exception):
    """A ticket operation that cannot be done (unknown id, wrong state, wrong value)."""


class NotFound(TicketError):
    pass


class Closed(TicketError):
    """The ticket is closed: nothing more happens on it."""


class ClaimedByOther(TicketError):
    def __init__(self, agent: str | None) -> None:
        super().__init__(f"ticket already claimed by {agent}")
        self.agent = agent or ""


def is_open(status: Status) -> bool:
    return status is not Status.CLOSED


def ensure_open(status: Status) -> None:
    """Taking a ticket up again (a handoff, a call-back) or talking on it."""
    if not is_open(status):
        raise Closed("ticket is closed")


def ensure_may_work_on(status: Status, claimed_by: str | None, agent: str) -> None:
    """Claiming or replying: the ticket is open, and nobody else holds it."""
    ensure_open(status)
    if status is Status.CLAIMED and claimed_by != agent:
        raise ClaimedByOther(claimed_by)


def ensure_may_close(status: Status, claimed_by: str | None, agent: str, *, overrule: bool = False) -> None:
    if Status.CLOSED not in TRANSITIONS[status]:
        raise Closed("ticket is already closed")
    if status is Status.CLAIMED and claimed_by != agent and not overrule:
        raise ClaimedByOther(claimed_by)


def claims(status: Status) -> bool:
    """Does working on a ticket in this status claim it (its first claim or reply)?"""
    return status is Status.NEW
