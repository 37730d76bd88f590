"""Demo data: a realistic day at the 12345 front door, played through the running stack.

    make run            # in one terminal
    make seed           # in another: ~60 conversations, then `make report`

Every conversation is played the way a real one happens — citizens write to the Rasa server (the
REST channel, and the web chat over socket.io when it is there), agents work in the desk's API —
so that each record the report counts was written by the product itself; nothing is written to
the database here. The mix: FAQ questions (some rated “有帮助吗”), reports filed end to end
(some handled and closed by a department, then rated), deflections, a crisis taken over by an
agent, requests for a person that agents claim, answer and close, questions the bot cannot
answer (some ending with a person), ticket status look-ups.

The citizen side is reactive: it reads which approved response each reply is (bot.core.catalogue)
and answers what it is asked (the report form's questions, the rating buttons), so the seed
follows the bot instead of assuming it. tests/bot/reports/test_figures.py uses the same driver.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import sys
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bot.core import catalogue, topics
from bot.infra import settings

log = logging.getLogger("seed")
AGENTS = ("王芳", "李娜", "赵磊", "陈静")
# what citizens answer when asked to rate a closed ticket (None: they do not answer)
REPORT_RATINGS = ("满意", "基本满意", None, "不满意")
HANDOFF_RATINGS = ("满意", "满意", "基本满意", "不满意", "满意", None)


class SeedError(Exception):
    """The bot did not do what the scenario expected (the message says what it did instead)."""


class NotUnderstood(SeedError):
    """The bot took a citizen's wording for something else; a citizen would rephrase."""


@dataclass
class Reply:
    text: str
    buttons: list[dict[str, Any]]
    response: str | None  # the approved response this text is (None: not in the catalogue)
    slots: dict[str, str]
    agent: str | None = None


def parse_reply(message: dict[str, Any]) -> Reply:
    text = str(message.get("text") or "")
    buttons = message.get("buttons") or [
        {"title": q.get("title"), "payload": q.get("payload")} for q in message.get("quick_replies") or []
    ]
    found = catalogue.load().match_detail(text) if message.get("from") != "agent" else None
    return Reply(text, buttons, found.name if found else None, found.slots if found else {}, message.get("agent"))


