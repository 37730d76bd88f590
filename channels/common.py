"""What every citizen channel shares: the incoming pipeline and the guarded output.

Incoming (`handle_incoming`), for every platform, in this order:
  clean the text -> rate limit -> crisis screening -> handed off? (to the ticket and the desk)
  -> otherwise Rasa. Redis or Rasa failing gives the citizen a polite approved answer.
Outgoing (`GuardedOutputChannel`): every text passes the approved-reply guard, is written to
the audit trail, and only then goes to the platform's `deliver`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage

from bot.core import catalogue, crisis, guard, handoff, tickets, topics
from bot.core.privacy import mask
from bot.infra import db, keys, settings, store

log = logging.getLogger(__name__)

CHECK_RESPONSE = "utter_crisis_check"  # the crisis screening's check question (middle band)

_CONTROL = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def clean_text(text: str | None) -> str:
    """Drop control and zero-width characters; keep everything a citizen meant to write."""
    text = unicodedata.normalize("NFC", text or "")
    return _CONTROL.sub("", text).strip()


@dataclass
class Incoming:
    channel: str
    sender_id: str
    text: str
    message_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    attachments: list[dict[str, Any]] = field(default_factory=list)


class GuardedOutputChannel(OutputChannel):
    """Base of every platform's output: guard, audit, then `deliver`."""

    channel_name = "base"

    @classmethod
    def name(cls) -> str:
        return cls.channel_name

    # True where `deliver` only collects and nothing reaches the citizen before `handle_incoming`
    # returns (REST's answer in the HTTP response): the turn's audit rows are then written in one
    # transaction with its inbound record, still before the citizen sees a word
    holds_records = False

    def __init__(self, model_version: str | None = None) -> None:
        self.model_version = model_version
        self._held: list[Any] | None = None
        # the conversation as Rasa saved it at the end of this output's turn
        # (bot/rasa/patches/saved_tracker.py),
        # so the inbound record needs no second read of the tracker store
        self.saved_tracker: Any = None

    def hold_records(self) -> None:
        if self.holds_records:
            self._held = []

    async def write_records(self, *rows: Any) -> None:
        """Audit/inbound rows: held for the end of the turn, or written now."""
        if self._held is not None:
            self._held.extend(rows)
        else:
            await asyncio.to_thread(guard.write, list(rows))

    async def flush_records(self) -> None:
        rows, self._held = self._held, None
        if rows:
            await asyncio.to_thread(guard.write, rows)

    async def deliver(self, recipient_id: str, text: str, buttons: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        text = message.get("text")
        if text is None and not message.get("buttons"):
            return  # images, custom payloads: nothing the catalogue approves is sent that way
        verdict = guard.check_bot_text(text, message.get("utter_action"))
        buttons = [] if verdict.blocked else guard.approved_buttons(message.get("buttons"))
        version = self.model_version or serving_model_version()
        rows = [
            guard.audit_row(
                channel=self.name(),
                sender_id=recipient_id,
                text=verdict.original if verdict.blocked and verdict.original else verdict.text,
                response=verdict.response if not verdict.blocked else None,
                blocked=verdict.blocked,
                reason=verdict.reason,
                model_version=version,
            )
        ]
        if verdict.blocked:
            log.warning("blocked an unapproved reply to %s: %s", recipient_id, verdict.reason)
            rows.append(
                guard.audit_row(
                    channel=self.name(),
                    sender_id=recipient_id,
                    text=verdict.text,
                    response=verdict.response,
                    model_version=version,
                )
            )
        await self.write_records(*rows)
        await self.deliver(recipient_id, verdict.text, buttons)

    # every other way Rasa sends text goes through send_response, so through the guard
    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text, **kwargs})

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self.send_response(recipient_id, {"text": text, "buttons": buttons, **kwargs})

    async def send_approved(self, recipient_id: str, response: str, **slots: Any) -> None:
        """Send a catalogue response by name (channel-level texts: welcome, busy, media ...)."""
        rendered = catalogue.load().render(response, **slots)
        await self.send_response(
            recipient_id, {"text": rendered["text"], "buttons": rendered["buttons"], "utter_action": response}
        )

    async def send_agent_text(self, recipient_id: str, text: str, agent: str, ticket_id: str) -> None:
        """An agent's reply (checked by the desk before it gets here), audited with the agent's name."""
        await self.write_records(
            guard.audit_row(
                channel=self.name(),
                sender_id=recipient_id,
                text=text,
                response=None,
                agent=agent,
                ticket_id=ticket_id,
            )
        )
        await self.deliver(recipient_id, text, [])


def model_version(app: Any) -> str | None:
    """The model this Rasa server answers with now, for the audit trail: its archive name
    (what `make ship` loaded and `make rollback` can go back to). Read per request, because
    `make ship` swaps `app.ctx.agent` while the server runs. Channels pass it to their output:
    `XOutput(..., model_version=model_version(request.app))`."""
    agent = getattr(getattr(app, "ctx", None), "agent", None)
    if agent is None or getattr(agent, "processor", None) is None:
        return None
    return str(agent.model_name or agent.model_id)[:120]


