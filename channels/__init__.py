"""Rasa input channels, one module per platform, and their senders (usable outside Rasa).

The Rasa server imports this package when it reads credentials.yml, after Rasa has set up its
logging and structlog: that is where this process gets the personal-data masking on every log
record (bot.core.privacy.install_logging_filter; idempotent).
"""

from bot.core.privacy import install_logging_filter

install_logging_filter()
