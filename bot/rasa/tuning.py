"""The old name of two values channels/wechat.py still imports from here; the patches themselves
are bot/rasa/patches. Delete this module once channels/wechat.py imports them from there."""

from bot.rasa.patches.replay import CHECK_SAVED
from bot.rasa.patches.turn_limit import max_turns

__all__ = ["CHECK_SAVED", "max_turns"]
