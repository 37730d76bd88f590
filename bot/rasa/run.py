"""Rasa's command line with this project's patches applied: `python -m bot.rasa.run run ...`.

bot/ops/launch.py starts the Rasa server through here instead of the `rasa` script, so that
before Rasa starts:
  - the installed Rasa is checked to be the pinned version (bot/rasa/versions.py): on any other
    the process refuses to start;
  - bot/rasa/patches is applied (timeouts on Rasa's outbound calls, and what profiling under load
    and the fault tests found; docs/performance.md);
  - `--auth-token` is added from RASA_AUTH_TOKEN (see `with_auth_token`).
"""

from __future__ import annotations

import sys

from bot.infra import settings


def with_auth_token(argv: list[str], cfg: settings.Settings) -> list[str]:
    """`rasa run` arguments plus `--auth-token` from RASA_AUTH_TOKEN.

    Added here, inside the process, so that the token never appears on a command line that
    `ps` shows to every local user.
    """
    if cfg.rasa_auth_token and argv[:1] == ["run"] and "--auth-token" not in argv:
        return [*argv, "--auth-token", cfg.rasa_auth_token]
    return argv


def main() -> int:
    cfg = settings.load()
    from bot.rasa import patches

    patches.apply(cfg)  # checks Rasa's version first
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *with_auth_token(sys.argv[1:], cfg)]
    rasa_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
