"""The Rasa versions this project is written for, checked when a process starts.

bot/rasa/patches replaces functions inside Rasa 3.6.21 (their names, arguments and what they
return) and was measured on it; rasa-sdk 3.6.2's app is what bot/rasa/action_server.py changes.
Another version would start, and then fail in the middle of citizens' conversations, or worse
not fail. So a process with another version installed refuses to start. The pins are those of
requirements/rasa-wheels.txt (tests/bot/rasa/test_versions.py keeps them the same).
"""

from __future__ import annotations

RASA = "3.6.21"
RASA_SDK = "3.6.2"


class WrongVersion(SystemExit):
    """The installed version is not the pinned one; the process does not start."""

    def __init__(self, package: str, pinned: str, found: str) -> None:
        super().__init__(
            f"{package} {found} is installed, but this project is written for {package} {pinned} "
            f"(requirements/rasa-wheels.txt; bot/rasa/patches changes its internals): "
            f"install {package}=={pinned} (make setup). Not starting."
        )
        self.package, self.pinned, self.found = package, pinned, found


def require(package: str, pinned: str, found: str) -> None:
    if found != pinned:
        raise WrongVersion(package, pinned, found)


def check_rasa() -> None:
    """Before anything of Rasa is patched (bot/rasa/patches.apply)."""
    import rasa

    require("rasa", RASA, rasa.__version__)


def check_rasa_sdk() -> None:
    """Before the action server is built (bot/rasa/action_server.py)."""
    import rasa_sdk

    require("rasa-sdk", RASA_SDK, rasa_sdk.__version__)
