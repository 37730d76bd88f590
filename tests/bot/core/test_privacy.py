"""Personal data is masked wherever it is logged or shown in lists (bot/core/privacy.py)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import date

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.core import privacy
from bot.core.privacy import mask, valid_id_number, valid_mobile


# ------------------------------------------------------------------ generators of real-looking data
@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    """A 居民身份证号码 with a real birth date and a correct GB 11643 check digit."""
    area = draw(st.integers(110000, 659999))
    born = draw(st.dates(min_value=date(1920, 1, 1), max_value=date(2025, 12, 31)))
    seq = draw(st.integers(0, 999))
    first17 = f"{area}{born:%Y%m%d}{seq:03d}"
    return first17 + privacy.id_check_digit(first17)


@st.composite
def mobiles(draw: st.DrawFn) -> str:
    return (
        "1"
        + draw(st.sampled_from("3456789"))
        + "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=9, max_size=9)))
    )


# arbitrary text around the number: Chinese, letters, digits, punctuation, JSON-ish and log-ish
# characters, emoji; anything but a digit (or X) right next to the number, which would make it a
# different, longer number
AROUND = st.text(
    alphabet=st.sampled_from(list("的号码是 电话身份证：:,，。！ab XxZz@._-+()（）\n\t\"'{}[]\\u😀0123456789")),
    max_size=40,
)


def _glue(prefix: str, number: str, suffix: str) -> str:
    assume(not prefix[-1:].isdigit() and not suffix[:1].isdigit() and suffix[:1] not in ("X", "x"))
    assume(not prefix.endswith(("+86", "86", "+86 ", "86-", "+86-", "86 ")))  # a prefix would be read as part of it
    return prefix + number + suffix


# ------------------------------------------------------------------ validation
@given(id_numbers())
def test_generated_id_numbers_are_valid(number: str) -> None:
    assert valid_id_number(number)
    assert valid_id_number(number.lower())


@given(id_numbers(), st.integers(0, 16), st.integers(1, 9))
def test_one_wrong_digit_fails_the_check_digit(number: str, position: int, delta: int) -> None:
    wrong = str((int(number[position]) + delta) % 10)
    assume(not (position == 0 and wrong == "0"))
    assert not valid_id_number(number[:position] + wrong + number[position + 1 :])


def test_known_id_number_and_mobiles() -> None:
    assert valid_id_number("11010519491231002X")
    assert not valid_id_number("110105194912310021")
    assert valid_mobile("13812345678") and valid_mobile("+86 138-1234-5678") and valid_mobile("8613812345678")
    assert not valid_mobile("12812345678") and not valid_mobile("1381234567")


# ------------------------------------------------------------------ masking: what a reader sees
@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("身份证号11010519491231002X", "身份证号110***********002X"),
        ("电话13812345678，谢谢", "电话138****5678，谢谢"),
        ("+86 138-1234-5678", "138****5678"),
        ("１３８１２３４５６７８", "138****5678"),  # full-width digits from an input method
        ("卡号 6222 0212 3456 7890 123", "卡号 6222***********0123"),
        ("座机0571-88886666", "座机0571-****6666"),
        ("邮箱 zhang.san@qq.com", "邮箱 z***@qq.com"),
        # JSON log lines escape Chinese: the hex digits of 号 (\u53f7) are not part of the number
        ('{"text": "\\u53f713812345678"}', '{"text": "\\u53f7138****5678"}'),
    ],
)
def test_mask_examples(raw: str, masked: str) -> None:
    assert mask(raw) == masked


@pytest.mark.parametrize(
    "kept",
    [
        "工单编号 20261126-000123",  # supervisors need ticket numbers in the audit
        "请拨打12345、12348、110或120",
        "办公时间 9:00-12:00、13:30-17:00",
        "2026-11-26 18:00 前答复",
        "Redis 流 1764150000000-0",
    ],
)
def test_service_numbers_dates_and_ticket_numbers_are_not_masked(kept: str) -> None:
    assert mask(kept) == kept


@given(AROUND, id_numbers(), AROUND)
def test_any_id_number_in_any_text_is_masked(prefix: str, number: str, suffix: str) -> None:
    text = _glue(prefix, number, suffix)
    out = mask(text)
    assert number not in out and number.lower() not in out
    assert number[6:14] not in out  # the birth date is what identifies a person most


@given(
    AROUND, mobiles(), AROUND, st.sampled_from(["{}", "+86{}", "86 {}", "{0:.3} {1:.4} {2:.4}", "{0:.3}-{1:.4}-{2:.4}"])
)
def test_any_mobile_number_in_any_text_is_masked(prefix: str, number: str, suffix: str, form: str) -> None:
    written = form.format(number) if form.count("{") == 1 else form.format(number[:3], number[3:7], number[7:])
    out = mask(_glue(prefix, written, suffix))
    assert number not in out and written not in out
    assert f"{number[:3]}****{number[7:]}" in out  # the middle four digits are never shown


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from(list("0123456789Xx +-()@.a中号\\u*１")), max_size=80) | st.text(max_size=80))
def test_mask_is_idempotent_and_never_grows(text: str) -> None:
    once = mask(text)
    assert mask(once) == once
    assert len(once) <= len(text)


def test_mask_fields_masks_only_the_named_fields() -> None:
    row = {"id": "20261126-000001", "contact": "13812345678", "summary": "噪音：电话13812345678", "agent": "王芳"}
    out = privacy.mask_fields(row, ("contact", "summary"))
    assert out == {
        "id": "20261126-000001",
        "contact": "138****5678",
        "summary": "噪音：电话138****5678",
        "agent": "王芳",
    }
    assert row["contact"] == "13812345678"  # the ticket itself keeps what the citizen gave


# ------------------------------------------------------------------ logging
@pytest.fixture()
def clean_logging() -> Iterator[logging.Logger]:
    """A private logger, and the process's record factory and structlog set-up restored after."""
    import structlog

    factory = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)  # as in a fresh process (channels/ may have installed it)
    config = structlog.get_config()
    processors = list(config["processors"])
    logger = logging.getLogger("test.privacy")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger
    logger.handlers.clear()
    logging.setLogRecordFactory(factory)
    structlog.configure(**{**config, "processors": processors})


