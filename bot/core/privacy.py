"""Personal data (个人信息) masking: 身份证号, mobile and landline numbers, bank cards, e-mail.

Used by the logging hooks of every process, the audit trail, reports and the desk's list
views. Tickets themselves keep what the citizen gave, because the department needs it.

Logging: `install_logging_filter()` masks every log record of the process three ways, because
Rasa configures logging itself and renders some events with structlog:
  - a LogRecord factory masks each record when it is created (whatever logger or handler, even
    handlers added later, e.g. by a library after start-up);
  - a `MaskingFilter` on every handler that exists (the stated rule: a filter on every handler);
  - a structlog processor masks the event dict before Rasa's JSON renderer escapes Chinese text
    into `\\uXXXX` sequences (which would otherwise glue hex digits to the number).
Each process installs it where its own code is first imported: channels/__init__.py (Rasa
server), actions/__init__.py (action server), bot/desk/__main__.py (desk).
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable
from typing import Any

# GB 11643-1999: 17 digits + check digit (0-9 or X), weights 2^(17-i) mod 11
_ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_ID_CHECK = "10X98765432"

# A number starts where no digit precedes it, or right after a JSON escape such as "\u53f7"
# (号), whose last hex digit is not part of the number.
_START = r"(?:(?<![0-9])|(?<=\\u[0-9A-Fa-f]{4}))"
# 18-character ID numbers (check digit not required: a mistyped ID is personal data too)
ID_RE = re.compile(_START + r"([1-9][0-9]{5})([0-9]{8})([0-9]{3}[0-9Xx])(?![0-9Xx])")
# mainland mobile: 1[3-9] + 9 digits, optionally +86 / 86 prefix and spaces or dashes inside
MOBILE_RE = re.compile(_START + r"(?:\+?86[- ]?)?(1[3-9][0-9])[- ]?([0-9]{4})[- ]?([0-9]{4})(?![0-9])")
# landline with area code: 010-12345678, 0571 8888 8888, (0755)12345678
LANDLINE_RE = re.compile(_START + r"([(（]?0[1-9][0-9]{1,2}[)）]?[- ]?)([0-9]{3,4})[- ]?([0-9]{4})(?![0-9])")
# bank cards (16-19 digits, contiguous or in groups) and any longer digit run: 16 digits or more
# (ticket numbers 20261126-000123 have 14, millisecond timestamps 13)
BANK_RE = re.compile(_START + r"[0-9](?:[ -]?[0-9]){15,}(?![0-9])")
EMAIL_RE = re.compile(r"([A-Za-z0-9._%+-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})")
# full-width digits and X (１３８… from Chinese input methods) are read as ASCII
_FULLWIDTH = str.maketrans({**{chr(0xFF10 + i): str(i) for i in range(10)}, "Ｘ": "X", "ｘ": "x"})


def id_check_digit(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def valid_id_number(value: str) -> bool:
    """True for an 18-character 居民身份证号码 whose GB 11643 check digit is right."""
    v = value.strip().upper().translate(_FULLWIDTH)
    if not re.fullmatch(r"[1-9][0-9]{16}[0-9X]", v):
        return False
    return id_check_digit(v[:17]) == v[17]


def valid_mobile(value: str) -> bool:
    digits = re.sub(r"[\s-]", "", value.strip().translate(_FULLWIDTH))
    digits = digits[3:] if digits.startswith("+86") else digits
    digits = digits[2:] if len(digits) == 13 and digits.startswith("86") else digits
    return bool(re.fullmatch(r"1[3-9][0-9]{9}", digits))


def normalize_mobile(value: str) -> str | None:
    m = MOBILE_RE.search(value.translate(_FULLWIDTH))
    return "".join(m.groups()) if m else None


def mask(text: str | None) -> str:
    """Mask every ID number, phone number, bank card and e-mail address in `text`.

    Idempotent, and never longer than the input (a masked text keeps its shape, so logs and
    list views stay readable: 110***********123X, 138****5678, 6222********1234, z***@qq.com).
    """
    if not text:
        return ""
    out = text.translate(_FULLWIDTH)
    out = ID_RE.sub(lambda m: m.group(1)[:3] + "*" * 11 + m.group(3), out)
    out = MOBILE_RE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", out)
    out = BANK_RE.sub(lambda m: _mask_card(m.group(0)), out)
    out = LANDLINE_RE.sub(lambda m: m.group(1) + "*" * len(m.group(2)) + m.group(3), out)
    return EMAIL_RE.sub(_mask_email, out)


def _mask_card(raw: str) -> str:
    digits = re.sub(r"[^0-9]", "", raw)
    return digits[:4] + "*" * (len(digits) - 8) + digits[-4:]


def _mask_email(m: re.Match[str]) -> str:
    local = m.group(1)
    return (local[0] + "*" * min(3, len(local) - 1) if len(local) > 1 else "*") + "@" + m.group(2)


def mask_fields(data: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """A copy of `data` with the named text fields masked (for list views and reports)."""
    return {k: (mask(v) if k in fields and isinstance(v, str) else v) for k, v in data.items()}


# ----------------------------------------------------------------------------------- logging
def _mask_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a malformed log call must not lose the record; mask what is there
        message = str(record.msg)
    masked = mask(message)
    if masked != message or record.args:
        record.msg, record.args = masked, None
    if record.exc_info and not record.exc_text:
        # formatted now, so that the traceback (exception messages may hold a number) is masked
        # before any handler's formatter would print it unmasked
        record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
    if record.exc_text:
        record.exc_text = mask(record.exc_text)
    if record.stack_info:
        record.stack_info = mask(record.stack_info)


class MaskingFilter(logging.Filter):
    """Installed on every handler: nothing personal reaches a log file."""

    def filter(self, record: logging.LogRecord) -> bool:
        _mask_record(record)
        return True


class _MaskingRecordFactory:
    """Wraps the process's LogRecord factory so that every record is masked when created."""

    def __init__(self, previous: Callable[..., logging.LogRecord]) -> None:
        self.previous = previous

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        _mask_record(record)
        return record


