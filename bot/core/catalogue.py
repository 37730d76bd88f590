"""The approved response catalogue: domain.yml responses plus data/responses/*.yml.

One loader for everything that renders or checks a citizen-facing text: the NLG (fills
`{city_*}` from the city profile), the channels (their own texts, e.g. the welcome on
subscribe, are catalogue responses too), the output guard (is this text approved?), the content
check and the desk's canned replies.

Matching: each variation compiles to a pattern in which city placeholders are their literal
values and every other placeholder is a bounded slot value. A text is approved when it is an
instance of one of those patterns; `match_detail` also says which parts came from slots, so
the guard can tell the approved wording from what the citizen wrote (echoed back in a
confirmation) and from what the system filled in (ticket number, status).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.core import city
from bot.infra import settings

PLACEHOLDER = re.compile(r"\{([^\n{}]+?)\}")
# What a slot value may look like inside an approved text: any characters (a citizen's
# description may hold line breaks, braces, HTML) except an unfilled placeholder such as
# "{report_what}" (Rasa leaves the template raw when interpolation fails), and bounded so that a
# template cannot approve an arbitrarily long message.
SLOT_VALUE = r"(?P<{group}>(?:(?!\{{[A-Za-z_][\w/.-]*\}}).){{0,{max}}})"


@dataclass
class Response:
    name: str
    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    source_file: str = ""


@dataclass(frozen=True)
class Matched:
    """An approved text taken apart: which response, and what each slot held."""

    name: str
    slots: dict[str, str]
    # the text with the values of `citizen_slots` cut out (what the bot itself says)
    own_words: str


@dataclass
class _Pattern:
    regex: re.Pattern[str]
    name: str
    slots: list[str]  # slot name of group s0, s1, ...


@dataclass
class Catalogue:
    responses: dict[str, list[Response]]
    city_values: dict[str, str]
    _patterns: list[_Pattern] = field(default_factory=list)
    button_titles: set[str] = field(default_factory=set)
    slots: set[str] = field(default_factory=set)  # slots declared in domain.yml
    # slots filled with the citizen's own words (from_text): echoed back, not the bot's wording
    citizen_slots: set[str] = field(default_factory=set)

    def names(self) -> list[str]:
        return sorted(self.responses)

    def variations(self, name: str) -> list[Response]:
        return self.responses.get(name, [])

    def render(self, name: str, variation: int = 0, **slots: Any) -> dict[str, Any]:
        """A response as a channel would send it: text (placeholders filled) and buttons."""
        r = self.responses[name][variation]
        values = {**self.city_values, **{k: "" if v is None else str(v) for k, v in slots.items()}}
        text = PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), r.text)
        return {"text": text, "buttons": [dict(b) for b in r.buttons], "response": name}

    def text(self, name: str, **slots: Any) -> str:
        return str(self.render(name, **slots)["text"])

    def match(self, text: str, hint: str | None = None) -> str | None:
        """The name of the approved response this text is an instance of, or None."""
        found = self.match_detail(text, hint)
        return found.name if found else None

    def match_detail(self, text: str, hint: str | None = None) -> Matched | None:
        if not isinstance(text, str):
            return None
        ordered = self._patterns
        if hint:  # the response Rasa says it rendered is tried first (and is the usual answer)
            ordered = [p for p in self._patterns if p.name == hint] + self._patterns
        for p in ordered:
            m = p.regex.fullmatch(text)
            if m is None:
                continue
            values = {slot: m.group(f"s{i}") for i, slot in enumerate(p.slots)}
            own = text
            spans = [m.span(f"s{i}") for i, slot in enumerate(p.slots) if slot in self.citizen_slots]
            for start, end in sorted(spans, reverse=True):
                own = own[:start] + "|" + own[end:]  # "|": no phrase can span the cut
            return Matched(name=p.name, slots=values, own_words=own)
        return None


def _read_yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def _read_responses(path: Path) -> dict[str, list[dict[str, Any]]]:
    return _read_yaml(path).get("responses") or {}


def response_files(root: Path | None = None) -> list[Path]:
    root = root or settings.ROOT
    return [root / "domain.yml", *sorted((root / "data" / "responses").glob("*.yml"))]


# custom slots an action fills with the citizen's own words (report_brief: the start of the
# story, shown in the confirmation); from_text slots are found in domain.yml by themselves
ECHO_SLOTS = {"report_brief"}


def domain_slots(root: Path | None = None) -> tuple[set[str], set[str]]:
    """(every slot of domain.yml, the slots filled from the citizen's text)."""
    root = root or settings.ROOT
    raw = _read_yaml(root / "domain.yml").get("slots") or {}
    citizen = {
        name
        for name, spec in raw.items()
        if any((m or {}).get("type") == "from_text" for m in ((spec or {}).get("mappings") or []))
    } | (ECHO_SLOTS & set(raw))
    return set(raw), citizen


def _compile(template: str, city_values: dict[str, str], max_slot: int) -> _Pattern:
    parts: list[str] = []
    slots: list[str] = []
    pos = 0
    for m in PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[pos : m.start()]))
        key = m.group(1)
        if key in city_values:
            parts.append(re.escape(city_values[key]))
        else:
            parts.append(SLOT_VALUE.format(group=f"s{len(slots)}", max=max_slot))
            slots.append(key)
        pos = m.end()
    parts.append(re.escape(template[pos:]))
    return _Pattern(regex=re.compile("".join(parts), re.DOTALL), name="", slots=slots)