def _stream_handler(logger: logging.Logger) -> io.StringIO:
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    return buf


def test_filter_masks_arguments_and_tracebacks(clean_logging: logging.Logger) -> None:
    buf = _stream_handler(clean_logging)
    for h in clean_logging.handlers:
        h.addFilter(privacy.MaskingFilter())
    clean_logging.info("citizen %s gave %s", "13812345678", "11010519491231002X")
    try:
        raise ValueError("bad contact 13900001111")
    except ValueError:
        clean_logging.exception("could not file")
    out = buf.getvalue()
    assert "138****5678" in out and "110***********002X" in out
    assert "13812345678" not in out and "11010519491231002X" not in out and "13900001111" not in out
    assert "ValueError: bad contact 139****1111" in out  # the traceback is kept, masked


def test_install_masks_records_for_handlers_added_later(clean_logging: logging.Logger) -> None:
    """Libraries (Sanic, aiohttp) may add handlers after start-up: records are masked at birth."""
    privacy.install_logging_filter()
    buf = _stream_handler(clean_logging)  # added after the install, with no filter of its own
    clean_logging.warning("phone %s", "13812345678")
    assert "138****5678" in buf.getvalue() and "13812345678" not in buf.getvalue()
    privacy.install_logging_filter()  # idempotent: one factory, one filter per handler
    assert isinstance(logging.getLogRecordFactory(), privacy._MaskingRecordFactory)
    assert not isinstance(logging.getLogRecordFactory().previous, privacy._MaskingRecordFactory)


def test_structlog_events_are_masked_before_the_json_renderer(clean_logging: logging.Logger) -> None:
    """Rasa renders structlog events as JSON with \\uXXXX escapes (rest.message.received.failure)."""
    import structlog

    buf = _stream_handler(clean_logging)
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, structlog.processors.JSONRenderer()],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    log = structlog.get_logger("test.privacy")
    log.error("rest.message.received.failure", text="我的手机号13812345678，身份证11010519491231002X")
    privacy.install_logging_filter()
    log.error("rest.message.received.failure", text="我的手机号13812345678，身份证11010519491231002X")
    first, second = buf.getvalue().splitlines()
    assert "13812345678" in first  # without the hook (a cached logger, as in Rasa) ...
    event = json.loads(second.split(" ", 1)[1])
    assert event["text"] == "我的手机号138****5678，身份证110***********002X"  # ... and with it
