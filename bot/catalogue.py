"""The approved response catalogue: domain.yml responses plus data/responses/*.yml.

One loader for everything that renders or checks a citizen-facing text: the NLG (fills
`{city_*}` from the city profile), the channels (their own texts, e.g. the welcome on
subscribe, are catalogue responses too), the output guard (is this text approved?), the content
check and the desk's canned replies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot import city, settings

PLACEHOLDER = re.compile(r"\{([^\n{}]+?)\}")
# what a slot value may look like inside an approved text: anything but a new placeholder,
# bounded so that a template cannot approve an arbitrarily long message
SLOT_VALUE = r"[^{}]{0,%d}"


@dataclass
class Response:
    name: str
    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    source_file: str = ""


@dataclass
class Catalogue:
    responses: dict[str, list[Response]]
    city_values: dict[str, str]
    _patterns: list[tuple[re.Pattern[str], str]] = field(default_factory=list)
    button_titles: set[str] = field(default_factory=set)

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
        candidates = self._patterns
        if hint:
            hinted = [p for p in candidates if p[1] == hint]
            for pattern, name in hinted:
                if pattern.fullmatch(text):
                    return name
        for pattern, name in candidates:
            if pattern.fullmatch(text):
                return name
        return None


def _read_responses(path: Path) -> dict[str, list[dict[str, Any]]]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return raw.get("responses") or {}


def response_files(root: Path | None = None) -> list[Path]:
    root = root or settings.ROOT
    return [root / "domain.yml", *sorted((root / "data" / "responses").glob("*.yml"))]


def _compile(template: str, city_values: dict[str, str], max_slot: int) -> re.Pattern[str]:
    parts: list[str] = []
    pos = 0
    for m in PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[pos : m.start()]))
        key = m.group(1)
        parts.append(re.escape(city_values[key]) if key in city_values else SLOT_VALUE % max_slot)
        pos = m.end()
    parts.append(re.escape(template[pos:]))
    return re.compile("".join(parts), re.DOTALL)


@lru_cache(maxsize=4)
def _load(root: str, stamp: tuple[float, ...], city_file: str, max_slot: int) -> Catalogue:
    city_values = city.placeholders(city_file)
    responses: dict[str, list[Response]] = {}
    for path in response_files(Path(root)):
        for name, variations in _read_responses(path).items():
            for v in variations or []:
                responses.setdefault(name, []).append(
                    Response(
                        name=name,
                        text=str(v.get("text", "")),
                        buttons=list(v.get("buttons") or []),
                        metadata=dict(v.get("metadata") or {}),
                        source_file=str(path.relative_to(root)),
                    )
                )
    cat = Catalogue(responses=responses, city_values=city_values)
    for name, variations in responses.items():
        for r in variations:
            if r.text:
                cat._patterns.append((_compile(r.text, city_values, max_slot), name))
            cat.button_titles.update(str(b.get("title", "")) for b in r.buttons)
    return cat


def load(root: Path | None = None) -> Catalogue:
    """The catalogue as the files are now (re-read when a file or the city profile changes)."""
    s = settings.load()
    root = root or settings.ROOT
    files = [*response_files(root), Path(s.city_file)]
    stamp = tuple(p.stat().st_mtime for p in files if p.exists()) + (len(files),)
    # a slot may hold what the citizen wrote (the report's description): up to the length cap
    return _load(str(root), stamp, s.city_file, max(s.max_message_chars, 200) + 50)
