"""Custom actions (rasa-sdk).

Importing this package (the action server does, once its logging is set up) installs the
personal-data masking on every log record of the process (idempotent).

Tests only: ACTIONS_EXTRA_MODULE names a module with extra actions or replacements of ours
(a subclass registered later wins), e.g. tests/support/unapproved_actions.py, which makes an
action emit an unapproved text so that a test can watch the output guard replace it. Ignored
in production.
"""

import importlib
import logging

from bot.core.privacy import install_logging_filter
from bot.infra import settings

install_logging_filter()

_cfg = settings.load()
_extra = _cfg.actions_extra_module.strip()
if _extra:
    if _cfg.production:
        logging.getLogger(__name__).error("ACTIONS_EXTRA_MODULE is ignored in production")
    else:
        logging.getLogger(__name__).warning("test actions loaded from %s (ACTIONS_EXTRA_MODULE)", _extra)
        importlib.import_module(_extra)
