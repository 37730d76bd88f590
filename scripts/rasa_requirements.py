"""Print Rasa's and rasa-sdk's own dependency list as if the interpreter were Python 3.10.

Why: rasa 3.6.21 and rasa-sdk 3.6.2 declare Requires-Python <3.11, but every pinned dependency
they name for 3.10 has cp311 wheels. Evaluating their markers as 3.10 keeps those pins
(numpy<1.25, scipy<1.11, tensorflow 2.12 ...). See ../shared/notes/rasa-on-python-3.11.md.
Used only to regenerate requirements.lock (`make lock`); `make setup` installs the lock.
"""

from __future__ import annotations

import sys
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement

ENV_AS_310 = {"python_version": "3.10", "python_full_version": "3.10.13", "extra": ""}
# matplotlib<3.6 has no cp311 wheel and its sdist downloads freetype; 3.6.3 serves rasa's plots.
SELF = {"rasa", "rasa-sdk", "rasa_sdk"}
OVERRIDES = {"matplotlib": "matplotlib==3.6.3"}


def requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(name).decode("utf-8"))
    out = []
    for line in meta.get_all("Requires-Dist") or []:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate(ENV_AS_310):
            continue
        req.marker = None
        if req.name.lower() in SELF:
            continue  # installed from its own wheel with --no-deps
        out.append(OVERRIDES.get(req.name.lower(), str(req)))
    return out


if __name__ == "__main__":
    seen: dict[str, str] = {}
    for arg in sys.argv[1:]:
        for r in requirements(Path(arg)):
            seen.setdefault(Requirement(r).name.lower(), r)
    sys.stdout.write("\n".join(seen.values()) + "\n")
