"""The behaviour contract (data/topics.yml): intents, their kind and their department."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from bot.infra import settings

KINDS = ("faq", "report", "deflect", "crisis", "core")
CRISIS_INTENTS = ("self_harm", "emergency", "child_welfare")


@dataclass(frozen=True)
class Topic:
    intent: str  # "faq/<id>" for FAQ topics, else the intent name
    kind: str
    title: str
    department: str


@dataclass(frozen=True)
class Catalogue:
    departments: dict[str, str]
    topics: dict[str, Topic]

    def get(self, intent: str) -> Topic | None:
        return self.topics.get(intent)

    def of_kind(self, kind: str) -> list[Topic]:
        return [t for t in self.topics.values() if t.kind == kind]

    def department_name(self, dept: str) -> str:
        return self.departments.get(dept, dept)


def _parse(raw: dict) -> Catalogue:
    departments = {str(k): str(v) for k, v in (raw.get("departments") or {}).items()}
    topics: dict[str, Topic] = {}
    for kind in KINDS:
        for name, spec in (raw.get(kind) or {}).items():
            if isinstance(spec, dict):
                title = str(spec.get("title", name))
                dept = str(spec.get("department", "hotline"))
            else:  # core intents are `name: 描述`
                title, dept = str(spec), "hotline"
            intent = f"faq/{name}" if kind == "faq" else str(name)
            topics[intent] = Topic(intent=intent, kind=kind, title=title, department=dept)
    return Catalogue(departments=departments, topics=topics)


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> Catalogue:
    return _parse(yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {})


def load(path: str | None = None) -> Catalogue:
    """The catalogue, re-read when ops change the file."""
    p = Path(path or settings.load().topics_file)
    return _load(str(p), p.stat().st_mtime)
