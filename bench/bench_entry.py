"""Order entry through the web process, driven by wrk (Debian's package; `make bench` installs it),
each figure a ratio against a floor measured in the same run.

Workload (throwaway database, 16 pro-tier traders funded by btc_usdt_traders): the Procfile's web
command (DEBUG off, rate limits lifted) and matcher. Every wrk run is 2 threads, a 2 s warm-up then
10 s measured, with the Lua scripts of bench/wrk/; the access tokens are fetched right before each
run (they live JWT_ACCESS_MINUTES). In order:

1. `GET /healthz`, 16 connections: the floor, what the web process answers at best.
2. `POST /api/v1/orders`, 16 connections, 16 accounts (each thread rotates through 8 tokens, one
   request each): BTC-USDT limit orders of 0.0001-0.0050 BTC, each account alternating buy and sell
   around 10,000.00 so about a third cross; the matcher settles them as they come. orders/s, p50 and
   p99 as wrk sees them, and orders/s as a share of the floor.
3. The same from one account on 8 connections (its balance rows are the contended ones).
4. `POST /api/v1/orders/batch`, 4 connections (80 orders in flight, plenty to saturate), the 16
   accounts in turn, 20 orders per body as in 2: orders/s, requests/s, and orders/s as a share of
   the floor. Omitted, with a printed note, while the endpoint answers 404.
5. 200 WebSocket subscribers (bench/fanout_client.py, one process) on the stream endpoint (the
   StreamProcess of bench/common.py where there is one, else the web port), each subscribed to the
   BTC-USDT book and trades, while wrk saturates `POST /orders` as in 2: the delay from the matcher's
   commit (the book update's `time`) to a subscriber, p50 and p99.
6. `place_order` in this process, no HTTP: median milliseconds per order over blocks of 50. These
   orders reach the matcher one at a time, as a trickle: the commands per batch it made of them and
   the CPU per order of the matcher and of the PostgreSQL backends serving it (its fixed cost per
   batch, which a saturating load hides by batching).

wrk's CPU share (user + system time over wall time over the machine's cores, from wait4) is reported
for the floor and order runs, to show the load generator was not what saturated. For the orders
runs of 2 and 4, the CPU time (user + system) that each part spent per order: the web pool (master
and workers), the matcher, and the embedded PostgreSQL and Redis (bench/common.py CpuMeter; not
counted when the servers are given by URL). CPU per order hardly moves when the shared machine is
busy, where a rate does, and it says which part bounds the rate. Any answer outside
2xx, any error object in a batch answer and any socket error or timeout fails the benchmark. wrk,
web, matcher, subscribers, PostgreSQL and Redis share the machine's cores.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from bench import common
from bench.bench_orders import UNLIMITED, MatcherProcess, _bodies, _login
from bench.common import ROOT, CpuMeter, Figure, WebProcess, btc_usdt_traders, in_throwaway_database, percentile

SCRIPTS = ROOT / "bench" / "wrk"
THREADS = 2
CONNECTIONS = 16
USERS = 16
ALONE_CONNECTIONS = 8
BATCH = 20  # orders per body: bench/wrk/batch.lua
# 80 orders in flight already saturate the web process; 16 connections of 20 would keep ~8 s answers.
BATCH_CONNECTIONS = 4
WARMUP = 2  # seconds
SECONDS = 10
SUBSCRIBERS = 200
SERVICE_BLOCKS = 8
SERVICE_ORDERS = 50


@dataclass(frozen=True)
class WrkRun:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    cpu_share: float  # % of the machine's cores

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def run() -> list[Figure]:
    if shutil.which("wrk") is None:
        raise RuntimeError("bench_entry needs wrk: `make bench` installs it (Debian: apt-get install wrk)")
    return in_throwaway_database(_measure)


def _wrk(
    url: str, script: str, seconds: float, connections: int = CONNECTIONS, args: tuple[str, ...] = (),
    threads: int = THREADS,
) -> WrkRun:  # fmt: skip
    """One wrk run; raises on any failed request."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "--latency",
               "-s", str(SCRIPTS / script), url, "--", *args]  # fmt: skip
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        # wait4, not Popen.wait: the child's own CPU time, whatever else this process runs meanwhile.
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    lines = text.splitlines()
    result = next((json.loads(x.split(" ", 1)[1]) for x in lines if x.startswith("WRK-RESULT ")), None)
    if proc.returncode != 0 or result is None:
        raise RuntimeError(f"wrk {script} failed ({proc.returncode}): {text[-2000:]}")
    failed = sum(result[k] for k in ("failures", "item_errors", "connect", "read", "write", "timeout"))
    if failed:
        samples = "\n".join(x for x in lines if x.startswith("WRK-FAILURE "))
        raise RuntimeError(f"wrk {script}: {failed} failed of {result['requests']} requests {result}\n{samples}")
    return WrkRun(result["requests"], result["seconds"], result["p50_ms"], result["p99_ms"],
                  100 * (usage.ru_utime + usage.ru_stime) / wall / os.cpu_count())  # fmt: skip


