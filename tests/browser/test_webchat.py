"""The web chat in a real browser: Playwright driving Debian's chromium against the real stack.

Covers what a citizen does and sees: ask and read the answer, press a button, reload and find the
conversation, an agent's message (marked as a person) and the line when a person joins, a
network drop with messages typed meanwhile, the one-tag widget on another site, and what
elderly citizens need (large text, high contrast, phone width, labels, keyboard order, large
targets). Screenshots for the README go to docs/img/.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.server
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.core import catalogue
from bot.stack.processes import ROOT, Stack, free_port
from channels import socketio as webchat
from channels.senders import get_sender
from tests.browser.content import faq_example
from tests.browser.netplug import NetPlug

pytestmark = [pytest.mark.browser, pytest.mark.stack]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
IMG = ROOT / "docs" / "img"
TIMEOUT_MS = 60_000


def approved(name: str, **slots: Any) -> str:
    return catalogue.load().text(name, **slots)


def run(coro: Callable[[], Awaitable[Any]]) -> Any:
    """Run a coroutine (the desk's sender) beside Playwright's own event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(coro())).result(60)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: run `make browser` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture()
def site(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    for k in ("REDIS_URL", "DATABASE_URL"):  # the desk's sender, used from the test, needs these
        monkeypatch.setenv(k, stack.env[k])
    return stack


def new_page(browser: Any, viewport: dict[str, int] = DESKTOP, **kwargs: Any) -> Any:
    context = browser.new_context(viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai", **kwargs)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return page


def bubbles(page: Any, kind: str = "") -> list[str]:
    return page.locator(f"li.msg{kind} .bubble").all_inner_texts()


def wait_bubbles(page: Any, kind: str, count: int) -> list[str]:
    page.locator(f"li.msg{kind} .bubble").nth(count - 1).wait_for()
    return bubbles(page, kind)


def wait_until(page: Any, expression: str, timeout_s: float = 30) -> None:
    """Poll a page expression from here: the page's CSP (no eval) rules out wait_for_function."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout_s}s: {expression}")
        page.wait_for_timeout(100)


def conversation(page: Any) -> list[list[str]]:
    """The log as a citizen reads it, top to bottom: [who, text]."""
    return page.evaluate(
        """Array.from(document.querySelectorAll('#log li.msg, #log li.sys')).map(li => [
             li.classList.contains('sys') ? 'line' : li.classList.contains('me') ? 'me'
               : li.classList.contains('agent') ? 'agent' : 'bot',
             li.querySelector('.bubble, .sys-text').innerText])"""
    )


def session_of(page: Any) -> str:
    return str(page.evaluate("window.hotline12345.session()"))


def send(page: Any, text: str) -> None:
    box = page.get_by_role("textbox", name="请输入您的问题")
    box.fill(text)
    box.press("Enter")


# ------------------------------------------------------------------------------------ the main flow
def test_ask_press_a_button_reload_and_an_agent_joins(browser: Any, site: Stack) -> None:
    question, response = faq_example()
    page = new_page(browser)
    page.goto(site.rasa_url + "/")
    assert wait_bubbles(page, ".bot", 1)[0] == approved("utter_greet")

    # ask a question and read the answer
    send(page, question)
    assert wait_bubbles(page, ".me", 1) == [question]
    page.wait_for_selector("li.msg.bot .replies button")  # the answer, then "有帮助吗？" with buttons
    bot = bubbles(page, ".bot")
    assert bot[1] == catalogue.load().text(response)
    assert bot[2] == approved("utter_ask_helpful")
    shown = page.locator("li.msg.me time").first.inner_text()  # timestamps: HH:MM, local time
    assert re.fullmatch(r"\d\d:\d\d", shown)
    now = page.evaluate("(() => { const d = new Date(); return d.getHours() * 60 + d.getMinutes(); })()")
    assert (now - (int(shown[:2]) * 60 + int(shown[3:]))) % 1440 <= 2

    # the buttons are large enough for an unsteady hand, then press one
    for box in [page.get_by_role("button", name=n).bounding_box() for n in ("有帮助", "没帮助")]:
        assert box["height"] >= 44 and box["width"] >= 44
    page.get_by_role("button", name="有帮助").click()
    assert wait_bubbles(page, ".bot", 4)[3] == approved("utter_feedback_thanks")
    assert bubbles(page, ".me") == [question, "有帮助"]
    assert page.get_by_role("button", name="没帮助").is_disabled()  # answered: cannot be pressed twice
    exchange = [
        ["bot", approved("utter_greet")], ["me", question], ["bot", catalogue.load().text(response)],
        ["bot", approved("utter_ask_helpful")], ["me", "有帮助"], ["bot", approved("utter_feedback_thanks")],
    ]  # fmt: skip
    assert conversation(page) == exchange  # each answer below the question it answers

    # reload: the same conversation comes back, buttons stay answered, no second greeting
    session = session_of(page)
    page.reload()
    wait_bubbles(page, ".bot", 4)
    page.wait_for_timeout(800)
    assert session_of(page) == session
    assert conversation(page) == exchange
    assert page.get_by_role("button", name="有帮助").is_disabled()

    # a person takes over: a line across the chat, then the agent's message marked as a person
    sender = get_sender("socketio")
    run(lambda: sender.send_approved(session, "utter_agent_joined"))
    run(lambda: sender.send_agent_text(session, "您好，我是12345工作人员王芳。社保卡办理进度可在 https://www.example.gov.cn/sbk 查询。",
                                       "王芳", "20261126-000001"))  # fmt: skip
    page.wait_for_selector("li.sys")
    assert page.locator("li.sys .sys-text").inner_text() == approved("utter_agent_joined")
    agent = page.locator("li.msg.agent")
    agent.wait_for()
    assert "王芳" in agent.locator(".who").inner_text() and "工作人员" in agent.locator(".who").inner_text()
    link = agent.locator("a[href^='https://']")
    assert link.get_attribute("href") == "https://www.example.gov.cn/sbk"
    assert link.get_attribute("target") == "_blank"
    assert {"noopener", "noreferrer"} <= set((link.get_attribute("rel") or "").split())
    assert conversation(page)[:-2] == exchange
    assert conversation(page)[-2][0] == "line" and conversation(page)[-1][0] == "agent"
    assert page.errors == []

    IMG.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 1280})  # tall enough to show the whole exchange
    page.evaluate("document.querySelector('.main').scrollTop = document.querySelector('.main').scrollHeight")
    page.screenshot(path=str(IMG / "webchat-desktop.png"))

    # the same conversation on a phone, in large text
    phone = new_page(browser, PHONE, storage_state=page.context.storage_state(), is_mobile=True, has_touch=True)
    phone.goto(site.rasa_url + "/")
    phone.locator("li.msg.agent").wait_for()
    phone.get_by_role("button", name="大字").click()
    phone.wait_for_timeout(300)
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling
    phone.evaluate("document.querySelector('.main').scrollTop = document.querySelector('.main').scrollHeight")
    phone.screenshot(path=str(IMG / "webchat-phone.png"))
    phone.context.close()
    page.context.close()


# ------------------------------------------------------------------------------------ network
def test_network_drop_keeps_the_conversation_and_sends_what_was_typed(browser: Any, site: Stack) -> None:
    plug = NetPlug(site.rasa_port).start()
    try:
        page = new_page(browser)
        page.goto(plug.url + "/")
        wait_bubbles(page, ".bot", 1)
        wait_until(page, "window.hotline12345.connected()")

        plug.cut()
        status = page.get_by_role("status")
        status.wait_for()
        assert "中断" in status.inner_text()
        send(page, "谢谢")
        pending = page.locator("li.msg.me.pending")
        pending.wait_for()
        assert "等待发送" in pending.inner_text()
        page.wait_for_timeout(2000)
        assert page.evaluate("window.hotline12345.pending()") == 1  # kept, not dropped

        plug.restore()
        wait_until(page, "window.hotline12345.pending() === 0")
        answer = wait_bubbles(page, ".bot", 2)[1]
        assert catalogue.load().match(answer) not in (None, "utter_safe_fallback")
        assert status.is_hidden()
        assert bubbles(page, ".bot")[0] == approved("utter_greet")  # the conversation is still there
        session = session_of(page)
        history = run(lambda: webchat.read_history(session))
        assert [m["text"] for m in history if m["from"] == "citizen"] == ["谢谢"]  # sent once

        # a slow network: the typing indicator shows until the answer is in
        plug.delay_s = 1.0
        send(page, "你好")
        page.locator("#typing").wait_for(state="visible", timeout=5000)
        page.locator("#typing").wait_for(state="hidden", timeout=30_000)
        assert page.locator("li.msg.me.pending").count() == 0
        assert page.errors == []
        page.context.close()
    finally:
        plug.stop()


# ------------------------------------------------------------------------------------ widget
class _Site(http.server.SimpleHTTPRequestHandler):
    html = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(self.html)

    def log_message(self, *args: Any) -> None:
        pass


def test_one_script_tag_puts_the_chat_on_another_site(browser: Any, site: Stack) -> None:
    _Site.html = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>示例市人民政府</title></head>'
        "<body><h1>示例市人民政府门户网站</h1><p>政务公开 · 办事服务 · 互动交流</p>"
        f'<script src="{site.rasa_url}/widget.js" async></script></body></html>'
    ).encode()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page = new_page(browser)
        page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
        launcher = page.get_by_role("button", name="在线咨询")
        assert launcher.get_attribute("aria-expanded") == "false"
        launcher.click()
        assert launcher.get_attribute("aria-expanded") == "true"
        chat = page.frame_locator("iframe[title*='12345']")
        chat.locator("li.msg.bot .bubble").first.wait_for()
        assert chat.locator("li.msg.bot .bubble").first.inner_text() == approved("utter_greet")
        chat.get_by_role("button", name="关闭").click()
        page.locator("iframe").wait_for(state="hidden")
        assert page.evaluate("document.activeElement.textContent") == "在线咨询"  # focus goes back
        assert page.errors == []
        page.context.close()
    finally:
        server.shutdown()


# ------------------------------------------------------------------------------------ 适老化 and screen readers
def test_labels_keyboard_order_large_text_and_high_contrast(browser: Any, site: Stack) -> None:
    page = new_page(browser)
    page.goto(site.rasa_url + "/")
    wait_bubbles(page, ".bot", 1)
    # what a screen reader announces
    assert page.get_by_role("log", name="对话记录").count() == 1
    assert page.get_by_role("textbox", name="请输入您的问题").count() == 1
    for name in ("发送", "大字", "高对比"):
        box = page.get_by_role("button", name=name).bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44, name
    assert page.evaluate("document.documentElement.lang") == "zh-CN"

    # keyboard order: skip link, display settings, the conversation (and the links in it), the input, send
    order = []
    for _ in range(12):
        page.keyboard.press("Tab")
        order.append(
            page.evaluate(
                "[document.activeElement.tagName, document.activeElement.id || document.activeElement.textContent.trim()]"
            )
        )
        if order[-1][1] == "send":
            break
    assert [o[1] for o in order[:4]] == ["跳到输入框", "big", "contrast", "log"], order
    assert [o[1] for o in order[-2:]] == ["input", "send"], order
    assert all(tag == "A" for tag, _ in order[4:-2]), order  # only links of the messages in between

    # text is readable without zooming, larger on request, and the choice is remembered
    size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('li.msg .bubble')).fontSize)")
    assert size >= 18
    page.get_by_role("button", name="大字").click()
    assert page.get_by_role("button", name="大字").get_attribute("aria-pressed") == "true"
    big = page.evaluate("parseFloat(getComputedStyle(document.querySelector('li.msg .bubble')).fontSize)")
    assert big >= 24
    page.get_by_role("button", name="高对比").click()
    colors = page.evaluate(
        "[getComputedStyle(document.body).backgroundColor, getComputedStyle(document.querySelector('li.msg .bubble')).color]"
    )
    assert colors == ["rgb(0, 0, 0)", "rgb(255, 255, 255)"]
    page.reload()
    wait_bubbles(page, ".bot", 1)
    assert page.get_by_role("button", name="大字").get_attribute("aria-pressed") == "true"
    assert page.get_by_role("button", name="高对比").get_attribute("aria-pressed") == "true"

    # a phone screen: nothing overflows sideways, the input and send button stay usable
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(200)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.get_by_role("button", name="发送").is_visible()

    # what an agent or a message contains is shown as text, never run as HTML
    session = session_of(page)
    run(lambda: get_sender("socketio").send_agent_text(session, "<img src=x onerror=alert(1)>请查收", "王芳", "t-1"))
    page.locator("li.msg.agent").wait_for()
    assert page.locator("li.msg.agent .bubble").inner_text() == "<img src=x onerror=alert(1)>请查收"
    assert page.locator("li.msg.agent img").count() == 0
    assert page.errors == []
    page.context.close()