# ------------------------------------------------------------------------------------ citizens
class Citizen:
    """One citizen on one channel: say, click a button, wait for what the desk sends."""

    channel = "?"

    def __init__(self) -> None:
        self.sender_id = ""
        self.replies: list[Reply] = []
        self.said: list[str] = []

    async def open(self) -> None:  # most channels need no connection
        pass

    async def close(self) -> None:
        pass

    async def _send(self, text: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def _poll(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def say(self, text: str) -> list[Reply]:
        self.said.append(text)
        got = [parse_reply(m) for m in await self._send(text)]
        self.replies += got
        return got

    async def click(self, title: str) -> list[Reply]:
        """Press the button with this title on the latest message that offered it."""
        for reply in reversed(self.replies):
            for b in reply.buttons:
                if b.get("title") == title:
                    return await self.say(str(b.get("payload") or title))
        raise SeedError(f"no button {title!r}; last replies: {self.names()[-4:]}")

    async def wait_for(self, response: str, since: int = 0, timeout: float = 20.0) -> Reply:
        """Until a message the desk caused (agent joined, closing, rating) has arrived: one of
        the replies from index `since` on (REST: it waits in the outbox until polled)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = next((r for r in self.replies[since:] if r.response == response), None)
            if found is not None:
                return found
            if asyncio.get_running_loop().time() > deadline:
                raise SeedError(f"{response} did not arrive; last replies: {self.names()[-4:]}")
            self.replies += [parse_reply(m) for m in await self._poll()]
            await asyncio.sleep(0.1)

    def names(self) -> list[str | None]:
        return [r.response for r in self.replies]

    def last(self, response: str) -> Reply | None:
        return next((r for r in reversed(self.replies) if r.response == response), None)


class RestCitizen(Citizen):
    channel = "rest"

    def __init__(self, http: aiohttp.ClientSession, rasa_url: str, sender_id: str) -> None:
        super().__init__()
        self.http, self.url, self.sender_id = http, rasa_url.rstrip("/"), sender_id
        self.message_id: str | None = None  # when set, sent as the REST body's `message_id`

    async def _send(self, text: str) -> list[dict[str, Any]]:
        body = {"sender": self.sender_id, "message": text}
        if self.message_id:
            body["message_id"] = self.message_id
        async with self.http.post(f"{self.url}/webhooks/rest/webhook", json=body) as resp:
            if resp.status >= 400:
                raise SeedError(f"REST answered {resp.status}: {await resp.text()}")
            return list(await resp.json())

    async def _poll(self) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.url}/webhooks/rest/poll", params={"sender": self.sender_id}) as resp:
            return list(await resp.json()) if resp.status < 400 else []


class WebChatCitizen(Citizen):
    """The web chat page's protocol (channels/socketio.py) with python-socketio's client."""

    channel = "socketio"

    def __init__(self, rasa_url: str) -> None:
        super().__init__()
        self.url = rasa_url.rstrip("/")
        self.inbox: list[dict[str, Any]] = []
        self.sio: Any = None
        self.pending: list[dict[str, Any]] = []

    async def open(self) -> None:
        import socketio

        self.sio = socketio.AsyncClient(reconnection=False)
        confirmed = asyncio.Event()

        @self.sio.on("session_confirm")
        async def _confirm(data: dict[str, Any]) -> None:
            self.sender_id = data["session_id"]
            confirmed.set()

        @self.sio.on("bot_uttered")
        async def _uttered(data: dict[str, Any]) -> None:
            self.inbox.append(data)

        await self.sio.connect(self.url, socketio_path="/socket.io", transports=["polling"], wait_timeout=10)
        await self.sio.emit("session_request", {})
        await asyncio.wait_for(confirmed.wait(), 10)
        await self._settle()
        self.replies += [parse_reply(m) for m in self._take()]  # the greeting

    async def close(self) -> None:
        if self.sio is not None:
            with contextlib.suppress(Exception):
                await self.sio.disconnect()

    def _take(self) -> list[dict[str, Any]]:
        out, self.inbox = self.inbox, []
        return out

    async def _settle(self, quiet: float = 0.3) -> None:
        """Replies are emitted while the message is handled; wait until they stop coming."""
        n = -1
        while n != len(self.inbox):
            n = len(self.inbox)
            await asyncio.sleep(quiet)

    async def _send(self, text: str) -> list[dict[str, Any]]:
        ack = await self.sio.call("user_uttered", {"message": text, "id": uuid.uuid4().hex[:16]}, timeout=60)
        if isinstance(ack, dict) and ack.get("ok") is False:
            raise SeedError(f"web chat refused the message: {ack}")
        await self._settle()
        return self._take()

    async def _poll(self) -> list[dict[str, Any]]:
        await self._settle(0.2)
        return self._take()


# ----------------------------------------------------------------------------------------- desk
class Desk:
    """The desk's JSON API as an agent uses it (service token; the agent named in X-Agent)."""

    def __init__(self, http: aiohttp.ClientSession, desk_url: str, token: str) -> None:
        self.http, self.url, self.token = http, desk_url.rstrip("/"), token

    async def call(self, method: str, path: str, agent: str = "api", body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", "X-Agent": agent}
        async with self.http.request(method, f"{self.url}{path}", json=body, headers=headers) as resp:
            data = await resp.json(content_type=None)
            if resp.status >= 400:
                raise SeedError(f"desk {method} {path} -> {resp.status}: {data}")
            return data

    async def tickets(self, sender_id: str) -> list[dict[str, Any]]:
        return list(await self.call("GET", f"/api/tickets?sender_id={sender_id}&brief=1"))

    async def claim(self, ticket_id: str, agent: str) -> Any:
        return await self.call("POST", f"/api/tickets/{ticket_id}/claim", agent)

    async def reply(self, ticket_id: str, agent: str, text: str) -> Any:
        return await self.call("POST", f"/api/tickets/{ticket_id}/reply", agent, {"text": text})

    async def close(self, ticket_id: str, agent: str, resolution: str) -> Any:
        return await self.call("POST", f"/api/tickets/{ticket_id}/close", agent, {"resolution": resolution})


# ------------------------------------------------------------------------------------ scenarios
def examples(intent: str) -> list[str]:
    """Citizens' wordings of an intent from the NLU data (what the bot was built to understand)."""
    return _examples().get(intent, [])


@lru_cache(maxsize=1)
def _examples() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted((settings.DATA / "nlu").glob("*.yml")):
        for item in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
            if "intent" in item:
                lines = [
                    x[2:].strip() for x in str(item.get("examples") or "").splitlines() if x.strip().startswith("- ")
                ]
                found.setdefault(str(item["intent"]), []).extend(x for x in lines if "[" not in x)
    return found


def expect(c: Citizen, response: str, what: str) -> Reply:
    r = c.last(response)
    if r is None:
        raise SeedError(f"{what}: expected {response}, the bot said {c.names()[-4:]}")
    return r


async def ask_faq(c: Citizen, text: str, helpful: str | None) -> str | None:
    """A question answered from the catalogue; `helpful`: the button pressed (有帮助/没帮助) or None."""
    got = await c.say(text)
    faq = next((r.response for r in got if (r.response or "").startswith("utter_faq/")), None)
    if faq is None:
        raise NotUnderstood(f"FAQ {text!r} was not answered: {[r.response for r in got]}")
    if helpful and any(r.response == "utter_ask_helpful" for r in got):
        await c.click(helpful)
    return faq


REPORT_ANSWERS = {
    "utter_ask_report_where": "示例区建设路88号",
    "utter_ask_report_when": "今天上午开始，现在还在持续",
}


async def file_report(
    c: Citizen, text: str, *, what: str | None = None, callback: bool = False, phone: str = "13800138000"
) -> str:
    """A report filed end to end, answering the form's questions as they come; returns the ticket id."""
    got = await c.say(text)
    if not any((r.response or "").startswith(("utter_ask_report_", "utter_report_")) for r in got):
        raise NotUnderstood(f"report {text!r}: the bot said {[r.response for r in got]}")
    for _ in range(10):
        names = [r.response for r in got]
        if "utter_report_filed" in names:
            return expect(c, "utter_report_filed", text).slots["ticket_id"]
        asked = next(
            (n for n in reversed(names) if n and (n.startswith("utter_ask_report_") or n == "utter_invalid_phone")),
            None,
        )
        if asked == "utter_ask_report_what":
            got = await c.say(what or text)
        elif asked in REPORT_ANSWERS:
            got = await c.say(REPORT_ANSWERS[asked])
        elif asked == "utter_ask_report_callback":
            got = await c.click(
                "需要回电" if callback else next(b["title"] for b in c.replies[-1].buttons if b["title"] != "需要回电")
            )
        elif asked in ("utter_ask_report_phone", "utter_invalid_phone"):
            got = await c.say(phone)
        elif asked == "utter_ask_report_id_number":
            got = await c.click("不想提供")
        elif "utter_report_confirm" in names:
            got = await c.click("确认提交")
        else:
            raise SeedError(f"report {text!r}: unexpected {names}")
    raise SeedError(f"report {text!r} was never filed")


async def rate(c: Citizen, rating: str | None, since: int = 0, comment: str | None = None) -> None:
    """After the desk closed the ticket: the bot asks for a rating; the citizen may ignore it.
    After a rating the bot invites one comment: `comment` is said, "" presses 不用了, None ignores it."""
    await c.wait_for("utter_ask_satisfaction", since)
    if rating:
        await c.click(rating)
        if c.replies[-1].response != "utter_thanks_for_rating":
            raise SeedError(f"rating {rating}: the bot said {c.names()[-3:]}")
        if comment == "":
            await c.click("不用了")
            expected = "utter_rating_comment_skipped"
        elif comment:
            await c.say(comment)
            expected = "utter_thanks_for_comment"
        else:
            return
        if c.replies[-1].response != expected:
            raise SeedError(f"comment {comment!r}: the bot said {c.names()[-3:]}")


async def agent_handles(
    desk: Desk,
    c: Citizen,
    ticket_id: str,
    agent: str,
    replies: list[str],
    resolution: str,
    *,
    live: bool,
    citizen_says: str | None = None,
) -> int:
    """An agent claims, answers and closes a ticket; `live`: the citizen is in the conversation
    and is told that a person joined. Returns where the citizen's replies stood before closing."""
    mark = len(c.replies)
    await desk.claim(ticket_id, agent)
    if live:
        await c.wait_for("utter_agent_joined", mark)
        if citizen_says:
            await c.say(citizen_says)  # goes to the agent, not to the bot
    for text in replies:
        await desk.reply(ticket_id, agent, text)
    mark = len(c.replies)
    await desk.close(ticket_id, agent, resolution)
    return mark


async def rephrased(attempt: Callable[[], Awaitable[Any]], tries: int = 2) -> Any:
    """A citizen who is misunderstood says it again in other words (the miss stays in the records)."""
    for n in range(tries):
        try:
            return await attempt()
        except NotUnderstood:
            if n == tries - 1:
                raise
    return None


def handoff_ticket(c: Citizen) -> str:
    for name in ("utter_handoff", "utter_handoff_after_hours"):
        r = c.last(name)
        if r is not None:
            return r.slots["ticket_id"]
    raise SeedError(f"no handoff: the bot said {c.names()[-4:]}")


def crisis_ticket(c: Citizen) -> str:
    r = next((r for r in reversed(c.replies) if (r.response or "").startswith("utter_crisis_")), None)
    if r is None or "ticket_id" not in r.slots:
        raise SeedError(f"no crisis answer: the bot said {c.names()[-4:]}")
    return r.slots["ticket_id"]


# ------------------------------------------------------------------------------------- the day
UNANSWERED = [  # outside the catalogue: the ops team should see them grouped in the report
    "小区门口能装个快递柜吗",
    "小区里能不能加装快递柜",
    "楼下装个快递柜行不行",
    "能不能在我们小区装充电桩",
    "小区能装电动车充电桩吗",
    "养犬登记",
    "路边停车怎么收费",
    "地铁几号线到火车站",
]
AGENT_REPLIES = [
    "您好，我是12345热线工作人员，已看到您反映的情况，正在为您核实。",
    "已为您联系承办部门，相关部门会尽快处理，请您保持电话畅通。",
]
RESOLUTIONS = ["已电话回复市民并告知办理渠道", "已转承办部门办理，市民表示认可", "已解答市民咨询"]


@dataclass
class Tally:
    counts: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


Scenario = Callable[[Citizen, Desk, random.Random], Awaitable[str]]


def faq_topics() -> list[str]:
    return [t.intent for t in topics.load().of_kind("faq") if examples(t.intent)]


def scenario_faq(helpful: str | None, follow_up: bool = False) -> Scenario:
    async def play(c: Citizen, desk: Desk, rng: random.Random) -> str:
        pool = faq_topics()
        topic = rng.choice(pool)
        if rng.random() < 0.3:
            await c.say(rng.choice(examples("greet") or ["你好"]))
        await rephrased(lambda: ask_faq(c, rng.choice(examples(topic)), helpful))
        if follow_up:
            await ask_faq(c, rng.choice(examples(rng.choice(pool))), None)
        if rng.random() < 0.4:
            await c.say(rng.choice(examples("thank") or ["谢谢"]))
        return "faq"

    return play


# what citizens write when invited to comment on a rating, by rating
COMMENTS = {
    "满意": ["工作人员很耐心，处理得也及时", "服务态度很好"],
    "基本满意": ["处理结果还可以，就是等的时间有点长", "希望以后能再快一点"],
    "不满意": ["回复太慢了，等了好久", "问题还是没有彻底解决"],
}


def _comment(rng: random.Random, rating: str | None) -> str | None:
    """About a third comment, a third press 不用了, a third ignore the invitation."""
    if not rating:
        return None
    return rng.choice([None, "", rng.choice(COMMENTS[rating])])


def scenario_report(handled: bool, rating: str | None) -> Scenario:
    async def play(c: Citizen, desk: Desk, rng: random.Random) -> str:
        intent = rng.choice([t.intent for t in topics.load().of_kind("report") if t.intent != "report_wage_arrears"])
        long_ones = [x for x in examples(intent) if len(x) >= 12] or examples(intent)
        callback = rng.random() < 0.5
        ticket_id = await rephrased(lambda: file_report(c, rng.choice(long_ones), callback=callback))
        if handled:
            agent = rng.choice(AGENTS)
            mark = await agent_handles(
                desk,
                c,
                ticket_id,
                agent,
                ["您好，您反映的问题承办部门已安排人员现场核查处理。"],
                "承办部门已现场处理，问题已解决",
                live=False,
            )
            await rate(c, rating, mark, _comment(rng, rating))
        return "report"

    return play


def scenario_handoff(rating: str | None, via_fallback: bool = False) -> Scenario:
    async def play(c: Citizen, desk: Desk, rng: random.Random) -> str:
        if via_fallback:
            # two questions the bot cannot answer, then it offers a person and the citizen accepts
            for text in rng.sample(UNANSWERED, 3):
                await c.say(text)
                if c.replies and c.replies[-1].response == "utter_offer_human":
                    break
            await c.say("好的" if c.last("utter_offer_human") else "转人工")
            if not (c.last("utter_handoff") or c.last("utter_handoff_after_hours")):
                await c.say("转人工")  # the offer was not taken as accepted: ask plainly
        else:
            if rng.random() < 0.5:
                await ask_faq(c, rng.choice(examples(rng.choice(faq_topics()))), None)
            await c.say(rng.choice(["转人工", "人工服务", "我要找人工"]))
        ticket_id = handoff_ticket(c)
        agent = rng.choice(AGENTS)
        mark = await agent_handles(
            desk,
            c,
            ticket_id,
            agent,
            AGENT_REPLIES[: rng.randint(1, 2)],
            rng.choice(RESOLUTIONS),
            live=True,
            citizen_says="好的，麻烦您了",
        )
        await rate(c, rating, mark, _comment(rng, rating))
        return "handoff_fallback" if via_fallback else "handoff"

    return play


def scenario_deflect(intent: str) -> Scenario:
    async def play(c: Citizen, desk: Desk, rng: random.Random) -> str:
        async def once() -> None:
            got = await c.say(rng.choice(examples(intent)))
            if not any(r.response == f"utter_{intent}" for r in got):
                raise NotUnderstood(f"deflection {intent}: the bot said {[r.response for r in got]}")

        await rephrased(once)
        return "deflect"

    return play


def scenario_crisis(intent: str, rating: str | None) -> Scenario:
    async def play(c: Citizen, desk: Desk, rng: random.Random) -> str:
        await c.say(rng.choice(examples(intent)))
        ticket_id = crisis_ticket(c)
        mark = await agent_handles(
            desk,
            c,
            ticket_id,
            "陈静",
            [
                "您好，我是12345热线工作人员，我一直在这里陪着您。您现在安全吗？",
                "已为您联系相关部门，工作人员会尽快与您联系，您随时可以拨打12356心理援助热线。",
            ],
            "已转介心理援助热线并联系属地工作人员",
            live=True,
            citizen_says="我现在在家",
        )
        await rate(c, rating, mark)
        return "crisis"

    return play


def scenario_unanswered() -> Scenario:
    async def play(c: Citizen, desk: Desk, rng: random.Random) -> str:
        await c.say(rng.choice(UNANSWERED))
        return "unanswered"

    return play


def scenario_status() -> Scenario:
    async def play(c: Citizen, desk: Desk, rng: random.Random) -> str:
        await c.say(rng.choice(["工单进度", "我的工单办得怎么样了", "查询工单"]))
        return "status"

    return play


def day_plan(rng: random.Random) -> list[tuple[str, Scenario]]:
    """About 60 conversations in the proportions of an ordinary day."""
    plan: list[tuple[str, Scenario]] = []
    for i in range(26):
        helpful = ("有帮助", "有帮助", "有帮助", "没帮助", None, None)[i % 6]
        plan.append(("faq", scenario_faq(helpful, follow_up=i % 5 == 0)))
    for i in range(8):
        plan.append(
            ("report", scenario_report(handled=i < len(REPORT_RATINGS), rating=REPORT_RATINGS[i % len(REPORT_RATINGS)]))
        )
    for intent in ("out_of_scope", "out_of_scope", "private_matter", "private_matter", "unreasonable_demand", "abuse"):
        plan.append(("deflect", scenario_deflect(intent)))
    plan.append(("crisis", scenario_crisis("self_harm", "满意")))
    plan.append(("crisis", scenario_crisis("emergency", None)))
    for i in range(6):
        plan.append(("handoff", scenario_handoff(rating=HANDOFF_RATINGS[i])))
    plan.append(("handoff", scenario_handoff(rating="基本满意", via_fallback=True)))
    for _ in range(7):
        plan.append(("unanswered", scenario_unanswered()))
    for _ in range(3):
        plan.append(("status", scenario_status()))
    rng.shuffle(plan)
    return plan


async def play_day(
    rasa_url: str,
    desk_url: str,
    token: str,
    *,
    seed: int = 12345,
    webchat_share: float = 0.35,
    limit: int | None = None,
    parallel: int = 4,
) -> Tally:
    """Play the day; `parallel` citizens at a time, as on a real line (and the day goes faster)."""
    tally = Tally()
    run = uuid.uuid4().hex[:6]
    timeout = aiohttp.ClientTimeout(total=120)
    gate = asyncio.Semaphore(max(parallel, 1))
    async with aiohttp.ClientSession(timeout=timeout) as http:
        desk = Desk(http, desk_url, token)
        webchat = webchat_share > 0 and await _webchat_available(rasa_url)
        plan = day_plan(random.Random(seed))[:limit]  # noqa: S311 - a reproducible demo, not security

        async def one(n: int, kind: str, play: Scenario) -> None:
            rng = random.Random(f"{seed}-{n}")  # noqa: S311 - each conversation its own, whatever the order
            citizen: Citizen
            if webchat and rng.random() < webchat_share:
                citizen = WebChatCitizen(rasa_url)
            else:
                citizen = RestCitizen(http, rasa_url, f"demo-{run}-{n:03d}")
            async with gate:
                try:
                    await citizen.open()
                    await play(citizen, desk, rng)
                    tally.counts[f"{kind}@{citizen.channel}"] += 1
                    line = "ok"
                except (SeedError, aiohttp.ClientError, TimeoutError, OSError) as exc:
                    tally.failures.append(f"{kind}: {exc}")
                    line = f"did not go as planned: {exc} (said {citizen.said})"
                finally:
                    await citizen.close()
            sys.stdout.write(f"[{n:2d}/{len(plan)}] {kind:10s} {citizen.channel:8s} {line}\n")
            sys.stdout.flush()

        await asyncio.gather(*(one(n, kind, play) for n, (kind, play) in enumerate(plan, 1)))
    return tally


async def _webchat_available(rasa_url: str) -> bool:
    c = WebChatCitizen(rasa_url)
    try:
        await asyncio.wait_for(c.open(), 15)
        return bool(c.sender_id)
    except Exception as exc:  # no socket.io channel on this server: REST only
        log.warning("web chat not available (%s): every conversation goes through REST", exc)
        return False
    finally:
        await c.close()


def main(argv: list[str] | None = None) -> int:
    cfg = settings.load()
    parser = argparse.ArgumentParser(
        prog="python -m bot.ops.seed", description="通过运行中的系统演示一天的对话，然后生成当天的监督报告"
    )
    parser.add_argument("--rasa", default=cfg.rasa_url, help=f"Rasa server (default {cfg.rasa_url})")
    parser.add_argument("--desk", default=f"http://127.0.0.1:{cfg.desk_port}", help="desk URL")
    parser.add_argument("--token", default=cfg.desk_api_token, help="desk API token (DESK_API_TOKEN)")
    parser.add_argument("--seed", type=int, default=12345, help="random seed (the same seed plays the same day)")
    parser.add_argument(
        "--webchat-share", type=float, default=0.35, help="share of citizens on the web chat (0: REST only)"
    )
    parser.add_argument("--limit", type=int, default=None, help="play only the first N conversations")
    parser.add_argument("--parallel", type=int, default=4, help="citizens talking at the same time")
    parser.add_argument(
        "--database-url", default=None, help="the stack's database, for the report (default DATABASE_URL)"
    )
    parser.add_argument("--no-report", action="store_true", help="do not write today's report afterwards")
    parser.add_argument("--out", type=Path, default=settings.ROOT / "results", help="where the report goes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    tally = asyncio.run(
        play_day(
            args.rasa,
            args.desk,
            args.token,
            seed=args.seed,
            webchat_share=args.webchat_share,
            limit=args.limit,
            parallel=args.parallel,
        )
    )
    summary = json.dumps(dict(sorted(tally.counts.items())), ensure_ascii=False)
    sys.stdout.write(f"played: {summary}\n")
    if tally.failures:
        # the bot misunderstood a wording twice, or a step failed: the conversation is still in
        # the records (and in the report), only not the way the plan had it
        sys.stdout.write(f"{len(tally.failures)} conversation(s) did not go as planned (see above)\n")
    if not args.no_report and tally.counts:
        from bot.reports.figures import compute
        from bot.reports.files import write
        from bot.reports.records import default_range

        today = default_range()[1]
        url = args.database_url or cfg.sqlalchemy_url
        html_path, csv_path = write(compute(url, today, today), args.out)
        sys.stdout.write(f"report: {html_path}\n        {csv_path}\n")
        sys.stdout.write(f"also on the desk: {args.desk}/supervisor (a supervisor account, e.g. super01)\n")
    return 1 if not tally.counts else 0


if __name__ == "__main__":
    raise SystemExit(main())