def serving_model_version() -> str | None:
    """The model the Rasa server in this process answers with, for an output made without one
    (None in other processes: the desk's senders)."""
    try:
        from sanic import Sanic

        for app in list(Sanic._app_registry.values()):
            version = model_version(app)
            if version is not None:
                return version
    except Exception:  # the audit row is still written, without the version
        log.debug("model version unavailable", exc_info=True)
    return None


async def citizen_state(sender_id: str, count: bool = True) -> tuple[bool, bool, dict[str, str] | None]:
    """(over the rate limit, first time over in this minute, handoff state) for a citizen's
    message, in one pipelined round trip on the event loop's Redis pool. These were two blocking
    calls in worker threads per message (thread hand-offs and two round trips, docs/performance.md).
    `count=False` (a crisis) neither counts the message nor limits it."""
    limit = settings.load().rate_limit_per_minute if count else 0
    r = store.async_client()
    try:
        pipe = r.pipeline(transaction=False)
        if limit > 0:  # per citizen across channels, per clock minute
            key = keys.rate(sender_id, int(time.time() // 60))
            pipe.incr(key)
            pipe.expire(key, 120)
        pipe.hgetall(keys.handoff(sender_id))
        results = await pipe.execute()
    finally:
        await r.close()
    state = results[-1] or None
    if limit <= 0:
        return False, False, state
    n = int(results[0])
    return n > limit, n == limit + 1, state


def inbound_row(
    msg: Incoming, intent: str | None, confidence: float | None, handled_by: str, crisis_intent: str | None
) -> db.InboundRecord:
    return db.InboundRecord(
        channel=msg.channel,
        sender_id=msg.sender_id,
        text=mask(msg.text)[:2000],
        intent=intent,
        confidence=confidence,
        handled_by=handled_by,
        crisis=crisis_intent,
    )


async def _inbound(
    output: GuardedOutputChannel,
    msg: Incoming,
    intent: str | None,
    confidence: float | None,
    handled_by: str,
    verdict: crisis.Verdict | None,
) -> None:
    await output.write_records(inbound_row(msg, intent, confidence, handled_by, verdict.intent if verdict else None))


async def _to_handed_off_ticket(
    msg: Incoming,
    state: dict[str, str],
    output: GuardedOutputChannel,
    verdict: crisis.Verdict | None,
    assessment: crisis.Assessment | None = None,
) -> bool:
    """The message goes to the agent's ticket; False when that ticket is gone or closed."""
    ticket_id = state["ticket_id"]
    ticket = await asyncio.to_thread(tickets.find, ticket_id)
    if ticket is None or not ticket.is_open:
        # the flag outlived its ticket (the desk stopped between closing and clearing it):
        # the bot answers this citizen again rather than nobody
        await asyncio.to_thread(handoff.end, msg.sender_id, ticket_id)
        return False
    await asyncio.to_thread(tickets.append, ticket_id, "citizen", msg.text)
    for att in msg.attachments:
        await asyncio.to_thread(tickets.add_attachment, ticket_id, att)
    await handoff.apublish(
        "citizen_message", ticket_id=ticket_id, sender_id=msg.sender_id, text=msg.text, department=ticket.department
    )
    if verdict is not None:
        priority = tickets.route(verdict.intent).priority
        await asyncio.to_thread(tickets.escalate, ticket_id, priority, verdict.intent)
        await handoff.apublish(
            "ticket_escalated",
            ticket_id=ticket_id,
            priority=priority,
            crisis=verdict.intent,
            department=ticket.department,
        )
        response = f"utter_crisis_{verdict.intent}"
        await output.send_approved(msg.sender_id, response, ticket_id=ticket_id)
        await asyncio.to_thread(tickets.append, ticket_id, "bot", catalogue.load().text(response, ticket_id=ticket_id))
    elif assessment is not None and assessment.band is crisis.Band.CHECK:
        # unsure while a person is on the ticket: the citizen gets the numbers at once, and the
        # agent, who reads the answer, decides (no urgent ticket on a guess)
        await output.send_approved(msg.sender_id, CHECK_RESPONSE)
        await asyncio.to_thread(tickets.append, ticket_id, "bot", catalogue.load().text(CHECK_RESPONSE))
    await _inbound(output, msg, None, None, "agent", verdict)
    return True


COMMENT_ACTION = "action_rating_comment"
COMMENT_INTENT = "rating_comment"  # recorded instead of the model's intent for a rating's comment
FORM_ACTION = "report_form"
FALLBACK_ACTION = "action_handle_fallback"
FORM_ANSWER_INTENT = "form_answer"  # recorded for an answer to the form's question the model did not place


def _unplaced(intent: str | None) -> bool:
    """An intent that says the model did not place the words as a request of their own."""
    if intent == "nlu_fallback":
        return True
    topic = topics.load().get(intent) if intent else None
    # abuse inside a form is still abuse (it is answered, and counted, as such)
    return topic is not None and topic.kind == "deflect" and intent != "abuse"


def _turn_ran(tracker: Any, action_name: str) -> bool:
    """Whether the latest turn (the events since the citizen's latest message) ran this action."""
    for event in reversed(tracker.events):
        if getattr(event, "type_name", "") == "user":
            return False
        if getattr(event, "action_name", None) == action_name:
            return True
    return False


async def handle_incoming(
    msg: Incoming,
    output: GuardedOutputChannel,
    on_new_message: Callable[[UserMessage], Awaitable[Any]],
    tracker_lookup: Callable[[str], Awaitable[Any]] | None = None,
) -> None:
    """The one path of a citizen's message, whatever the platform."""
    output.hold_records()
    try:
        await _handle_incoming(msg, output, on_new_message, tracker_lookup)
    finally:
        await output.flush_records()


async def _handle_incoming(
    msg: Incoming,
    output: GuardedOutputChannel,
    on_new_message: Callable[[UserMessage], Awaitable[Any]],
    tracker_lookup: Callable[[str], Awaitable[Any]] | None,
) -> None:
    msg.text = clean_text(msg.text)
    if msg.text.startswith("/EXTERNAL_"):
        # intents only the desk may trigger; typed by a citizen they are just words
        msg.text = msg.text.lstrip("/")
    cfg = settings.load()
    if not msg.text and not msg.attachments:
        await output.send_approved(msg.sender_id, "utter_empty_message")
        return
    # the same screening the NLU component runs (bot.core.crisis.assess); its embeddings are cached
    # per text, so Rasa's own screening of this message reuses them. Off the event loop: it embeds.
    assessment = await asyncio.to_thread(crisis.assess, msg.text)
    verdict = assessment.verdict
    try:
        over, first_over, state = await citizen_state(msg.sender_id, count=verdict is None)
    except store.ERRORS:
        log.error("Redis is unreachable: cannot check handoff or rate limit for %s", msg.sender_id)
        await output.send_approved(msg.sender_id, "utter_service_busy")
        await _inbound(output, msg, None, None, "bot", verdict)
        return
    if state and await _to_handed_off_ticket(msg, state, output, verdict, assessment):
        return
    if over:  # accepted and recorded, but not answered: a flood must not starve other citizens
        await _inbound(output, msg, None, None, "bot", None)
        if first_over:
            await output.send_approved(msg.sender_id, "utter_rate_limited")
        return
    if not msg.text:  # an image or file with no words
        await output.send_approved(msg.sender_id, "utter_unsupported_media")
        return
    text = msg.text
    metadata = dict(msg.metadata)
    truncated = False
    if len(text) > cfg.max_message_chars:
        # NLU reads the start; the whole text stays with the conversation for the ticket
        metadata["full_text"] = text
        text = text[: cfg.max_message_chars]
        truncated = True
    if msg.attachments:
        metadata["attachments"] = msg.attachments
    user_message = UserMessage(
        text, output, msg.sender_id, input_channel=msg.channel, message_id=msg.message_id, metadata=metadata
    )
    output.saved_tracker = None
    try:
        if truncated:  # say that nothing was lost before answering the start of it
            await output.send_approved(msg.sender_id, "utter_message_truncated")
        await on_new_message(user_message)
    except Exception:  # Redis down, action server down, model error: never a stack trace to a citizen
        log.exception("the bot could not handle a message from %s on %s", msg.sender_id, msg.channel)
        await output.send_approved(msg.sender_id, "utter_service_busy")
        await _inbound(output, msg, None, None, "bot", verdict)
        return
    intent, confidence = None, None
    saved = output.saved_tracker
    if saved is not None and getattr(saved, "sender_id", None) != msg.sender_id:
        saved = None  # an output shared between conversations: read this one's back
    if saved is not None or tracker_lookup is not None:
        try:
            tracker = saved
            if tracker is None and tracker_lookup is not None:
                tracker = await tracker_lookup(msg.sender_id)
            latest = (tracker.latest_message.intent or {}) if tracker else {}
            intent, confidence = latest.get("name"), latest.get("confidence")
            if intent == "faq":
                selector = (tracker.latest_message.parse_data or {}).get("response_selector", {})
                intent = (selector.get("faq", {}).get("response", {}) or {}).get("intent_response_key") or intent
            if tracker and _turn_ran(tracker, COMMENT_ACTION):
                # the comment after a rating: words the model did not place, but not a question the
                # bot failed to answer (the report's "unanswered" list is for the ops team)
                intent = COMMENT_INTENT
            elif (
                tracker
                and _unplaced(intent)
                and _turn_ran(tracker, FORM_ACTION)
                and not _turn_ran(tracker, FALLBACK_ACTION)
            ):
                # an address or a time given to the report form: the form took it as the answer
                # (slot from text), so it is neither a question the bot failed to answer nor a
                # deflection ("今天上午开始" reads as out of scope to the classifier)
                intent = FORM_ANSWER_INTENT
        except Exception:
            log.debug("no tracker for inbound record", exc_info=True)
    await _inbound(output, msg, intent, confidence, "bot", verdict)
