"""Several Rasa processes on one Redis and one database, behind nginx (deploy/nginx/hotline.conf):
any process can take any message of any citizen.

Two Rasa processes (A and B) with the same settings, one action server, the WeChat stand-in for
WeChat's API. A citizen whose messages land on A and B in turn keeps the conversation and its
order; a WeChat retry that lands on the other process is still answered once; nginx spreads the
load over both and answers politely when neither can.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from bot.stack.processes import NGINX_CONF, NginxServer, Stack, nginx_binary, render_nginx, request_json, start_cluster
from bot.stack.standins.wechat import WeChatStandIn

TOKEN = "scale-wechat-token"
APPID = "wx5ca1e0000000000a"
ACCOUNT = "gh_5ca1e0000001"


def test_the_busy_answer_nginx_gives_is_the_approved_one() -> None:
    """nginx cannot ask the catalogue: deploy/nginx/busy.conf is generated from it and must match."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("render_busy", NGINX_CONF.parent / "render_busy.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (NGINX_CONF.parent / "busy.conf").read_text(encoding="utf-8")
    assert committed == module.busy_conf(), "run: PYTHONPATH=. .venv/bin/python deploy/nginx/render_busy.py"


def test_rendering_for_loopback_keeps_every_upstream_parameter() -> None:
    site = render_nginx(
        NGINX_CONF.read_text(), {"rasa": [1111, 2222], "rasa_socketio": [1111, 2222]}, 3333, NGINX_CONF.parent
    )
    assert "server 127.0.0.1:1111 max_fails=1 fail_timeout=5s;" in site
    assert "server 127.0.0.1:2222 max_fails=1 fail_timeout=5s;" in site
    assert "rasa-1:5005" not in site and "rasa-2:5005" not in site and "listen 127.0.0.1:3333;" in site
    assert "keepalive 32;" in site and "hash $remote_addr consistent;" in site


