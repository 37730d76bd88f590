"""The behaviour contract (data/topics.yml): intents, their section, their department, and for
the topics that file tickets the ticket's kind and priority.

A topic that files tickets (every report and crisis topic, and the handoff intent) says
`kind:` (咨询/求助/投诉/举报/建议 as Kind values) and `priority:` (P0/P1/P2) beside its
`department:`, so that ops adding a report topic also decide how it is routed. Loading never
fails on a wrong value: the topic then routes as consult/P2 (a live edit must not stop the
bot), and the mistake is in `Catalogue.problems`, which the content check
(bot/ops/content_check.py) turns into errors before anything ships.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.core.vocabulary import Kind, Priority
from bot.infra import settings

log = logging.getLogger(__name__)

KINDS = ("faq", "report", "deflect", "crisis", "core")
CRISIS_INTENTS = ("self_harm", "emergency", "child_welfare")
# the core intent whose ticket is the citizen's request for a person (actions/handoff.py)
HANDOFF_INTENT = "request_human"
# the sections whose every topic files a ticket
TICKET_SECTIONS = ("report", "crisis")


@dataclass(frozen=True)
class RoutingProblem:
    """A ticket-filing topic's `kind` or `priority` missing (value None) or not a known value."""

    intent: str
    key: str  # kind | priority
    value: str | None

    def __str__(self) -> str:
        if self.value is None:
            return f"{self.intent}: files tickets but has no {self.key}"
        enum = Kind if self.key == "kind" else Priority
        return f"{self.intent}: {self.key} “{self.value}” is not one of {', '.join(m.value for m in enum)}"


@dataclass(frozen=True)
class Topic:
    intent: str  # "faq/<id>" for FAQ topics, else the intent name
    kind: str  # the section of topics.yml: faq | report | deflect | crisis | core
    title: str
    department: str
    ticket_kind: Kind | None = None  # `kind:` in topics.yml: the kind of the tickets it files
    priority: Priority | None = None

    @property
    def files_tickets(self) -> bool:
        return self.kind in TICKET_SECTIONS or self.intent == HANDOFF_INTENT


@dataclass(frozen=True)
class Catalogue:
    departments: dict[str, str]
    topics: dict[str, Topic]
    problems: tuple[RoutingProblem, ...] = ()  # for the content check

    def get(self, intent: str) -> Topic | None:
        return self.topics.get(intent)

    def of_kind(self, kind: str) -> list[Topic]:
        return [t for t in self.topics.values() if t.kind == kind]

    def department_name(self, dept: str) -> str:
        return self.departments.get(dept, dept)


def _value(
    enum: type[Kind] | type[Priority], spec: dict[str, Any], key: str, intent: str, problems: list[RoutingProblem]
) -> Any:
    raw = spec.get(key)
    if raw is None:
        return None
    try:
        return enum(str(raw))
    except ValueError:
        problems.append(RoutingProblem(intent, key, str(raw)))
        return None


def _topic(section: str, name: str, spec: Any, problems: list[RoutingProblem]) -> Topic:
    intent = f"faq/{name}" if section == "faq" else name
    if not isinstance(spec, dict):  # core intents are `name: 描述`
        topic = Topic(intent=intent, kind=section, title=str(spec), department="hotline")
    else:
        topic = Topic(
            intent=intent,
            kind=section,
            title=str(spec.get("title", name)),
            department=str(spec.get("department", "hotline")),
            ticket_kind=_value(Kind, spec, "kind", intent, problems),
            priority=_value(Priority, spec, "priority", intent, problems),
        )
    if topic.files_tickets:
        for key in ("kind", "priority"):
            if not isinstance(spec, dict) or spec.get(key) is None:
                problems.append(RoutingProblem(intent, key, None))
    return topic


def _parse(raw: dict[str, Any]) -> Catalogue:
    departments = {str(k): str(v) for k, v in (raw.get("departments") or {}).items()}
    topics: dict[str, Topic] = {}
    problems: list[RoutingProblem] = []
    for section in KINDS:
        for name, spec in (raw.get(section) or {}).items():
            topic = _topic(section, str(name), spec, problems)
            topics[topic.intent] = topic
    for problem in problems:  # the topic still answers; its tickets route as consult/P2
        log.error("topics.yml: %s", problem)
    return Catalogue(departments=departments, topics=topics, problems=tuple(problems))


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> Catalogue:
    return _parse(yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {})


def load(path: str | None = None) -> Catalogue:
    """The catalogue, re-read when ops change the file."""
    p = Path(path or settings.load().topics_file)
    return _load(str(p), p.stat().st_mtime)
