"""Step 5 of bench_entry alone, with the figures that explain it (not run by `make bench`).

    .venv/bin/python tools/devstack.py exec --redis-db 2 -- .venv/bin/python bench/run.py stream_under_load

The workload is bench_entry's step 5: the Procfile's web pool, stream process and matcher, 200
subscribers of bench/fanout_client.py on the BTC-USDT book (depth 50) and trades, while wrk
saturates `POST /api/v1/orders` (16 connections, 16 accounts); a 2 s wrk warm-up first, so the book
is about as deep as bench_entry leaves it. Besides the commit -> subscriber delays it reports, over
the subscribers' window: the book updates and trades the matcher published per second (the book
cache's sequence and the trade rows), the frames the stream process delivered per second, and the
CPU share of each process (user + system time over the window, in % of one core, from /proc via
psutil). STREAM_PROFILE=1 also samples the stream process with py-spy (PY_SPY, default `py-spy` on
PATH) into var/stream-profile.txt (collapsed stacks).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from bench.bench_entry import CONNECTIONS, SECONDS, SUBSCRIBERS, USERS, WARMUP, _tokens, _wrk
from bench.bench_orders import UNLIMITED, MatcherProcess
from bench.common import (
    ROOT,
    Figure,
    StreamProcess,
    WebProcess,
    btc_usdt_traders,
    in_throwaway_database,
    percentile,
)


def run() -> list[Figure]:
    return in_throwaway_database(_measure)


def _listener(port: int) -> psutil.Process | None:
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return psutil.Process(conn.pid)
    return None


def _tree(proc: psutil.Process | None) -> list[psutil.Process]:
    if proc is None:
        return []
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _waited(pid: int) -> float:
    """Seconds the process's threads spent runnable but waiting for a core (/proc schedstat)."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(stat.read_text().split()[1])
    return total / 1e9


def _cpu(procs: list[psutil.Process]) -> dict[int, tuple[float, float, float]]:
    seconds = {}
    for proc in procs:
        try:
            times = proc.cpu_times()
            seconds[proc.pid] = (times.user, times.system, _waited(proc.pid))
        except psutil.NoSuchProcess:
            pass
    return seconds


