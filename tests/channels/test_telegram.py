"""Telegram channel: webhook security, de-duplication, buttons, long texts, flood control, agent
replies, polling — against a local stand-in of the Bot API that records what the bot sent."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from telegram import Update

from bot.core import catalogue
from bot.stack.processes import Stack, request_json
from bot.stack.rasa_process import RasaProcess, start_rasa
from bot.stack.standins.telegram import TelegramStandIn, callback_update, text_update
from channels import telegram as tg
from channels.senders import DeliveryError, get_sender

SECRET = "s3cret-for-tests_1"
WEBHOOK_URL = "https://hotline.example.gov.cn/webhooks/telegram/webhook"


def approved(name: str, **slots: Any) -> str:
    return catalogue.load().text(name, **slots)


@pytest.fixture(scope="module")
def standin() -> Iterator[TelegramStandIn]:
    s = TelegramStandIn().start()
    yield s
    s.stop()


@pytest.fixture()
def tg_env(standin: TelegramStandIn, redis_url: str, db_url: str, monkeypatch: pytest.MonkeyPatch) -> TelegramStandIn:
    standin.reset()
    monkeypatch.setenv("TELEGRAM_TOKEN", standin.token)
    monkeypatch.setenv("TELEGRAM_API_BASE", standin.api_base)
    monkeypatch.setenv("TELEGRAM_SECRET_TOKEN", SECRET)
    monkeypatch.delenv("TELEGRAM_WEBHOOK_URL", raising=False)
    monkeypatch.setenv("TELEGRAM_POLLING_TIMEOUT_S", "1")
    return standin


# ------------------------------------------------------------------------------------ splitting
def test_short_text_is_one_message() -> None:
    assert tg.split_text("您好") == ["您好"]


def test_long_text_is_split_at_the_limit_at_sentence_ends_and_nothing_is_lost() -> None:
    sentence = "请您携带身份证到政务服务中心办理。"  # 17 characters
    text = sentence * 700  # 11 900 characters: three messages
    chunks = tg.split_text(text)
    assert len(chunks) == 3
    assert all(len(c.encode("utf-16-le")) // 2 <= tg.MAX_TEXT for c in chunks)
    assert all(c.endswith("。") for c in chunks)
    assert "".join(chunks) == text


def test_split_counts_astral_characters_twice_as_telegram_does() -> None:
    text = "😀" * 3000  # 6000 UTF-16 units, but only 3000 Python characters
    chunks = tg.split_text(text)
    assert len(chunks) == 2
    assert all(len(c.encode("utf-16-le")) // 2 <= tg.MAX_TEXT for c in chunks)
    assert "".join(chunks) == text


# ------------------------------------------------------------------------------------ output
async def test_buttons_become_an_inline_keyboard_with_their_payloads(tg_env: TelegramStandIn) -> None:
    async with tg.make_bot() as bot:
        await tg.TelegramOutput(bot).send_approved("4242", "utter_ask_helpful")
    (call,) = tg_env.calls_of("sendMessage", chat_id=4242)
    assert call.params["text"] == approved("utter_ask_helpful")
    keyboard = call.params["reply_markup"]["inline_keyboard"]
    assert [[b["text"] for b in row] for row in keyboard] == [["有帮助"], ["没帮助"]]  # one per row: large targets
    assert keyboard[0][0]["callback_data"] == '/feedback{"helpful": "yes"}'


async def test_payload_longer_than_64_bytes_is_kept_in_redis_and_comes_back(tg_env: TelegramStandIn) -> None:
    payload = '/report_fix{"report_field": "report_callback", "note": "' + "很长的附加说明" * 5 + '"}'
    data = await tg._callback_data(payload)
    assert len(data.encode()) <= tg.MAX_CALLBACK_BYTES
    assert await tg._payload_of(data) == payload
    assert await tg._callback_data("/affirm") == "/affirm"


async def test_long_agent_reply_arrives_in_order_in_several_messages(tg_env: TelegramStandIn) -> None:
    text = "您好，关于您反映的问题，我们已联系承办部门。" * 300  # 6 600 characters
    await get_sender("telegram").send_agent_text("777", text, "王芳", "20261126-000001")
    sent = tg_env.sent_texts(777)
    assert len(sent) == 2
    assert "".join(sent) == text


async def test_flood_control_is_waited_out_and_the_message_sent_once(tg_env: TelegramStandIn) -> None:
    tg_env.fail_next("sendMessage", retry_after=1)
    started = time.monotonic()
    await get_sender("telegram").send_agent_text("778", "您好，工作人员已为您查询。", "王芳", "20261126-000002")
    calls = tg_env.calls_of("sendMessage", chat_id=778)
    assert len(calls) == 2  # refused with 429, then accepted
    assert calls[1].at - calls[0].at >= 0.95
    assert time.monotonic() - started < 10


async def test_flood_control_beyond_the_bound_is_reported_to_the_desk(tg_env: TelegramStandIn) -> None:
    tg_env.fail_next("sendMessage", retry_after=600)
    with pytest.raises(DeliveryError) as err:
        await get_sender("telegram").send_agent_text("779", "您好。", "王芳", "20261126-000003")
    assert err.value.reason == "rate_limited"
    assert len(tg_env.calls_of("sendMessage", chat_id=779)) == 1


async def test_a_citizen_who_blocked_the_bot_is_reported_to_the_desk(tg_env: TelegramStandIn) -> None:
    tg_env.fail_next("sendMessage", code=403, description="Forbidden: bot was blocked by the user")
    with pytest.raises(DeliveryError) as err:
        await get_sender("telegram").send_agent_text("780", "您好。", "王芳", "20261126-000004")
    assert err.value.reason == "blocked_by_user"
    assert err.value.message  # the desk has a Chinese explanation to show


async def test_sender_without_a_token_says_so(tg_env: TelegramStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TELEGRAM_TOKEN")
    with pytest.raises(DeliveryError) as err:
        await get_sender("telegram").send_agent_text("781", "您好。", "王芳", "20261126-000005")
    assert err.value.reason == "not_configured"
    assert tg_env.calls_of("sendMessage") == []


# ------------------------------------------------------------------------------------ input (no Rasa)
class FakeRasa:
    """Stands in for Rasa's agent: records what reaches it and answers with a greeting."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def __call__(self, message: Any) -> None:
        self.messages.append(message)
        await message.output_channel.send_approved(message.sender_id, "utter_thank")