def test_the_production_recipe_runs_every_rasa_process_behind_nginx_on_a_durable_redis() -> None:
    """deploy/docker-compose.yml and the nginx configuration tell the same story."""
    import yaml

    deploy = NGINX_CONF.parent.parent
    compose = yaml.safe_load((deploy / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    rasa = sorted(n for n, s in services.items() if s.get("command", [])[-1:] == ["rasa"])
    assert len(rasa) >= 2
    upstream = re.search(r"upstream rasa \{(.*?)\}", NGINX_CONF.read_text(), re.S)
    assert upstream is not None
    assert sorted(re.findall(r"server (\S+):5005", upstream.group(1))) == rasa
    for name in rasa:  # every process knows every other one for `make ship`
        urls = services[name]["environment"]["RASA_URLS"].split(",")
        assert sorted(u.split("//")[1].split(":")[0] for u in urls) == rasa
    for name in (*rasa, "actions", "desk"):
        env = services[name]["environment"]
        assert env["APP_ENV"] == "production" and env["REDIS_URL"].startswith("redis://:")
        assert env["DATABASE_URL"].startswith("postgresql") and services[name]["restart"] == "unless-stopped"
    redis_conf = (deploy / "redis.conf").read_text()
    for line in ("appendonly yes", "appendfsync everysec", "maxmemory-policy noeviction"):
        assert line in redis_conf.splitlines()
    assert "/data" in " ".join(services["redis"]["volumes"])


# ------------------------------------------------------------------------------------ the cluster
@dataclass
class Cluster:
    stack: Stack
    a: str  # Rasa process A
    b: str  # Rasa process B
    nginx: NginxServer
    standin: WeChatStandIn

    def user_texts(self, sender: str) -> list[str]:
        status, tracker = request_json("GET", f"{self.a}/conversations/{sender}/tracker")
        assert status == 200, tracker
        return [e["text"] for e in tracker["events"] if e.get("event") == "user"]

    def tickets(self, sender: str) -> list[tuple[str, str, str | None]]:
        with sqlite3.connect(self.stack.workdir / "hotline.db") as db:
            rows = db.execute("SELECT id, description, location FROM tickets WHERE sender_id = ?", (sender,))
            return list(rows.fetchall())


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if nginx_binary() is None:
        pytest.fail("nginx is not installed: run `make nginx` (Debian's package)")
    standin = WeChatStandIn(appid=APPID).start()
    env = {"WECHAT_TOKEN": TOKEN, "WECHAT_APPID": APPID, "WECHAT_APPSECRET": standin.secret,
           "WECHAT_API_BASE": standin.base_url, "WECHAT_AES_KEY": ""}  # fmt: skip
    try:
        stack, names, nginx = start_cluster(2, extra_env=env)
    except Exception:
        standin.stop()
        raise
    assert nginx is not None
    try:
        yield Cluster(stack, stack.rasa_url, f"http://127.0.0.1:{stack.rasa_ports[names[1]]}", nginx, standin)
    finally:
        nginx.stop()
        stack.stop()
        standin.stop()


class AlternatingCitizen:
    """A REST citizen whose every message goes to the next process in turn (bot.ops.seed's driver)."""

    def __new__(cls, http: aiohttp.ClientSession, urls: list[str], sender_id: str) -> Any:
        from bot.ops.seed import RestCitizen

        class _Citizen(RestCitizen):
            hops = 0

            async def _send(self, text: str) -> list[dict[str, Any]]:
                self.url = urls[self.hops % len(urls)].rstrip("/")
                self.hops += 1
                return await super()._send(text)

        return _Citizen(http, urls[0], sender_id)


@pytest.mark.stack
async def test_a_report_filed_across_two_processes_keeps_its_conversation_and_order(cluster: Cluster) -> None:
    from bot.ops.seed import file_report

    sender = f"scale-{uuid.uuid4().hex[:8]}"
    what = "楼下烧烤店每天半夜还在营业特别吵"
    async with aiohttp.ClientSession() as http:
        citizen = AlternatingCitizen(http, [cluster.a, cluster.b], sender)
        ticket_id = await file_report(citizen, "我要投诉噪音", what=what)
    assert citizen.hops >= 5  # the form's questions were answered on A and B in turn
    # every answer was the bot's (a process that lost the conversation would start over)
    assert "utter_service_busy" not in citizen.names()
    assert cluster.user_texts(sender) == citizen.said
    tickets = cluster.tickets(sender)
    assert [t[0] for t in tickets] == [ticket_id]
    # what was said on A and on B is all in the ticket
    assert tickets[0][1].startswith(what) and tickets[0][2] == "示例区建设路88号"


@pytest.mark.stack
async def test_messages_sent_at_once_to_both_processes_are_all_handled_in_arrival_order(cluster: Cluster) -> None:
    """A citizen who types fast: the second message reaches B while A still handles the first.
    The conversation lock in Redis makes B wait; both are answered, in order, none is lost."""
    from bot.core import catalogue

    cat = catalogue.load()
    async with aiohttp.ClientSession() as http:

        async def send(url: str, sender: str, text: str, delay: float) -> list[str]:
            await asyncio.sleep(delay)
            async with http.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": text}) as r:
                assert r.status == 200
                return [m.get("text", "") for m in await r.json()]

        for i in range(4):
            sender = f"scale-fast-{i}-{uuid.uuid4().hex[:6]}"
            first, second = "社保卡怎么办理", "公积金租房能提取吗"
            answers = await asyncio.gather(send(cluster.a, sender, first, 0.0), send(cluster.b, sender, second, 0.05))
            for texts in answers:
                assert texts and cat.text("utter_service_busy") not in texts, texts
            assert cluster.user_texts(sender) == [first, second]


@pytest.mark.stack
async def test_messages_arriving_at_the_same_instant_on_both_processes_are_both_kept(cluster: Cluster) -> None:
    """The moment Rasa's stock RedisLockStore gets wrong (read-modify-write from two processes:
    both take the first ticket, run at once, and one turn's save drops the other's message)."""
    from bot.core import catalogue

    busy = catalogue.load().text("utter_service_busy")
    async with aiohttp.ClientSession() as http:

        async def send(url: str, sender: str, text: str) -> list[str]:
            async with http.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": text}) as r:
                assert r.status == 200
                return [m.get("text", "") for m in await r.json()]

        for i in range(6):
            sender = f"scale-same-{i}-{uuid.uuid4().hex[:6]}"
            pair = ["社保卡丢了怎么补办", "公积金怎么提取"]
            answers = await asyncio.gather(send(cluster.a, sender, pair[0]), send(cluster.b, sender, pair[1]))
            assert all(texts and busy not in texts for texts in answers), answers
            assert sorted(cluster.user_texts(sender)) == sorted(pair)


# ------------------------------------------------------------------------------------ WeChat
def _signed(token: str) -> dict[str, str]:
    ts, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    return {
        "timestamp": ts,
        "nonce": nonce,
        "signature": hashlib.sha1("".join(sorted((token, ts, nonce))).encode()).hexdigest(),
    }


def _text_xml(openid: str, content: str, msg_id: str) -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    ).encode()


async def _wechat(http: aiohttp.ClientSession, url: str, body: bytes) -> tuple[int, str]:
    async with http.post(f"{url}/webhooks/wechat/", params=_signed(TOKEN), data=body) as r:
        return r.status, await r.text()


def _content(xml: str) -> str | None:
    m = re.search(r"<Content><!\[CDATA\[(.*)\]\]></Content>", xml, re.S)
    return m.group(1) if m else None


@pytest.mark.stack
async def test_a_wechat_retry_landing_on_the_other_process_is_answered_once(cluster: Cluster) -> None:
    openid = "o" + uuid.uuid4().hex[:27]
    body = _text_xml(openid, "社保卡丢了怎么补办", str(uuid.uuid4().int % 10**19))
    async with aiohttp.ClientSession() as http:
        status_a, first = await _wechat(http, cluster.a, body)
        # WeChat did not get (or gave up on) A's answer and delivers the same message again: to B
        status_b, retry = await _wechat(http, cluster.b, body)
    assert status_a == status_b == 200
    assert _content(first), first
    assert _content(retry) == _content(first)  # the same reply again, not a second turn
    await asyncio.sleep(1.0)
    assert cluster.user_texts(openid) == ["社保卡丢了怎么补办"]
    assert cluster.standin.sent_to(openid) == []  # and nothing pushed on top of it


# ------------------------------------------------------------------------------------ nginx
@pytest.mark.stack
async def test_nginx_spreads_citizens_over_both_processes(cluster: Cluster) -> None:
    from bot.core import catalogue

    cat = catalogue.load()
    sender = f"scale-lb-{uuid.uuid4().hex[:6]}"
    said = ["你好", "社保卡怎么办理", "公积金租房能提取吗", "谢谢", "医保卡丢了怎么办", "再见"]
    async with aiohttp.ClientSession() as http:
        for text in said:
            async with http.post(
                f"{cluster.nginx.url}/webhooks/rest/webhook", json={"sender": sender, "message": text}
            ) as r:
                assert r.status == 200
                texts = [m.get("text", "") for m in await r.json()]
                assert texts and cat.text("utter_service_busy") not in texts
    assert cluster.user_texts(sender) == said
    upstreams = set(re.findall(r"upstream=(127\.0\.0\.1:\d+)", cluster.nginx.access_log()))
    assert len(upstreams) == 2, cluster.nginx.access_log()[-2000:]


@pytest.mark.stack
def test_rasa_api_is_not_public_behind_nginx(cluster: Cluster) -> None:
    status, _ = request_json("POST", f"{cluster.nginx.url}/model/parse", {"text": "你好"})
    assert status == 404
    status, _ = request_json("GET", f"{cluster.nginx.url}/conversations/x/tracker")
    assert status == 404
    status, _ = request_json("POST", f"{cluster.a}/model/parse", {"text": "你好"})
    assert status == 200  # the processes themselves still serve the desk and ops