def _groups(web, stream, matcher, client) -> dict[str, list[psutil.Process]]:
    from django.conf import settings

    master = psutil.Process(web.proc.pid)
    groups = {"web master": [master]}
    for i, worker in enumerate(master.children()):
        groups[f"web worker {i + 1}"] = [worker]
    groups["stream"] = _tree(psutil.Process(stream.proc.pid))
    groups["matcher"] = [psutil.Process(matcher.proc.pid)]
    groups["subscriber client"] = [psutil.Process(client.pid)]
    groups["wrk"] = [p for p in psutil.Process().children() if p.name() == "wrk"]
    db = settings.DATABASES["default"]
    groups["postgresql"] = _tree(_listener(int(db.get("PORT") or 5432)))
    redis_port = int(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379").rsplit(":", 1)[1].split("/")[0])
    groups["redis"] = _tree(_listener(redis_port))
    return groups


def _state() -> tuple[int, int]:
    from apps.core.redis import get_redis
    from apps.markets.book import cache_key as book_cache_key
    from apps.trades.models import Trade

    cached = get_redis().get(book_cache_key("BTC-USDT"))
    return (json.loads(cached)["sequence"] if cached else 0), Trade.objects.count()


def _measure(settings_dict) -> list[Figure]:
    from tests.support import database_url

    users = btc_usdt_traders("bench-stream", USERS)
    env = {**os.environ, "DATABASE_URL": database_url(settings_dict), "RATE_LIMITS_JSON": json.dumps(UNLIMITED)}
    web_env = {"DATABASE_URL": env["DATABASE_URL"], "RATE_LIMITS_JSON": env["RATE_LIMITS_JSON"]}
    matcher = MatcherProcess(env)
    window = SECONDS - 2
    figures: list[Figure] = []
    try:
        workers = os.environ.get("STREAM_CONCURRENCY", "1")
        with WebProcess(**web_env) as web, StreamProcess(**web_env, STREAM_CONCURRENCY=workers) as stream, \
                tempfile.TemporaryDirectory() as tmp:  # fmt: skip
            url = f"http://127.0.0.1:{web.port}"
            _wrk(url, "orders.lua", WARMUP, CONNECTIONS, (_tokens(tmp, users), "1"))
            tokens = _tokens(tmp, users)
            out = str(Path(tmp) / "subscribers.json")
            client = subprocess.Popen([sys.executable, "-m", "bench.fanout_client", str(stream.port),
                                       str(SUBSCRIBERS), str(window), out], cwd=ROOT, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)  # fmt: skip
            if client.stdout.readline().strip() != "ready":
                raise RuntimeError("the subscriber process did not connect")
            profile = None
            with ThreadPoolExecutor(1) as pool:
                load = pool.submit(_wrk, url, "orders.lua", SECONDS, CONNECTIONS, (tokens, "4"))
                time.sleep(1)
                groups = _groups(web, stream, matcher, client)
                if os.environ.get("STREAM_PROFILE"):
                    profile = subprocess.Popen([os.environ.get("PY_SPY", "py-spy"), "record", "--format", "raw",
                                                "-r", "200", "-d", str(int(window)), "-p", str(stream.proc.pid),
                                                "-o", str(ROOT / "var" / "stream-profile.txt")],
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
                flat = [p for procs in groups.values() for p in procs]
                before, state_before, started = _cpu(flat), _state(), time.perf_counter()
                client.stdin.write("go\n")
                client.stdin.flush()
                load_average = os.getloadavg()
                # Before the subscribers leave: an ended process has no CPU times to read.
                time.sleep(max(0.0, started + window - 0.2 - time.perf_counter()))
                after, state_after, elapsed = _cpu(flat), _state(), time.perf_counter() - started
                client.wait(timeout=60)
                rest = load.result()
            if profile is not None:
                profile.wait(timeout=60)
            result = json.loads(Path(out).read_text())
    finally:
        matcher.stop()
    delays = [d * 1000 for d in result["delays"]]
    figures += [
        Figure(f"WS commit->sub p50, {SUBSCRIBERS} subs, REST busy", percentile(delays, 50), "ms"),
        Figure(f"WS commit->sub p99, {SUBSCRIBERS} subs, REST busy", percentile(delays, 99), "ms"),
        Figure("wrk POST /orders meanwhile", rest.rate, "orders/s"),
        Figure("book updates published", (state_after[0] - state_before[0]) / elapsed, "/s"),
        Figure("trades settled", (state_after[1] - state_before[1]) / elapsed, "/s"),
        Figure("frames delivered to the subscribers", result["messages"] / result["seconds"], "/s"),
        Figure("load average (1 min) as the window began", load_average[0], ""),
        Figure("book updates received per subscriber", len(result["delays"]) / SUBSCRIBERS / result["seconds"], "/s"),
    ]
    for name, procs in groups.items():
        user = sum(after[p.pid][0] - before[p.pid][0] for p in procs if p.pid in before and p.pid in after)
        system = sum(after[p.pid][1] - before[p.pid][1] for p in procs if p.pid in before and p.pid in after)
        waited = sum(after[p.pid][2] - before[p.pid][2] for p in procs if p.pid in before and p.pid in after)
        figures.append(Figure(f"CPU {name} (user + system)", 100 * (user + system) / elapsed, "% of one core"))
        figures.append(Figure(f"  {name} waiting for a core", 100 * waited / elapsed, "% of the window"))
        if name == "stream":
            figures.append(Figure("CPU stream, system", 100 * system / elapsed, "% of one core"))
            frames = result["messages"] / result["seconds"] * elapsed
            figures.append(Figure("stream CPU per frame delivered", 1e6 * (user + system) / frames, "us"))
    return figures
