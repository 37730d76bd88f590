"""The agents' console and JSON API (port 5080)."""