async def test_the_same_update_twice_reaches_rasa_once(tg_env: TelegramStandIn) -> None:
    channel = tg.TelegramInput()
    rasa = FakeRasa()
    update = text_update(update_id=9001, chat_id=5001, text="谢谢")
    for _ in range(2):
        await channel.process(Update.de_json(update, channel.bot), rasa)
    assert [m.text for m in rasa.messages] == ["谢谢"]
    assert rasa.messages[0].sender_id == "5001"
    assert rasa.messages[0].input_channel == "telegram"
    assert tg_env.sent_texts(5001) == [approved("utter_thank")]
    await channel.bot.shutdown()


async def test_button_press_is_answered_and_its_payload_goes_to_rasa(tg_env: TelegramStandIn) -> None:
    channel = tg.TelegramInput()
    rasa = FakeRasa()
    update = callback_update(
        update_id=9002, chat_id=5002, data='/feedback{"helpful": "yes"}', message_id=77, query_id="cbq-1"
    )
    await channel.process(Update.de_json(update, channel.bot), rasa)
    assert tg_env.calls_of("answerCallbackQuery", callback_query_id="cbq-1")
    assert tg_env.calls_of("editMessageReplyMarkup", chat_id=5002, message_id=77)  # cannot be pressed twice
    assert [m.text for m in rasa.messages] == ['/feedback{"helpful": "yes"}']
    await channel.bot.shutdown()


async def test_photo_without_words_gets_the_media_answer(tg_env: TelegramStandIn) -> None:
    channel = tg.TelegramInput()
    rasa = FakeRasa()
    update = text_update(update_id=9003, chat_id=5003, text="")
    del update["message"]["text"]
    update["message"]["photo"] = [{"file_id": "ph-1", "file_unique_id": "u1", "width": 90, "height": 90}]
    await channel.process(Update.de_json(update, channel.bot), rasa)
    assert rasa.messages == []
    assert tg_env.sent_texts(5003) == [approved("utter_unsupported_media")]
    await channel.bot.shutdown()


async def test_polling_mode_without_a_webhook_url(tg_env: TelegramStandIn) -> None:
    channel = tg.TelegramInput()
    rasa = FakeRasa()
    tg_env.queue_update(text_update(update_id=9101, chat_id=5101, text="/start"))
    tg_env.queue_update(text_update(update_id=9102, chat_id=5101, text="谢谢你"))
    task = asyncio.create_task(channel._start(rasa))
    try:
        deadline = time.monotonic() + 20
        # until both are answered and the next poll asks for updates after the last one handled
        while time.monotonic() < deadline and not (
            len(tg_env.sent_texts(5101)) >= 2 and tg_env.calls_of("getUpdates", offset=9103)
        ):
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await channel.bot.shutdown()
    assert tg_env.calls_of("deleteWebhook")  # a webhook left over would make getUpdates fail
    assert tg_env.calls_of("setWebhook") == []
    assert tg_env.sent_texts(5101) == [approved("utter_greet"), approved("utter_thank")]
    assert [m.text for m in rasa.messages] == ["谢谢你"]
    assert tg_env.calls_of("getUpdates", offset=9103)


