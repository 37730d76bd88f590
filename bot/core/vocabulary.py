"""The one vocabulary of ticket values and their Chinese names.

The desk, the supervision report, its CSV and the bot's status answers all show these labels,
so a ticket the desk calls 待认领 is 待认领 in the report too. The values are the contract's
(../shared/spec/CONTRACT.md) and are what the API and the database hold; the enums are `str`
subclasses so that a value read from JSON or SQL compares equal to its member.
"""

from __future__ import annotations

from enum import Enum


class _Value(str, Enum):
    """A value of the contract: prints and formats as its value ("closed", not "Status.CLOSED")."""

    def __str__(self) -> str:
        return str(self.value)


class Status(_Value):
    """A ticket's life: filed → an agent claims it → closed (new → claimed → closed)."""

    NEW = "new"
    CLAIMED = "claimed"
    CLOSED = "closed"


class Kind(_Value):
    """The kind of request, as 12345 classifies them."""

    CONSULT = "consult"
    HELP = "help"
    COMPLAINT = "complaint"
    REPORT = "report"
    SUGGESTION = "suggestion"


class Priority(_Value):
    """P0 is a crisis (someone may be in danger now), P1 urgent, P2 normal; P0 sorts first."""

    P0 = "P0"
    P1 = "P1"
    P2 = "P2"

    @property
    def rank(self) -> int:
        """0 for the most urgent."""
        return int(self.value[1:])


class Channel(_Value):
    """Where a citizen writes from; an agent's reply goes back the same way."""

    REST = "rest"
    SOCKETIO = "socketio"
    WECHAT = "wechat"
    TELEGRAM = "telegram"


STATUS_LABELS: dict[str, str] = {Status.NEW: "待认领", Status.CLAIMED: "办理中", Status.CLOSED: "已办结"}
KIND_LABELS: dict[str, str] = {
    Kind.CONSULT: "咨询",
    Kind.HELP: "求助",
    Kind.COMPLAINT: "投诉",
    Kind.REPORT: "举报",
    Kind.SUGGESTION: "建议",
}
PRIORITY_LABELS: dict[str, str] = {Priority.P0: "P0 危机", Priority.P1: "P1 紧急", Priority.P2: "P2 一般"}
CHANNEL_LABELS: dict[str, str] = {
    Channel.REST: "网页接口",
    Channel.SOCKETIO: "网页聊天",
    Channel.WECHAT: "微信公众号",
    Channel.TELEGRAM: "Telegram",
}
SPEAKER_LABELS: dict[str, str] = {"citizen": "市民", "bot": "智能客服", "agent": "坐席"}


def labels() -> dict[str, dict[str, str]]:
    """Every label table by name, as the desk's JSON API hands them to the console."""
    return {
        "status": {str(k): v for k, v in STATUS_LABELS.items()},
        "kind": {str(k): v for k, v in KIND_LABELS.items()},
        "priority": {str(k): v for k, v in PRIORITY_LABELS.items()},
        "channel": {str(k): v for k, v in CHANNEL_LABELS.items()},
        "from": dict(SPEAKER_LABELS),
    }
