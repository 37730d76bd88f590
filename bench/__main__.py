"""`make bench` / `python -m bench`: throughput and latency of the REST and WeChat channels at
concurrency 1, 8, 32 and 64; WeChat at 4x saturation (arrival rate); the parse floor; Rasa's
start-up; training time; resident memory of each process; optionally a py-spy profile.

    python -m bench                         # its own stack on free ports (bot/stack/processes.py)
    python -m bench --processes 2           # two Rasa processes behind nginx (deploy/nginx)
    python -m bench --profile               # py-spy on the Rasa process at concurrency 8
    python -m bench --rasa-url http://127.0.0.1:5005 --wechat-token TOKEN   # a running stack
    python -m bench crisis                  # the crisis screening's cost by length (bench/crisis.py)

Figures go to stdout and to results/bench/<time>.json and .md (docs/performance.md explains them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench import system
from bench.clients import RestClient, WeChatClient, connector
from bench.corpus import messages
from bench.load import Citizens, Level, Outcome, closed_loop, open_loop, percentile
from bot.rasa.patches.turn_limit import DEFAULT_MAX_TURNS

ROOT = Path(__file__).resolve().parent.parent
WECHAT_TOKEN = "bench-wechat-token"  # noqa: S105 - the bench's own throwaway stack
WECHAT_APPID = "wxbench0000000001"
WECHAT_DEADLINE_S = 5.0  # WeChat gives up on a callback after 5 s


def log(text: str) -> None:
    print(text, flush=True)


def busy_text() -> str:
    from bot.core import catalogue

    return catalogue.load().text("utter_service_busy")


# ------------------------------------------------------------------------------------ own stack
class OwnStack:
    """The stack the bench starts: actions + N Rasa processes (+ nginx when N > 1), one Redis,
    one database (SQLite, or a throwaway PostgreSQL with --postgres), the WeChat stand-in."""

    def __init__(self, processes: int, postgres: bool, extra_env: dict[str, str] | None = None) -> None:
        self.processes = processes
        self.postgres = postgres
        self.extra_env = extra_env or {}
        self.stack: Any = None
        self.nginx: Any = None
        self.pg: Any = None
        self.standin: Any = None
        self.names: list[str] = []
        self.startup: dict[str, float] = {}

    def start(self) -> None:
        sys.path.insert(0, str(ROOT))
        from bot.stack.processes import NginxServer, PostgresServer, start_stack
        from bot.stack.standins.wechat import WeChatStandIn

        self.standin = WeChatStandIn(appid=WECHAT_APPID).start()
        env = {
            "WECHAT_TOKEN": WECHAT_TOKEN,
            "WECHAT_APPID": WECHAT_APPID,
            "WECHAT_APPSECRET": self.standin.secret,
            "WECHAT_API_BASE": self.standin.base_url,
            "WECHAT_AES_KEY": "",
            **self.extra_env,
        }
        if self.postgres:
            self.pg = PostgresServer().start()
            env["DATABASE_URL"] = self.pg.url
        self.stack = start_stack(processes=("actions",), extra_env=env, train=False)
        for i in range(1, self.processes + 1):
            name = "rasa" if i == 1 else f"rasa-{i}"
            started = time.monotonic()
            url = self._start_rasa(name)
            self.startup[name] = round(time.monotonic() - started, 1)
            self.names.append(name)
            log(f"  {name}: ready at {url} after {self.startup[name]} s (start-up to first answer)")
        if self.processes > 1:
            self.nginx = NginxServer(self.ports).start()

    def _start_rasa(self, name: str) -> str:
        from bot.stack.processes import post_json, wait_http

        stack = self.stack
        port = stack.rasa_port if name == "rasa" else stack.rasa_ports.setdefault(name, _free_port())
        proc = stack.start_process(name, {"RASA_PORT": str(port)}, kind="rasa")
        t0 = time.monotonic()
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/", timeout=600, proc=proc)
        self.startup[f"{name}_http_ready_s"] = round(time.monotonic() - t0, 1)
        post_json(f"{url}/webhooks/rest/webhook", {"sender": f"bench-warmup-{name}", "message": "你好"}, timeout=300)
        return url

    @property
    def ports(self) -> list[int]:
        return [self.stack.rasa_port if n == "rasa" else self.stack.rasa_ports[n] for n in self.names]

    @property
    def url(self) -> str:
        return self.nginx.url if self.nginx else self.stack.rasa_url

    def pids(self) -> dict[str, int | None]:
        out: dict[str, int | None] = {n: p.pid for n, p in self.stack.procs.items()}
        out["redis"] = self.stack.redis.proc.pid if self.stack.redis.proc else None
        if self.nginx and self.nginx.proc:
            out["nginx"] = self.nginx.proc.pid
        return out

    def stop(self) -> None:
        if self.nginx:
            self.nginx.stop()
        if self.stack:
            self.stack.stop()
        if self.pg:
            self.pg.stop()
        if self.standin:
            self.standin.stop()


def _free_port() -> int:
    from bot.stack.processes import free_port

    return free_port()


def current_model() -> str | None:
    models = sorted((ROOT / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return str(models[-1]) if models else None


def floor(count: int) -> dict[str, Any]:
    model = current_model()
    if not model or count <= 0:
        return {}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "bench.floor", model, str(count)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode or not lines:
        return {"error": done.stderr[-500:]}
    return {"model": Path(model).name, **json.loads(lines[-1])}


# ------------------------------------------------------------------------------------ WeChat pushes
async def drain(standin: Any, outcomes: list[Outcome], timeout: float) -> dict[str, Any]:
    """Wait until every reply WeChat was told `success` for has come through 客服消息.

    The bench sends WeChat one message per citizen, so everything pushed to a citizen is the
    reply to that message (a reply may be several texts, pushed one by one). Told `success` and
    nothing pushed: a reply lost. The same text pushed twice to a citizen, or a push to a
    citizen who was answered passively: a reply sent twice."""
    expected = {o.sender for o in outcomes if o.kind == "success"}

    def pushes() -> dict[str, list[tuple[float, str]]]:
        with standin._lock:
            out: dict[str, list[tuple[float, str]]] = {}
            for m in standin.messages:
                out.setdefault(m.touser, []).append((m.at, m.content))
            return out

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pushes()
        if all(got.get(s) for s in expected):
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # anything sent twice would show now
    got = pushes()
    delivered: list[float] = []
    lost = twice = 0
    examples: list[dict[str, Any]] = []  # of anything sent twice, to look into
    for o in outcomes:
        mine = got.get(o.sender, [])
        texts = [text for _, text in mine]
        doubled = len(texts) - len(set(texts)) + (1 if o.kind == "passive" and mine else 0)
        twice += doubled
        if doubled and len(examples) < 3:
            examples.append({"sender": o.sender, "answered": o.kind, "pushed": [t[:60] for t in texts]})
        if o.kind == "success":
            if mine:
                delivered.append(mine[0][0] - o.started)
            else:
                lost += 1
    return {
        "pushed": len(expected),
        "push_delivered": len(delivered),
        "push_lost": lost,
        "pushed_twice": twice,
        "push_p50_s": round(percentile(delivered, 50), 2) if delivered else None,
        "push_max_s": round(max(delivered), 2) if delivered else None,
        "sent_twice_examples": examples,
    }


# ------------------------------------------------------------------------------------ the run
async def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"command": " ".join(["python -m bench", *sys.argv[1:]]), "machine": system.machine()}
    result["training"] = system.training_time()
    if not args.rasa_url:
        result["settings"] = {
            "rasa_processes": args.processes,
            "database": "postgresql" if args.postgres else "sqlite",
            "max_concurrent_turns": args.max_turns if args.max_turns is not None else f"default ({DEFAULT_MAX_TURNS})",
            "wechat_reply_budget_s": args.wechat_budget or "default (4.0)",
        }
    log(f"machine: {result['machine']['cores']} cores, {result['machine']['cpu']}; {result['machine']['uptime']}")
    own: OwnStack | None = None
    try:
        if args.rasa_url:
            url, standin, token = args.rasa_url, None, args.wechat_token
        else:
            log(
                f"starting a stack with {args.processes} Rasa process(es){' behind nginx' if args.processes > 1 else ''}"
            )
            extra = {"RASA_MAX_CONCURRENT_TURNS": str(args.max_turns)} if args.max_turns is not None else {}
            if args.wechat_budget:
                extra["WECHAT_REPLY_BUDGET_S"] = str(args.wechat_budget)
            own = OwnStack(args.processes, args.postgres, extra)
            own.start()
            url, standin, token = own.url, own.standin, WECHAT_TOKEN
            result["startup_s"] = own.startup
            result["rss_mb_after_start"] = {n: system.rss_mb(p) for n, p in own.pids().items()}
        result["target"] = url
        if args.floor:
            log(f"floor: {args.floor} parses in a process of its own ...")
            result["floor"] = floor(args.floor)
            log(f"  {result['floor']}")
        if args.crisis:
            from bench import crisis as crisis_bench

            log(f"crisis screening: {args.crisis} messages per length, in this process ...")
            result["crisis_screening"] = crisis_bench.measure(args.crisis)
        texts = messages()
        busy = busy_text()
        levels: list[Level] = []
        stamp = time.strftime("%H%M%S")
        for channel in args.channels:
            if channel == "wechat" and not token:
                log("wechat: skipped (a running stack needs --wechat-token)")
                continue
            for c in args.levels:
                async with aiohttp.ClientSession(connector=connector(max(c, 8))) as session:
                    if channel == "rest":
                        send: Any = RestClient(session, url, busy)
                    else:
                        send = WeChatClient(session, url, token, busy)
                    # WeChat: one message per citizen, so that every reply pushed to a citizen is
                    # accounted to its message (a reply may be several texts, pushed one by one)
                    per = 1 if channel == "wechat" else 4
                    citizens = Citizens(texts, f"bench-{stamp}-{channel}-c{c}", per_citizen=per)
                    profile = None
                    profile_out = Path(args.out) / f"profile-{stamp}-{channel}-c{c}.txt"
                    if args.profile and own and channel == "rest" and c == args.profile_at:
                        profile_out.parent.mkdir(parents=True, exist_ok=True)
                        profile = system.start_profile(own.stack.procs["rasa"].pid, args.seconds + 1, profile_out)
                    level = await closed_loop(channel, send, citizens, c, args.seconds)
                    if profile is not None:
                        _, err = profile.communicate(timeout=60)
                        if profile_out.exists():
                            result["profile"] = {"level": f"{channel} c={c}", **system.categorise(profile_out)}
                        else:
                            result["profile"] = {"error": (err or b"").decode(errors="replace")[-500:]}
                    if channel == "wechat" and standin is not None:
                        level.extra.update(await drain(standin, level.outcomes, args.drain_timeout))
                levels.append(level)
                log("  " + row(level.summary()))
        # WeChat above saturation: arrivals at N times the best rate measured
        wechat_rates = [lv.throughput for lv in levels if lv.channel == "wechat"]
        rest_rates = [lv.throughput for lv in levels if lv.channel == "rest"]
        saturation = max(wechat_rates or rest_rates or [0.0])
        if args.overload and token and saturation > 0:
            rate = saturation * args.overload
            log(f"wechat at {args.overload:g}x saturation: {rate:.1f} messages/s for {args.overload_seconds:g} s")
            async with aiohttp.ClientSession(connector=connector(0)) as session:
                send = WeChatClient(session, url, token, busy)
                level = await open_loop(
                    "wechat", send, Citizens(texts, f"bench-{stamp}-overload"), rate, args.overload_seconds
                )
                lat = [o.elapsed for o in level.outcomes]
                level.extra["saturation_msg_per_s"] = round(saturation, 2)
                level.extra["answered_within_5s"] = sum(
                    1 for o in level.outcomes if o.elapsed <= WECHAT_DEADLINE_S and o.kind != "error"
                )
                level.extra["slowest_answer_s"] = round(max(lat), 2) if lat else None
                if standin is not None:
                    level.extra.update(await drain(standin, level.outcomes, args.drain_timeout))
            levels.append(level)
            log("  " + row(level.summary()))
        result["levels"] = [lv.summary() for lv in levels]
        if own:
            result["rss_mb_after_load"] = {n: system.rss_mb(p) for n, p in own.pids().items()}
        result["machine_after"] = {"uptime": system.machine()["uptime"]}
    finally:
        if own:
            own.stop()
    return result


def row(s: dict[str, Any]) -> str:
    load = "load {:.1f}->{:.1f}".format(s["loadavg_before"][0], s["loadavg_after"][0])
    head = f"c={s['concurrency']:>2}" if s["mode"] == "closed" else f"{s['rate']:.1f}/s"
    extra = ""
    if "push_lost" in s:
        extra = f" pushed {s['pushed']} lost {s['push_lost']} twice {s['pushed_twice']}"
    if "answered_within_5s" in s:
        extra += f" within5s {s['answered_within_5s']}/{s['messages']}"
    return (
        f"{s['channel']:<6} {head:<8} {s['messages']:>5} msgs {s['msg_per_s']:>6.1f}/s "
        f"p50 {s['p50_ms']:>7.1f} p95 {s['p95_ms']:>7.1f} p99 {s['p99_ms']:>7.1f} ms "
        f"errors {s['errors']:>3} {s['kinds']} {load}{extra}"
    )


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    out = [
        f"Command: `{result['command']}` against {result.get('target')}",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB, Python {m['python']}",
        f"`uptime` before: `{m['uptime']}`; after: `{result.get('machine_after', {}).get('uptime', '')}`",
        f"Stack: {result.get('settings', 'a running stack')}",
        "",
        "| channel | load | messages | msg/s | p50 ms | p95 ms | p99 ms | errors | answers | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in result.get("levels", []):
        head = f"concurrency {s['concurrency']}" if s["mode"] == "closed" else f"{s['rate']:.1f} arrivals/s"
        kinds = ", ".join(f"{k} {v}" for k, v in s["kinds"].items())
        if "push_lost" in s and s["pushed"]:
            kinds += (
                f"; pushed {s['push_delivered']}/{s['pushed']} (lost {s['push_lost']}, twice {s['pushed_twice']}, "
                f"delivered p50 {s['push_p50_s']} s, max {s['push_max_s']} s)"
            )
        if "answered_within_5s" in s:
            kinds += (
                f"; answered within 5 s: {s['answered_within_5s']}/{s['messages']} (slowest {s['slowest_answer_s']} s)"
            )
        out.append(
            f"| {s['channel']} | {head} | {s['messages']} | {s['msg_per_s']} | {s['p50_ms']} | {s['p95_ms']} | "
            f"{s['p99_ms']} | {s['errors']} | {kinds} | {s['loadavg_before'][0]}→{s['loadavg_after'][0]} |"
        )
    if result.get("floor"):
        f = result["floor"]
        out += ["", f"Floor (model {f.get('model')}, parse only, no load): p50 {f.get('parse_p50_ms')} ms, "
                f"p95 {f.get('parse_p95_ms')} ms, {f.get('parses_per_s')} parses/s; model load {f.get('model_load_s')} s"]  # fmt: skip
    if result.get("crisis_screening"):
        c = result["crisis_screening"]
        out.append(
            "Crisis screening (bench/crisis.py, no stack): "
            + "; ".join(f"{n} chars p50 {c[str(n)]['p50_ms']} ms, p95 {c[str(n)]['p95_ms']} ms" for n in (10, 100, 500))
        )
    if result.get("training"):
        out.append(
            f"Training (last `make train`, {result['training'].get('model')}): {result['training'].get('seconds')} s"
        )
    if result.get("startup_s"):
        out.append(f"Rasa start-up: {result['startup_s']}")
    if result.get("rss_mb_after_load"):
        out.append(
            f"Resident memory (MB) after start: {result.get('rss_mb_after_start')}; after load: {result['rss_mb_after_load']}"
        )
    if result.get("profile", {}).get("categories"):
        p = result["profile"]
        out += ["", f"Profile ({p['level']}, {p['samples']} samples, py-spy):", "", "| where | share |", "|---|---|"]
        out += [f"| {c['category']} | {c['share'] * 100:.1f} % |" for c in p["categories"]]
    return "\n".join(out) + "\n"


def main() -> int:
    if sys.argv[1:2] == ["crisis"]:  # the crisis screening's own cost (bench/crisis.py): no stack
        from bench import crisis

        return crisis.main(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rasa-url", help="a running stack (else the bench starts its own)")
    parser.add_argument("--wechat-token", default="", help="WECHAT_TOKEN of the running stack (--rasa-url)")
    parser.add_argument("--channels", default="rest,wechat", type=lambda s: [c for c in s.split(",") if c])
    parser.add_argument("--levels", default="1,8,32,64", type=lambda s: [int(c) for c in s.split(",") if c])
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per level")
    parser.add_argument(
        "--overload", type=float, default=4.0, help="WeChat arrival rate as a multiple of saturation (0: skip)"
    )
    parser.add_argument("--overload-seconds", type=float, default=10.0)
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="seconds to wait for pushed replies")
    parser.add_argument(
        "--processes", type=int, default=1, help="Rasa processes in the bench's own stack (>1: behind nginx)"
    )
    parser.add_argument("--postgres", action="store_true", help="own stack on a throwaway PostgreSQL (make postgres)")
    parser.add_argument("--max-turns", type=int, help="RASA_MAX_CONCURRENT_TURNS of the own stack (0: no limit)")
    parser.add_argument("--wechat-budget", type=float, help="WECHAT_REPLY_BUDGET_S of the own stack")
    parser.add_argument("--floor", type=int, default=300, help="parses for the floor (0: skip)")
    parser.add_argument("--crisis", type=int, default=40, help="messages per length for the crisis screening (0: skip)")
    parser.add_argument("--profile", action="store_true", help="py-spy on the Rasa process during one REST level")
    parser.add_argument("--profile-at", type=int, default=8, help="the REST concurrency to profile")
    parser.add_argument("--out", default=str(ROOT / "results" / "bench"))
    args = parser.parse_args()
    result = asyncio.run(run(args))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = time.strftime("%Y%m%d-%H%M%S")
    (out / f"{name}.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    md = markdown(result)
    (out / f"{name}.md").write_text(md, encoding="utf-8")
    log("\n" + md)
    log(f"written: {out / name}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