def mask_structure(value: Any) -> Any:
    """Mask every string inside dicts, lists and tuples (structlog event dicts)."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: mask_structure(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        masked = [mask_structure(v) for v in value]
        return masked if isinstance(value, list) else tuple(masked)
    return value


def mask_event_dict(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: first in the chain, before Rasa's renderers."""
    return {k: mask_structure(v) for k, v in event_dict.items()}


def _install_structlog() -> None:
    try:
        import structlog
    except ImportError:  # the desk does not need structlog
        return
    # the same list object the bound loggers hold (cache_logger_on_first_use): edit it in place
    processors = structlog.get_config()["processors"]
    if mask_event_dict in processors:
        return
    # after the level filter (nothing spent on dropped events), before any renderer
    level_filter = structlog.stdlib.filter_by_level
    at = processors.index(level_filter) + 1 if level_filter in processors else 0
    processors.insert(at, mask_event_dict)


def _all_handlers() -> list[logging.Handler]:
    handlers = list(logging.getLogger().handlers)
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            handlers.extend(logger.handlers)
    return handlers


def install_logging_filter(root: logging.Logger | None = None, *, configure: bool = False) -> None:
    """Mask personal data in every log record of this process (idempotent).

    `configure=True` sets up basic logging first when nothing has (scripts); processes whose
    framework configures logging (Rasa, rasa-sdk) call it without, after that set-up.
    """
    root = root or logging.getLogger()
    if configure and not root.handlers:
        logging.basicConfig(level=logging.INFO)
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _MaskingRecordFactory):
        logging.setLogRecordFactory(_MaskingRecordFactory(factory))
    for handler in [*root.handlers, *_all_handlers()]:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
    _install_structlog()
