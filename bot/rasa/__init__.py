"""Rasa extensions: NLU components, NLG, lock and tracker stores, server launch and patches."""