@lru_cache(maxsize=8)
def _load(root: str, stamp: tuple[Any, ...], city_file: str, max_slot: int) -> Catalogue:
    city_values = city.placeholders(city_file)
    responses: dict[str, list[Response]] = {}
    for path in response_files(Path(root)):
        for name, variations in _read_responses(path).items():
            for v in variations or []:
                responses.setdefault(name, []).append(
                    Response(
                        name=name,
                        text=str(v.get("text") or ""),
                        buttons=list(v.get("buttons") or []),
                        metadata=dict(v.get("metadata") or {}),
                        source_file=str(path.relative_to(root)),
                    )
                )
    slots, citizen_slots = domain_slots(Path(root))
    cat = Catalogue(responses=responses, city_values=city_values, slots=slots, citizen_slots=citizen_slots)
    for name, variants in responses.items():
        for r in variants:
            if r.text:
                pattern = _compile(r.text, city_values, max_slot)
                pattern.name = name
                cat._patterns.append(pattern)
            cat.button_titles.update(str(b.get("title", "")) for b in r.buttons)
    return cat


def _stamp(root: Path, city_file: str) -> tuple[Any, ...]:
    """The state of the files the catalogue is made of: names and modification times. It runs
    for every reply (the guard, the NLG); os.scandir and os.stat cost a fraction of glob and
    pathlib (0.2 of the 0.6 ms a load took, profiled)."""
    parts: list[Any] = []
    for path in (root / "domain.yml", city_file):
        try:
            parts.append(os.stat(path).st_mtime_ns)
        except FileNotFoundError:
            parts.append(None)
    try:
        with os.scandir(root / "data" / "responses") as entries:
            parts.extend(sorted((e.name, e.stat().st_mtime_ns) for e in entries if e.name.endswith(".yml")))
    except FileNotFoundError:
        pass
    return tuple(parts)


def load(root: Path | None = None, city_file: str | None = None) -> Catalogue:
    """The catalogue as the files are now (re-read when a file or the city profile changes)."""
    s = settings.load()
    root = root or settings.ROOT
    city_file = city_file or s.city_file
    stamp = _stamp(root, city_file)
    # a slot may hold what the citizen wrote (the report's description): up to the length cap
    return _load(str(root), stamp, city_file, max(s.max_message_chars, 200) + 50)
