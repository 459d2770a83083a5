"""Market-data fan-out: 1,000 WebSocket subscribers on one market and a steady order flow.

Workload (throwaway database): the Procfile's stream process (uvicorn with STREAM_CONCURRENCY=2 worker
processes) and matcher; two client processes open 500 sockets each, every socket subscribed to the
BTC-USDT book (depth 50) and trades. Orders are placed at a steady RATE per second for SECONDS
(limit orders of two traders around 100, about a third crossing), each settling in a batch of its
own and producing one book update and its trades for every subscriber. Reports the messages
delivered per second across all subscribers, and the delay from the matcher's commit of a batch
(the `time` of its book update) to the update's arrival at a subscriber, p50 and p99. Clients,
web, matcher, PostgreSQL and Redis share the two cores.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from bench.bench_orders import UNLIMITED, MatcherProcess
from bench.common import ROOT, Figure, StreamProcess, btc_usdt_traders, in_throwaway_database, percentile

SUBSCRIBERS = 1000
CLIENT_PROCESSES = 2
RATE = 10  # orders per second
SECONDS = 20.0
# uvicorn worker processes of the stream (STREAM_CONCURRENCY): each keeps its own feed and serves its
# share of the sockets, so the fan-out runs on both cores.
STREAM_WORKERS = 2


def run() -> list[Figure]:
    return in_throwaway_database(_measure)


def _flow(users, seconds: float) -> int:
    from apps.orders.services import OrderRequest, place_order

    rng = random.Random(8)
    placed, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        side = "sell" if placed % 2 else "buy"
        cents = 10_000 + rng.randint(-300, 300) + (50 if side == "sell" else -50)  # around 100.00
        price = Decimal(cents).scaleb(-2)
        place_order(user=users[placed % 2], request=OrderRequest(symbol="BTC-USDT", side=side, type="limit",
                                                                 price=price, quantity=Decimal("0.0100")))  # fmt: skip
        placed += 1
        pause = placed / RATE - elapsed
        if pause > 0:
            time.sleep(pause)
    return placed


def _measure(settings_dict) -> list[Figure]:
    from apps.core.redis import get_redis
    from tests.support import database_url

    users = btc_usdt_traders("bench-fanout", 2)
    # A fresh database: what Redis holds of an earlier run's market (stream, book cache) goes too.
    get_redis().delete("exchange:book:BTC-USDT", "exchange:orders:BTC-USDT")
    env = {**os.environ, "DATABASE_URL": database_url(settings_dict), "RATE_LIMITS_JSON": json.dumps(UNLIMITED)}
    matcher = MatcherProcess(env)
    clients, outputs = [], []
    try:
        with StreamProcess(DATABASE_URL=env["DATABASE_URL"], RATE_LIMITS_JSON=env["RATE_LIMITS_JSON"],
                           STREAM_CONCURRENCY=str(STREAM_WORKERS)) as web, \
                tempfile.TemporaryDirectory() as tmp:  # fmt: skip
            for i in range(CLIENT_PROCESSES):
                out = str(Path(tmp) / f"client-{i}.json")
                outputs.append(out)
                args = [sys.executable, "-m", "bench.fanout_client", str(web.port),
                        str(SUBSCRIBERS // CLIENT_PROCESSES), str(SECONDS), out]  # fmt: skip
                clients.append(
                    subprocess.Popen(args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                )
            for client in clients:
                if client.stdout.readline().strip() != "ready":
                    raise RuntimeError("a subscriber process did not connect")
            for client in clients:
                client.stdin.write("go\n")
                client.stdin.flush()
            placed = _flow(users, SECONDS)
            for client in clients:
                client.wait(timeout=120)
            results = [json.loads(Path(out).read_text()) for out in outputs]
    finally:
        for client in clients:
            if client.poll() is None:
                client.kill()
        matcher.stop()
    messages = sum(r["messages"] for r in results)
    seconds = max(r["seconds"] for r in results)
    delays = [d * 1000 for r in results for d in r["delays"]]
    return [
        Figure(
            f"fan-out: {SUBSCRIBERS} subs, {STREAM_WORKERS} stream workers, {placed / SECONDS:.0f} orders/s",
            messages / seconds,
            "messages/s",
        ),
        Figure("fan-out: commit -> subscriber p50", percentile(delays, 50), "ms"),
        Figure("fan-out: commit -> subscriber p99", percentile(delays, 99), "ms"),
    ]
