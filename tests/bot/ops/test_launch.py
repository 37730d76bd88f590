"""The launcher (bot/ops/launch.py) and the two entry points it starts: bot/rasa/run.py (Rasa with
timeouts and the API token kept off the command line) and bot/rasa/action_server.py (private
address only, its own body cap, no tracker echoed in errors)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.infra import settings
from bot.ops import launch
from bot.rasa import run as rasa_run
from bot.stack.processes import PY, ROOT, RedisServer, base_env, free_port, request_json, wait_http

PROD = dataclasses.replace(
    settings.Settings(),
    app_env="production",
    host="10.0.0.3",
    rasa_port=15005,
    rasa_auth_token="k7Qe9vXz2LmP4sWn8RtY",
    cors_origins=["https://www.example.gov.cn"],
    redis_url="redis://:pw-k7Qe9vXz2LmP4s@10.0.0.5:6380/2",
)


# ------------------------------------------------------------------ commands
def test_rasa_runs_through_the_timeout_wrapper_on_the_configured_interface() -> None:
    cmd = launch.rasa_command(PROD, model="/models/m.tar.gz")
    assert cmd[:4] == [launch.sys.executable, "-m", "bot.rasa.run", "run"]
    assert cmd[cmd.index("--interface") + 1] == "10.0.0.3"
    assert cmd[cmd.index("--port") + 1] == "15005"
    assert "--enable-api" in cmd


def test_production_cors_is_the_allowlist_and_development_is_open() -> None:
    cmd = launch.rasa_command(PROD, model="m")
    assert cmd[cmd.index("--cors") + 1 :] == ["https://www.example.gov.cn"]
    assert "*" not in cmd
    dev = launch.rasa_command(settings.Settings(), model="m")
    assert dev[dev.index("--cors") + 1 :] == ["*"]
    prod_without_list = launch.rasa_command(dataclasses.replace(PROD, cors_origins=[]), model="m")
    assert "--cors" not in prod_without_list  # (production refuses this anyway)


def test_the_api_token_is_not_on_the_command_line_but_reaches_rasa() -> None:
    cmd = launch.rasa_command(PROD, model="m")
    assert PROD.rasa_auth_token not in cmd and "--auth-token" not in cmd  # `ps` shows argv to everyone
    argv = rasa_run.with_auth_token(cmd[3:], PROD)
    assert argv[-2:] == ["--auth-token", PROD.rasa_auth_token]
    assert rasa_run.with_auth_token(cmd[3:], settings.Settings()) == cmd[3:]  # development: no token
    assert rasa_run.with_auth_token(["train"], PROD) == ["train"]


def test_the_local_redis_keeps_locks_and_handoff_state() -> None:
    cmd = launch.redis_command(6390, Path(tempfile.mkdtemp()), password="pw-123")
    pairs = dict(zip(cmd[1::2], cmd[2::2], strict=False))
    assert pairs["--bind"] == "127.0.0.1"
    assert pairs["--appendonly"] == "yes"
    assert pairs["--appendfsync"] == "everysec"
    assert pairs["--maxmemory-policy"] == "noeviction"
    assert pairs["--requirepass"] == "pw-123"
    assert "--requirepass" not in launch.redis_command(6390, Path(tempfile.mkdtemp()))


def test_rasa_gets_its_redis_and_the_body_cap_from_the_settings() -> None:
    env = launch.rasa_env(PROD)
    assert (env["REDIS_HOST"], env["REDIS_PORT"], env["REDIS_DB"]) == ("10.0.0.5", "6380", "2")
    assert env["REDIS_PASSWORD"] == "pw-k7Qe9vXz2LmP4s"
    assert env["SANIC_REQUEST_MAX_SIZE"] == str(PROD.max_body_bytes)
    assert env["TRACKER_RECORD_EXP"] == str(PROD.retention_tracker_days * 86400)


def test_the_action_server_is_ours_not_rasa_sdks() -> None:
    assert launch.action_server_command()[1:] == ["-m", "bot.rasa.action_server"]


# ------------------------------------------------------------------ the action server process
def outside_address() -> str | None:
    """This machine's address on its network interface (not loopback), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))  # no packet is sent; picks the outgoing interface
            addr = s.getsockname()[0]
        except OSError:
            return None
    return None if addr.startswith("127.") else addr


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def action_server() -> Iterator[tuple[int, subprocess.Popen]]:
    workdir = Path(tempfile.mkdtemp(prefix="actions-"))
    redis = RedisServer().start()
    port = free_port()
    env = base_env(workdir, redis.url)
    env.update(ACTION_PORT=str(port), BIND_HOST="127.0.0.1", ACTION_MAX_BODY_BYTES=str(256 * 1024))
    log = (workdir / "actions.log").open("ab")
    proc = subprocess.Popen(
        [PY, "-m", "bot.ops.launch", "actions"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", timeout=120, proc=proc)
        yield port, proc
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(15)
        redis.stop()


def action_call(action: str, events: list[dict], sender: str = "c-1") -> dict:
    return {
        "next_action": action,
        "sender_id": sender,
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": sender,
            "slots": {},
            "latest_message": {"text": "", "intent": {}, "entities": []},
            "events": events,
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }


@pytest.mark.stack
def test_the_action_server_listens_on_the_private_address_only(action_server: tuple[int, subprocess.Popen]) -> None:
    port, _ = action_server
    assert reachable("127.0.0.1", port)
    outside = outside_address()
    if outside is None:
        pytest.skip("this machine has no non-loopback address to try from")
    # control: something listening on every interface is reachable at that address
    with socket.socket() as everywhere:
        everywhere.bind(("0.0.0.0", 0))
        everywhere.listen(1)
        assert reachable(outside, everywhere.getsockname()[1])
    assert not reachable(outside, port)


@pytest.mark.stack
def test_a_long_conversations_tracker_is_accepted(action_server: tuple[int, subprocess.Popen]) -> None:
    """Rasa sends the whole tracker: past MAX_BODY_BYTES (64 KiB) after a long conversation."""
    port, _ = action_server
    turn = {
        "event": "user",
        "text": "我想咨询一下社保卡补办需要带什么材料" * 5,
        "parse_data": {"intent": {"name": "faq"}},
    }
    body = action_call("action_faq_answered", [turn] * 120)
    assert len(json.dumps(body).encode()) > settings.Settings().max_body_bytes
    status, data = request_json("POST", f"http://127.0.0.1:{port}/webhook", body)
    assert status == 200, data
    assert [r.get("response") for r in data["responses"]] == ["utter_ask_helpful"]


@pytest.mark.stack
def test_bodies_over_the_action_cap_are_refused(action_server: tuple[int, subprocess.Popen]) -> None:
    port, _ = action_server
    big = action_call("action_faq_answered", [{"event": "user", "text": "啊" * 1000}] * 120)
    status, _ = request_json("POST", f"http://127.0.0.1:{port}/webhook", big)
    assert status == 413


@pytest.mark.stack
def test_an_error_does_not_echo_the_citizens_tracker(action_server: tuple[int, subprocess.Popen]) -> None:
    port, _ = action_server
    body = action_call("action_faq_answered", [])
    body["tracker"] = "我的手机号13812345678"  # not a tracker: the action cannot run
    status, data = request_json("POST", f"http://127.0.0.1:{port}/webhook", body)
    assert status == 500
    assert "13812345678" not in json.dumps(data, ensure_ascii=False)
    assert data == {"error": "internal error in the action server"}
