"""`python -m channels.wechat menu`: create the 公众号's menu from config/wechat_menu.yml."""

from __future__ import annotations

import logging
import sys

from channels.wechat.menu import push_menu

log = logging.getLogger(__name__)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO)
    if argv != ["menu"]:
        sys.exit("usage: python -m channels.wechat menu")
    result = push_menu()
    log.info("menu created: %s", result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
