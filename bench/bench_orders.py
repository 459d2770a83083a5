"""REST order entry against the real web process, with a real matcher behind it, and the time from an
accepted order to its book update on a WebSocket.

Workload (throwaway database): 16 traders (JWT), each on its own keep-alive connection, place 250
limit orders (4,000 in all) with POST /api/v1/orders, alternating sides around a mid so about a third
cross; the matcher settles them as they come. Reports orders/s and p50/p99 latency as the clients see
them. Then one WebSocket client subscribed to the BTC-USDT book, and 200 orders placed one at a
time, each at a new price level: the delay from the 201 answer to the update carrying that level.
Every pre-trade check is configured on the market (none refuses this flow); their cost is measured
in eight rounds of 800 orders alternating between that web process and a second one started
with `PRE_TRADE_CHECKS=false`, compared by the median round; and, with far less noise than through
HTTP on two shared cores, as the service time of `place_order` itself in this process (blocks of 50
orders, checks on and off alternating, medians compared).
Web (the gunicorn pool, WEB_CONCURRENCY=2), stream (uvicorn, for the WebSocket) and matcher are the
Procfile's commands (DEBUG off, rate limits lifted); the load generator shares the two cores with them.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shlex
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from bench.common import ROOT, Figure, StreamProcess, WebProcess, btc_usdt_traders, in_throwaway_database, percentile

CLIENTS = 16
ORDERS_PER_CLIENT = 250
LATENCY_SAMPLES = 200
CHECK_ROUNDS = 8
CHECK_ORDERS_PER_CLIENT = 50
SERVICE_BLOCKS = 40  # in-process service time: blocks of SERVICE_ORDERS, checks on and off alternating
SERVICE_ORDERS = 50
CHECK_LIMITS = {"max_order_quantity": Decimal("1"), "max_order_notional": Decimal("1000000"),
                "price_band": Decimal("0.6"), "max_open_orders": 100_000}  # fmt: skip
UNLIMITED = {tier: {"orders": 10**9, "private": 10**9, "public": 10**9}
             for tier in ("anonymous", "basic", "pro", "institutional")}  # fmt: skip


def run() -> list[Figure]:
    return in_throwaway_database(_measure)


class MatcherProcess:
    def __init__(self, env: dict[str, str]):
        line = next(x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith("matcher:"))
        args = shlex.split(line.split(":", 1)[1])
        args[0] = str(Path(sys.executable).parent / args[0])
        self.proc = subprocess.Popen(args, cwd=ROOT, env={**env, "MATCHER_METRICS_PORT": "0"},
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _login(users) -> list[str]:
    """Fresh access tokens (they live JWT_ACCESS_MINUTES, 5: shorter than the whole benchmark)."""
    from apps.accounts import services as account_services

    return [account_services.login(username=u.username, password="bench-password-123", otp_code=None).access
            for u in users]  # fmt: skip


async def _post_client(port: int, token: str, bodies: list[bytes], latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (f"POST /api/v1/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\n")  # fmt: skip
    try:
        for body in bodies:
            started = time.perf_counter()
            writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            response_head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":", 1)[1]) for line in response_head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))  # fmt: skip
            payload = await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if response_head[9:12] != b"201":
                raise RuntimeError(f"POST /orders: {response_head[:12]!r} {payload[:300]!r}")
    finally:
        writer.close()


def _bodies(rng: random.Random, n: int) -> list[bytes]:
    bodies = []
    for i in range(n):
        side = "buy" if i % 2 else "sell"
        ticks = 1_000_000 + rng.randint(-30, 30) + (10 if side == "sell" else -10)
        bodies.append(json.dumps({"symbol": "BTC-USDT", "side": side, "type": "limit", "price": f"{ticks / 100:.2f}",
                                  "quantity": f"{rng.randint(1, 50) / 10_000:.4f}"}).encode())  # fmt: skip
    return bodies


async def _entry(port: int, tokens: list[str], per_client: int = ORDERS_PER_CLIENT) -> tuple[float, list[float]]:
    rng = random.Random(9)
    work = [_bodies(rng, per_client) for _ in range(CLIENTS)]
    latencies: list[float] = []
    await asyncio.gather(*(_post_client(port, tokens[i], _bodies(rng, 20), []) for i in range(CLIENTS)))  # warm-up
    started = time.perf_counter()
    await asyncio.gather(*(_post_client(port, tokens[i], work[i], latencies) for i in range(CLIENTS)))
    return time.perf_counter() - started, latencies


def _service_time(users) -> tuple[float, float]:
    """Median milliseconds per place_order, checks on and off, in blocks alternating between the two."""
    from django.test import override_settings

    from apps.orders.services import OrderRequest, place_order

    rng, times = random.Random(5), {"on": [], "off": []}
    for block in range(SERVICE_BLOCKS):
        for label in ("on", "off") if block % 2 == 0 else ("off", "on"):
            bodies = [json.loads(body) for body in _bodies(rng, SERVICE_ORDERS)]
            requests = [OrderRequest(**{k: Decimal(v) if k in ("price", "quantity") else v for k, v in b.items()})
                        for b in bodies]  # fmt: skip
            with override_settings(PRE_TRADE_CHECKS=label == "on"):
                started = time.perf_counter()
                for i, request in enumerate(requests):
                    place_order(user=users[i % CLIENTS], request=request)
                times[label].append((time.perf_counter() - started) * 1000 / SERVICE_ORDERS)
    return statistics.median(times["on"]), statistics.median(times["off"])


async def _book_latency(port: int, stream_port: int, token: str) -> list[float]:
    import httpx
    import websockets

    delays = []
    async with (
        websockets.connect(f"ws://127.0.0.1:{stream_port}/ws/v1/", origin=f"http://127.0.0.1:{port}") as ws,
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}/api/v1", headers={"Authorization": f"Bearer {token}"}
        ) as http,  # fmt: skip
    ):
        await ws.send(json.dumps({"op": "subscribe", "channel": "book", "symbol": "BTC-USDT", "depth": 500}))
        await ws.recv()  # subscribed
        await ws.recv()  # snapshot
        for i in range(LATENCY_SAMPLES):
            price = f"{5000 + i / 100:.2f}"  # a new level far below the market: it rests
            response = await http.post("/orders", json={"symbol": "BTC-USDT", "side": "buy", "type": "limit",
                                                         "price": price, "quantity": "0.0010"})  # fmt: skip
            accepted = time.perf_counter()
            if response.status_code != 201:
                raise RuntimeError(response.text)
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if message.get("channel") == "book" and any(level[0] == price for level in message["bids"]):
                    delays.append(time.perf_counter() - accepted)
                    break
    return delays


def _measure(settings_dict) -> list[Figure]:
    from apps.markets import services as market_services
    from apps.markets.models import Market
    from tests.support import database_url

    users = btc_usdt_traders("bench-orders", CLIENTS + 1)
    tokens = _login(users)
    # Every pre-trade check configured, none of them refusing this flow: they all run.
    market_services.update_market(market=Market.objects.get(symbol="BTC-USDT"), changes=CHECK_LIMITS)
    env = {**os.environ, "DATABASE_URL": database_url(settings_dict), "RATE_LIMITS_JSON": json.dumps(UNLIMITED)}
    web_env = {"DATABASE_URL": env["DATABASE_URL"], "RATE_LIMITS_JSON": env["RATE_LIMITS_JSON"]}
    matcher = MatcherProcess(env)
    rates: dict[str, list[float]] = {"on": [], "off": []}
    try:
        with StreamProcess(**web_env) as stream, WebProcess(**web_env, STREAM_PORT=str(stream.port)) as web, \
                WebProcess(**web_env, PRE_TRADE_CHECKS="false") as unchecked:  # fmt: skip
            elapsed, latencies = asyncio.run(_entry(web.port, tokens))
            delays = asyncio.run(_book_latency(web.port, stream.port, tokens[-1]))
            # The checks' cost: rounds alternating between the two web processes, same flow.
            for round_ in range(CHECK_ROUNDS):  # on-off, off-on, ...: neither always goes first
                pair = (("on", web), ("off", unchecked))
                for label, process in pair if round_ % 2 == 0 else reversed(pair):
                    tokens = _login(users)
                    seconds, _ = asyncio.run(_entry(process.port, tokens, CHECK_ORDERS_PER_CLIENT))
                    rates[label].append(CLIENTS * CHECK_ORDERS_PER_CLIENT / seconds)
        on_ms, off_ms = _service_time(users)
    finally:
        matcher.stop()
    ms = [x * 1000 for x in latencies]
    delay_ms = [x * 1000 for x in delays]
    total = CLIENTS * ORDERS_PER_CLIENT
    return [
        Figure(f"POST /orders, {CLIENTS} clients, {total:,} orders", total / elapsed, "orders/s"),
        Figure("POST /orders p50", percentile(ms, 50), "ms"),
        Figure("POST /orders p99", percentile(ms, 99), "ms"),
        Figure("accepted order -> WebSocket book update p50", percentile(delay_ms, 50), "ms"),
        Figure("accepted order -> WebSocket book update p99", percentile(delay_ms, 99), "ms"),
        Figure("POST /orders, pre-trade checks on (median round)", statistics.median(rates["on"]), "orders/s"),
        Figure("POST /orders, pre-trade checks off (median round)", statistics.median(rates["off"]), "orders/s"),
        Figure("place_order service time, checks on (median block)", on_ms, "ms/order"),
        Figure("place_order service time, checks off (median block)", off_ms, "ms/order"),
        Figure("pre-trade checks' cost in service time", 100 * (on_ms / off_ms - 1), "%"),
        Figure(
            "pre-trade checks' cost",
            100 * (1 - statistics.median(rates["on"]) / statistics.median(rates["off"])),
            "% of throughput",
        ),
    ]
