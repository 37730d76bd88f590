"""Personal data (个人信息) masking: 身份证号, mobile numbers, bank cards, e-mail.

Used by the logging filter on every handler, the audit trail, reports and the desk's list
views. Tickets themselves keep what the citizen gave, because the department needs it.
"""

from __future__ import annotations

import logging
import re

# GB 11643-1999: 17 digits + check digit (0-9 or X), weights 2^(17-i) mod 11
_ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_ID_CHECK = "10X98765432"

ID_RE = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{5})(\d{8})(\d{3}[0-9Xx])(?![0-9A-Za-z])")
# mainland mobile: 1[3-9] + 9 digits, optionally +86 / 86 prefix and spaces or dashes inside
MOBILE_RE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)")
BANK_RE = re.compile(r"(?<!\d)(\d{4})(?:[ -]?\d{4}){2,3}(?:[ -]?\d{1,3})?(?!\d)")
EMAIL_RE = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")


def id_check_digit(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS))
    return _ID_CHECK[total % 11]


def valid_id_number(value: str) -> bool:
    """True for an 18-character 居民身份证号码 whose GB 11643 check digit is right."""
    v = value.strip().upper()
    if not re.fullmatch(r"[1-9]\d{16}[0-9X]", v):
        return False
    return id_check_digit(v[:17]) == v[17]


def valid_mobile(value: str) -> bool:
    digits = re.sub(r"[\s-]", "", value.strip())
    digits = digits[3:] if digits.startswith("+86") else digits
    digits = digits[2:] if len(digits) == 13 and digits.startswith("86") else digits
    return bool(re.fullmatch(r"1[3-9]\d{9}", digits))


def normalize_mobile(value: str) -> str | None:
    m = MOBILE_RE.search(value)
    return "".join(m.groups()) if m else None


def mask(text: str | None) -> str:
    """Mask every ID number, mobile number, bank card and e-mail address in `text`."""
    if not text:
        return text or ""
    out = ID_RE.sub(lambda m: m.group(1)[:3] + "*" * 11 + m.group(3)[-4:][-4:], text)
    out = MOBILE_RE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", out)
    out = BANK_RE.sub(lambda m: _mask_card(m.group(0)), out)
    return EMAIL_RE.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", out)


def _mask_card(raw: str) -> str:
    digits = re.sub(r"\D", "", raw)
    if len(digits) < 12:
        return raw
    return digits[:4] + "*" * (len(digits) - 8) + digits[-4:]


class MaskingFilter(logging.Filter):
    """Installed on every handler: nothing personal reaches a log file."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call must not lose the record
            return True
        masked = mask(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        return True


def install_logging_filter(root: logging.Logger | None = None) -> None:
    """Add the masking filter to every handler of the root logger (idempotent)."""
    root = root or logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO)
    for handler in root.handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
