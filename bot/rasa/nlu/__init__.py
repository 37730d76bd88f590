"""Custom Rasa NLU components (registered by importing this package)."""

from bot.rasa.nlu.crisis_screen import CrisisScreen

__all__ = ["CrisisScreen"]