# ------------------------------------------------------------------------------------ whole stack
@pytest.fixture(scope="module")
def tg_rasa(stack: Stack, standin: TelegramStandIn) -> Iterator[RasaProcess]:
    standin.reset()
    rasa = start_rasa(
        stack,
        "rasa-telegram",
        {
            "TELEGRAM_TOKEN": standin.token,
            "TELEGRAM_API_BASE": standin.api_base,
            "TELEGRAM_SECRET_TOKEN": SECRET,
            "TELEGRAM_WEBHOOK_URL": WEBHOOK_URL,
        },
    )
    yield rasa
    rasa.stop()


def post_update(rasa: RasaProcess, update: dict[str, Any], secret: str | None = SECRET) -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    status, _ = request_json("POST", f"{rasa.url}/webhooks/telegram/webhook", update, headers=headers, timeout=60)
    return status


def new_chat() -> int:
    return 10_000_000 + uuid.uuid4().int % 1_000_000_000


def settle(standin: TelegramStandIn, chat_id: int, quiet_s: float = 1.5, timeout: float = 30) -> list[str]:
    """The texts sent to a chat once nothing more has arrived for `quiet_s`."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        n = len(standin.sent_texts(chat_id))
        if n != last:
            last, since = n, time.monotonic()
        elif n and time.monotonic() - since >= quiet_s:
            break
        time.sleep(0.05)
    return standin.sent_texts(chat_id)


@pytest.mark.stack
def test_webhook_is_registered_with_the_secret_on_start(tg_rasa: RasaProcess, standin: TelegramStandIn) -> None:
    (call,) = standin.wait_for("setWebhook", timeout=30)[-1:]
    assert call.params["url"] == WEBHOOK_URL
    assert call.params["secret_token"] == SECRET
    assert set(call.params["allowed_updates"]) == {"message", "callback_query"}


@pytest.mark.stack
@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET + "x"])
def test_wrong_or_missing_secret_is_refused(tg_rasa: RasaProcess, standin: TelegramStandIn, secret: str | None) -> None:
    chat = new_chat()
    assert post_update(tg_rasa, text_update(update_id=chat, chat_id=chat, text="/start"), secret=secret) == 403
    time.sleep(0.5)
    assert standin.sent_texts(chat) == []


@pytest.mark.stack
def test_a_question_is_answered_with_an_approved_reply(tg_rasa: RasaProcess, standin: TelegramStandIn) -> None:
    chat = new_chat()
    assert post_update(tg_rasa, text_update(update_id=chat, chat_id=chat, text="/start")) == 200
    assert post_update(tg_rasa, text_update(update_id=chat + 1, chat_id=chat, text="谢谢")) == 200
    sent = settle(standin, chat)
    assert sent[0] == approved("utter_greet")
    assert len(sent) >= 2
    assert all(catalogue.load().match(t) for t in sent)
    assert approved("utter_safe_fallback") not in sent


@pytest.mark.stack
def test_the_same_update_delivered_twice_gets_one_answer(tg_rasa: RasaProcess, standin: TelegramStandIn) -> None:
    chat = new_chat()
    update = text_update(update_id=chat, chat_id=chat, text="你好")
    assert post_update(tg_rasa, update) == 200
    first = settle(standin, chat)
    assert first
    assert post_update(tg_rasa, update) == 200  # Telegram re-delivers when it missed our 200
    assert settle(standin, chat, quiet_s=2.0) == first


@pytest.mark.stack
def test_pressing_a_button_is_answered_and_understood(tg_rasa: RasaProcess, standin: TelegramStandIn) -> None:
    chat = new_chat()
    update = callback_update(update_id=chat, chat_id=chat, data='/feedback{"helpful": "yes"}', query_id=f"cb-{chat}")
    assert post_update(tg_rasa, update) == 200
    assert standin.calls_of("answerCallbackQuery", callback_query_id=f"cb-{chat}")
    assert settle(standin, chat) == [approved("utter_feedback_thanks")]


@pytest.mark.stack
async def test_agent_reply_reaches_the_citizen(tg_rasa: RasaProcess, standin: TelegramStandIn, stack: Stack,
                                               monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    for k in ("REDIS_URL", "DATABASE_URL"):
        monkeypatch.setenv(k, stack.env[k])
    monkeypatch.setenv("TELEGRAM_TOKEN", standin.token)
    monkeypatch.setenv("TELEGRAM_API_BASE", standin.api_base)
    chat = new_chat()
    await get_sender("telegram").send_agent_text(
        str(chat), "您好，我是12345工作人员，已为您联系社区。", "王芳", "20261126-000009"
    )
    assert standin.sent_texts(chat) == ["您好，我是12345工作人员，已为您联系社区。"]