def _measured(
    url: str, script: str, connections: int = CONNECTIONS, args: tuple[str, ...] = (), meter: CpuMeter | None = None
) -> tuple[WrkRun, dict[str, float]]:
    """A warm-up, then the measured run, with the CPU seconds each part of the stack spent in it."""
    _wrk(url, script, WARMUP, connections, args)
    before = meter.reading() if meter else {}
    run = _wrk(url, script, SECONDS, connections, args)
    return run, CpuMeter.spent(before, meter.reading()) if meter else {}


def _tokens(directory: str, users) -> str:
    """A fresh token file for the wrk scripts: one line of comma-separated tokens per wrk thread."""
    tokens = _login(users)
    path = Path(directory) / f"tokens-{len(users)}.txt"
    path.write_text("".join(",".join(tokens[t::THREADS]) + "\n" for t in range(min(THREADS, len(tokens)))))
    return str(path)


def _batch_exists(port: int, token: str) -> bool:
    """One order through POST /orders/batch: False while the endpoint is not there (404)."""
    import httpx

    body = {"orders": [{"symbol": "BTC-USDT", "side": "buy", "type": "limit", "price": "9000.00",
                        "quantity": "0.0010"}]}  # fmt: skip
    response = httpx.post(f"http://127.0.0.1:{port}/api/v1/orders/batch", json=body, timeout=30,
                          headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    if response.status_code == 404:
        return False
    if not response.is_success or "error" in response.text:
        raise RuntimeError(f"POST /orders/batch: {response.status_code} {response.text[:300]}")
    return True


def _stream_endpoint(web: WebProcess, env: dict[str, str]):
    """The process serving /ws/v1/: a StreamProcess of its own where bench/common.py has one (the
    web process then serves REST only), else the web process itself."""
    stream_process = getattr(common, "StreamProcess", None)
    return stream_process(**env) if stream_process is not None else contextlib.nullcontext(web)


def _delivery_under_load(url: str, stream_port: int, tokens: str) -> tuple[WrkRun, list[float]]:
    """Commit -> subscriber delays (ms) of SUBSCRIBERS sockets while wrk saturates POST /orders."""
    seconds = SECONDS - 2  # the subscribers count from 1 s after wrk starts to 1 s before it ends
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(1) as pool:
        out = str(Path(tmp) / "subscribers.json")
        client = subprocess.Popen([sys.executable, "-m", "bench.fanout_client", str(stream_port), str(SUBSCRIBERS),
                                   str(seconds), out], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True)  # fmt: skip
        try:
            if client.stdout.readline().strip() != "ready":
                raise RuntimeError("the subscriber process did not connect")
            load = pool.submit(_wrk, url, "orders.lua", SECONDS, CONNECTIONS, (tokens, "4"))
            time.sleep(1)
            client.stdin.write("go\n")
            client.stdin.flush()
            client.wait(timeout=seconds + 60)
            rest = load.result()
            delays = json.loads(Path(out).read_text())["delays"]
        finally:
            if client.poll() is None:
                client.kill()
                client.wait()
    if not delays:
        raise RuntimeError("no book update reached the subscribers")
    return rest, [d * 1000 for d in delays]


def _service_time(users) -> float:
    """Median milliseconds per place_order over blocks of SERVICE_ORDERS, in this process."""
    from apps.orders.services import OrderRequest, place_order

    rng, blocks = random.Random(5), []
    for _ in range(SERVICE_BLOCKS):
        requests = [OrderRequest(**{k: Decimal(v) if k in ("price", "quantity") else v for k, v in body.items()})
                    for body in map(json.loads, _bodies(rng, SERVICE_ORDERS))]  # fmt: skip
        started = time.perf_counter()
        for i, request in enumerate(requests):
            place_order(user=users[i % len(users)], request=request)
        blocks.append((time.perf_counter() - started) * 1000 / SERVICE_ORDERS)
    return statistics.median(blocks)


def _commands_applied() -> int:
    from apps.matching.models import MarketState

    return sum(MarketState.objects.values_list("commands_applied", flat=True))


def _wait_applied(count: int) -> None:
    deadline = time.monotonic() + 60
    while _commands_applied() < count:
        if time.monotonic() > deadline:
            raise RuntimeError("the matcher did not apply the orders of the service-time blocks")
        time.sleep(0.05)


def _batches_since(started) -> int:
    """Batches the matcher settled since `started`: each stamps the orders it changes with its time."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(DISTINCT updated_at) FROM orders_order "
                       "WHERE applied AND updated_at >= to_timestamp(%s)", [started])  # fmt: skip
        return cursor.fetchone()[0]


def _measure(settings_dict) -> list[Figure]:
    from tests.support import database_url

    users = btc_usdt_traders("bench-entry", USERS)
    env = {**os.environ, "DATABASE_URL": database_url(settings_dict), "RATE_LIMITS_JSON": json.dumps(UNLIMITED)}
    web_env = {"DATABASE_URL": env["DATABASE_URL"], "RATE_LIMITS_JSON": env["RATE_LIMITS_JSON"]}
    matcher = MatcherProcess(env)
    batch, batch_cpu = None, {}
    try:
        with WebProcess(**web_env) as web, tempfile.TemporaryDirectory() as tmp:
            url = f"http://127.0.0.1:{web.port}"
            floor, _ = _measured(f"{url}/healthz", "healthz.lua")
            meter = CpuMeter().add("web", web.proc.pid).add("matcher", matcher.proc.pid)
            entry, entry_cpu = _measured(url, "orders.lua", args=(_tokens(tmp, users), "1"), meter=meter)
            alone, _ = _measured(url, "orders.lua", ALONE_CONNECTIONS, (_tokens(tmp, users[:1]), "2"))
            if _batch_exists(web.port, _login(users[:1])[0]):
                batch, batch_cpu = _measured(url, "batch.lua", BATCH_CONNECTIONS, (_tokens(tmp, users), "3"),
                                             meter=meter)  # fmt: skip
            else:
                print("  (bench_entry: POST /api/v1/orders/batch answers 404: its figures are omitted)", flush=True)
            with _stream_endpoint(web, web_env) as stream:
                loaded, delays = _delivery_under_load(url, stream.port, _tokens(tmp, users))
        meter = CpuMeter().add("matcher", matcher.proc.pid)
        before, applied = meter.reading(), _commands_applied()
        started = time.time()
        service_ms = _service_time(users)
        _wait_applied(applied + SERVICE_BLOCKS * SERVICE_ORDERS)
        trickle_cpu, trickle_batches = CpuMeter.spent(before, meter.reading()), _batches_since(started)
    finally:
        matcher.stop()
    cores, trickle = os.cpu_count(), SERVICE_BLOCKS * SERVICE_ORDERS
    figures = [
        Figure(f"wrk GET /healthz, {CONNECTIONS} conns (floor)", floor.rate, "req/s"),
        Figure(f"wrk POST /orders, {CONNECTIONS} conns, {USERS} accounts", entry.rate, "orders/s"),
        Figure("wrk POST /orders p50", entry.p50_ms, "ms"),
        Figure("wrk POST /orders p99", entry.p99_ms, "ms"),
        Figure("wrk POST /orders / floor", 100 * entry.rate / floor.rate, "% of floor"),
        Figure(f"wrk POST /orders, 1 account, {ALONE_CONNECTIONS} conns", alone.rate, "orders/s"),
    ]
    if batch is not None:
        figures += [
            Figure(f"wrk POST /orders/batch of {BATCH}, {BATCH_CONNECTIONS} conns", batch.rate * BATCH, "orders/s"),
            Figure(f"wrk POST /orders/batch of {BATCH} requests", batch.rate, "req/s"),
            Figure("wrk POST /orders/batch orders / floor", 100 * batch.rate * BATCH / floor.rate, "% of floor"),
        ]
    figures += [
        Figure("wrk CPU share, GET /healthz run", floor.cpu_share, f"% of {cores} cores"),
        Figure("wrk CPU share, POST /orders run", entry.cpu_share, f"% of {cores} cores"),
    ]
    if batch is not None:
        figures.append(Figure("wrk CPU share, POST /orders/batch run", batch.cpu_share, f"% of {cores} cores"))
    for label, run_, cpu, per in (("POST /orders", entry, entry_cpu, 1), ("batch of 20", batch, batch_cpu, BATCH)):
        if run_ is None:
            continue
        orders = run_.requests * per
        figures.append(Figure(f"CPU per order, {label}: all counted", 1e6 * sum(cpu.values()) / orders, "us"))
        figures += [Figure(f"CPU per order, {label}: {part}", 1e6 * seconds / orders, "us")
                    for part, seconds in cpu.items()]  # fmt: skip
    figures += [
        Figure(f"place_order, in process, blocks of {SERVICE_ORDERS}", service_ms, "ms/order (median)"),
        Figure("matcher fed by those orders, commands per batch", trickle / trickle_batches, ""),
        *(
            Figure(f"matcher fed by those orders, CPU per order: {part}", 1e6 * seconds / trickle, "us")
            for part, seconds in trickle_cpu.items()
            if part != "PostgreSQL, other"
        ),
        Figure(f"WS commit->sub p50, {SUBSCRIBERS} subs, REST busy", percentile(delays, 50), "ms"),
        Figure(f"WS commit->sub p99, {SUBSCRIBERS} subs, REST busy", percentile(delays, 99), "ms"),
        Figure("wrk POST /orders during the WS figures", loaded.rate, "orders/s"),
    ]
    return figures
