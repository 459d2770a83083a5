"""A market simulator: market-making and taking bots that trade through the public REST API and
follow the WebSocket stream, as any client would. No Django here: `simulate_market` prepares the
bots' accounts and runs this.

Each second `rate` actions are started (at most IN_FLIGHT at once): makers quote post-only limit
orders a few ticks around a moving mid and cancel their oldest quotes, takers send small market
orders. A public connection follows every market's book (checksums verified, as the reference
client does) and trades; a private connection per bot times each order from its POST to the
matcher's first event about it. The report counts every answer by status and code and gives the
latency percentiles.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

import httpx
import websockets

from apps.markets.client import BookError, LocalBook

IN_FLIGHT = 32
QUOTES_PER_MAKER = 20  # open quotes a maker keeps per market before it cancels its oldest
DEFAULT_MIDS = {"BTC-USDT": Decimal("60000"), "ETH-USDT": Decimal("3000"), "ETH-BTC": Decimal("0.05")}


@dataclass
class Bot:
    username: str
    password: str
    role: str  # "maker" or "taker"
    access: str = ""
    client: httpx.AsyncClient | None = None
    quotes: dict[str, deque] = field(default_factory=dict)  # symbol -> order ids, oldest first


@dataclass
class Report:
    seconds: float = 0.0
    actions: Counter = field(default_factory=Counter)  # action -> started
    answers: Counter = field(default_factory=Counter)  # (action, status, code) -> count
    latency: dict[str, list[float]] = field(default_factory=dict)  # action -> REST seconds
    to_event: list[float] = field(default_factory=list)  # POST sent -> first private event, seconds
    trades_seen: int = 0
    fills_seen: int = 0
    book_messages: int = 0
    book_resyncs: int = 0
    stream_errors: Counter = field(default_factory=Counter)

    @property
    def server_errors(self) -> int:
        return sum(n for (_, status, _), n in self.answers.items() if status == 0 or status >= 500)

    def summary(self) -> dict:
        done = sum(self.answers.values())
        accepted = sum(n for (_, status, _), n in self.answers.items() if 200 <= status < 300)

        def percentiles(samples: list[float]) -> dict:
            if len(samples) < 2:
                return {"count": len(samples)}
            q = statistics.quantiles(samples, n=100, method="inclusive")
            return {"count": len(samples), "p50_ms": round(q[49] * 1000, 1), "p95_ms": round(q[94] * 1000, 1),
                    "p99_ms": round(q[98] * 1000, 1)}  # fmt: skip

        return {
            "seconds": round(self.seconds, 1),
            "requests": done,
            "accepted": accepted,
            "throughput_per_second": round(done / self.seconds, 1) if self.seconds else 0,
            "answers": {f"{a} {s} {c}".strip(): n for (a, s, c), n in sorted(self.answers.items())},
            "rest_latency": {action: percentiles(samples) for action, samples in sorted(self.latency.items())},
            "order_to_matcher_event": percentiles(self.to_event),
            "trades_seen": self.trades_seen,
            "fills_seen": self.fills_seen,
            "book_messages": self.book_messages,
            "book_resyncs": self.book_resyncs,
            "stream_errors": dict(self.stream_errors),
            "server_errors": self.server_errors,
        }


class Simulator:
    def __init__(self, base_url: str, bots: list[Bot], symbols: list[str], rate: float, duration: float,
                 seed: int | None = None):  # fmt: skip
        self.base_url = base_url.rstrip("/")
        self.ws_url = self.base_url.replace("http", "ws", 1) + "/ws/v1/"
        self.bots, self.symbols, self.rate, self.duration = bots, symbols, rate, duration
        self.rng = random.Random(seed)  # noqa: S311 - a simulation, not a secret
        self.report = Report()
        self.markets: dict[str, dict] = {}
        self.mids: dict[str, Decimal] = {}
        self.sent: dict[str, float] = {}  # client_order_id -> when its POST was sent
        self.stop = asyncio.Event()
        self.last_event = time.perf_counter()  # when a stream last brought a message
        self.subscribed: set[tuple[str, str]] = set()  # (channel, symbol or bot) confirmed by the server

    # -- set-up ------------------------------------------------------------------------------------

    async def prepare(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10) as public:
            listed = {m["symbol"]: m for m in (await public.get("/api/v1/markets")).json()}
            for symbol in self.symbols:
                if symbol not in listed:
                    raise ValueError(f"unknown market {symbol}")
                self.markets[symbol] = listed[symbol]
                ticker = (await public.get(f"/api/v1/markets/{symbol}/ticker")).json()
                last = ticker.get("last")
                self.mids[symbol] = Decimal(last) if last else DEFAULT_MIDS.get(symbol, Decimal("100"))
        for bot in self.bots:
            bot.client = httpx.AsyncClient(base_url=self.base_url + "/api/v1", timeout=15)
            await self.log_in(bot)

    async def log_in(self, bot: Bot) -> None:
        answer = await bot.client.post("/auth/login", json={"username": bot.username, "password": bot.password})
        answer.raise_for_status()
        bot.access = answer.json()["access"]
        bot.client.headers["Authorization"] = f"Bearer {bot.access}"

    # -- the run -----------------------------------------------------------------------------------

    async def run(self) -> Report:
        await self.prepare()
        started = time.perf_counter()
        streams = [asyncio.create_task(self.follow_public())]
        streams += [asyncio.create_task(self.follow_private(bot)) for bot in self.bots]
        # Every stream subscribed before the first order, or early fills and trades would go uncounted.
        try:
            await asyncio.wait_for(self.all_subscribed(), 15)
        except TimeoutError:
            self.report.stream_errors["not_subscribed_in_15s"] += 1
        slots = asyncio.Semaphore(IN_FLIGHT)
        tasks: set[asyncio.Task] = set()
        n = 0
        try:
            while not self.stop.is_set() and (not self.duration or time.perf_counter() - started < self.duration):
                n += 1
                await slots.acquire()
                task = asyncio.create_task(self.act())
                tasks.add(task)
                task.add_done_callback(lambda t: (tasks.discard(t), slots.release()))
                pause = started + n / self.rate - time.perf_counter()
                if pause > 0:
                    await asyncio.sleep(pause)
            if tasks:
                await asyncio.wait(tasks, timeout=30)
            # The last events arrive: wait until the streams have been quiet for a second (at most 15 s).
            drained = time.perf_counter() + 15
            while time.perf_counter() - self.last_event < 1.0 and time.perf_counter() < drained:
                await asyncio.sleep(0.1)
        finally:
            self.report.seconds = time.perf_counter() - started
            for stream in streams:
                stream.cancel()
            for outcome in await asyncio.gather(*streams, return_exceptions=True):
                if isinstance(outcome, Exception):  # a connection that failed or dropped
                    self.report.stream_errors[type(outcome).__name__] += 1
            for bot in self.bots:
                await bot.client.aclose()
        return self.report

    async def all_subscribed(self) -> None:
        wanted = {("book", symbol) for symbol in self.symbols} | {("trades", symbol) for symbol in self.symbols}
        wanted |= {("orders", bot.username) for bot in self.bots}
        while not wanted <= self.subscribed:
            await asyncio.sleep(0.05)

    async def act(self) -> None:
        symbol = self.rng.choice(self.symbols)
        self.drift(symbol)
        roll = self.rng.random()
        makers = [b for b in self.bots if b.role == "maker"]
        takers = [b for b in self.bots if b.role == "taker"] or makers
        if roll < 0.6:
            bot = self.rng.choice(makers)
            quotes = bot.quotes.setdefault(symbol, deque())
            if len(quotes) >= QUOTES_PER_MAKER:
                await self.cancel(bot, quotes.popleft())
            else:
                await self.quote(bot, symbol)
        elif roll < 0.8:
            bot = self.rng.choice(makers)
            quotes = bot.quotes.get(symbol)
            if quotes:
                await self.cancel(bot, quotes.popleft())
        else:
            await self.take(self.rng.choice(takers), symbol)

    def drift(self, symbol: str) -> None:
        """A random walk of the mid, a tick or two at a time, so the book moves and quotes cross."""
        tick = Decimal(self.markets[symbol]["tick_size"])
        self.mids[symbol] = max(tick * 10, self.mids[symbol] + tick * self.rng.choice((-2, -1, 0, 0, 1, 2)))

    def size(self, symbol: str, price: Decimal) -> Decimal:
        """A few times the minimum order value, in whole lots."""
        market = self.markets[symbol]
        lot, minimum = Decimal(market["lot_size"]), Decimal(market["min_notional"])
        quantity = minimum * self.rng.randint(2, 6) / price
        return max(lot, (quantity / lot).to_integral_value(ROUND_DOWN) * lot)

    async def quote(self, bot: Bot, symbol: str) -> None:
        tick = Decimal(self.markets[symbol]["tick_size"])
        side = self.rng.choice(("buy", "sell"))
        offset = tick * self.rng.randint(1, 25)
        price = self.mids[symbol] - offset if side == "buy" else self.mids[symbol] + offset
        price = (price / tick).to_integral_value() * tick
        body = {"symbol": symbol, "side": side, "type": "limit", "price": str(price),
                "quantity": str(self.size(symbol, price)), "post_only": True}  # fmt: skip
        order = await self.post(bot, "quote", body)
        if order is not None and order.get("status") == "new":
            bot.quotes.setdefault(symbol, deque()).append(order["id"])

    async def take(self, bot: Bot, symbol: str) -> None:
        side = self.rng.choice(("buy", "sell"))
        quantity = self.size(symbol, self.mids[symbol])
        await self.post(bot, "take", {"symbol": symbol, "side": side, "type": "market", "quantity": str(quantity)})

    async def post(self, bot: Bot, action: str, body: dict) -> dict | None:
        body["client_order_id"] = client_id = f"sim-{uuid.uuid4().hex[:20]}"
        self.sent[client_id] = time.perf_counter()
        answer = await self.request(bot, action, "POST", "/orders", body)
        if answer is None:
            self.sent.pop(client_id, None)  # refused: no matcher event will come for it
        return answer

    async def cancel(self, bot: Bot, order_id: int) -> None:
        await self.request(bot, "cancel", "DELETE", f"/orders/{order_id}")

    async def request(self, bot: Bot, action: str, method: str, path: str, body: dict | None = None):
        self.report.actions[action] += 1
        started = time.perf_counter()
        try:
            answer = await bot.client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            self.report.answers[(action, 0, type(exc).__name__)] += 1
            return None
        self.report.latency.setdefault(action, []).append(time.perf_counter() - started)
        code = ""
        if answer.status_code >= 400:
            try:
                code = answer.json()["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = "unparsed"
            if answer.status_code == 401:
                await self.log_in(bot)  # the access token expired (it lives five minutes)
        self.report.answers[(action, answer.status_code, code)] += 1
        return answer.json() if answer.status_code < 300 and answer.content else None

    # -- the streams -------------------------------------------------------------------------------

    async def follow_public(self) -> None:
        books = {symbol: LocalBook(symbol) for symbol in self.symbols}
        async with websockets.connect(self.ws_url, origin=self.base_url, max_size=2**24) as ws:

            async def subscribe_missing() -> None:
                for channel in ("book", "trades"):
                    for symbol in self.symbols:
                        if (channel, symbol) not in self.subscribed:
                            extra = {"depth": 20} if channel == "book" else {}
                            await ws.send(json.dumps({"op": "subscribe", "channel": channel, "symbol": symbol,
                                                      **extra}))  # fmt: skip

            await subscribe_missing()
            async for raw in ws:
                self.last_event = time.perf_counter()
                message = json.loads(raw)
                if message.get("type") == "subscribed":
                    self.subscribed.add((message.get("channel"), message.get("symbol")))
                elif message.get("type") == "error":
                    self.report.stream_errors[message.get("code")] += 1
                    if message.get("code") == "internal_error":  # the server could not do it now: again
                        await asyncio.sleep(0.2)
                        await subscribe_missing()
                elif message.get("channel") == "trades" and message.get("type") == "trade":
                    self.report.trades_seen += 1
                elif message.get("channel") == "book" and message.get("type") in ("snapshot", "update"):
                    book = books[message["symbol"]]
                    if message["type"] == "update" and book.sequence is None:
                        continue  # left over from before a resubscription
                    try:
                        book.apply(message)
                        self.report.book_messages += 1
                    except BookError:
                        self.report.book_resyncs += 1
                        book.sequence = None
                        await ws.send(json.dumps({"op": "subscribe", "channel": "book", "symbol": message["symbol"],
                                                  "depth": 20}))  # fmt: skip

    async def follow_private(self, bot: Bot) -> None:
        async with websockets.connect(self.ws_url, origin=self.base_url, max_size=2**24) as ws:
            await ws.send(json.dumps({"op": "auth", "token": bot.access}))
            authenticated = False
            async for raw in ws:
                self.last_event = time.perf_counter()
                message = json.loads(raw)
                if message.get("type") == "authenticated":  # the private channel needs it first
                    authenticated = True
                    await ws.send(json.dumps({"op": "subscribe", "channel": "orders"}))
                elif message.get("type") == "subscribed":
                    self.subscribed.add(("orders", bot.username))
                elif message.get("code") == "internal_error":  # the server could not do it now: again
                    self.report.stream_errors["internal_error"] += 1
                    await asyncio.sleep(0.2)
                    if not authenticated:
                        await ws.send(json.dumps({"op": "auth", "token": bot.access}))
                    elif ("orders", bot.username) not in self.subscribed:
                        await ws.send(json.dumps({"op": "subscribe", "channel": "orders"}))
                elif message.get("type") == "order":
                    sent = self.sent.pop(message["order"].get("client_order_id") or "", None)
                    if sent is not None:
                        self.report.to_event.append(time.perf_counter() - sent)
                elif message.get("type") == "fill":
                    self.report.fills_seen += 1
                elif message.get("type") == "error":
                    self.report.stream_errors[message.get("code")] += 1
