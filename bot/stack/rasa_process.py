"""One more Rasa server process beside a running stack (same Redis, database and action server).

Used to prove that the channels work behind several Rasa processes, and to run a Rasa server
with channel settings of its own (e.g. Telegram pointed at a stand-in) without a second stack.
"""

from __future__ import annotations

import contextlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bot.stack.processes import PY, ROOT, Stack, free_port, post_json, wait_http


@dataclass
class RasaProcess:
    port: int
    proc: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_rasa(stack: Stack, name: str, extra_env: dict[str, str] | None = None) -> RasaProcess:
    port = free_port()
    env = {**stack.env, "RASA_PORT": str(port), **(extra_env or {})}
    log = stack.workdir / f"{name}.log"
    proc = subprocess.Popen(
        [PY, "-m", "bot.ops.launch", "rasa"], cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )
    rasa = RasaProcess(port=port, proc=proc, log=log)
    try:
        wait_http(f"{rasa.url}/", timeout=300, proc=proc)
        with contextlib.suppress(AssertionError):  # the first message loads the graph
            post_json(f"{rasa.url}/webhooks/rest/webhook", {"sender": f"warmup-{name}", "message": "你好"}, timeout=120)
    except Exception:
        rasa.stop()
        raise
    return rasa
