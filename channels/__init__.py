"""Rasa input channels, one module per platform, and their senders (usable outside Rasa)."""
