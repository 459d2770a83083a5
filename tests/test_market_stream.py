"""Market data over real sockets: uvicorn serving /ws/v1/, a real matcher process, Redis and PostgreSQL.

Depth views and their checksums against the REST book over a random flow, the trades channel
against the trades table, the reference client's gap detection, a feed resynchronising after a
lost message, private channel isolation with JWT and API-key authentication, bad messages, slow
consumers, heartbeats and idle connections.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import socket
import struct
import time
from decimal import Decimal as D

import httpx
import pytest
import websockets
from channels.layers import get_channel_layer

from apps.accounts import services as account_services
from apps.accounts import signing
from apps.core.redis import get_redis
from apps.markets.book import MARKET_DATA_LAYER, checksum
from apps.markets.book import cache_key as book_cache_key
from apps.markets.client import BookClient
from apps.orders.exceptions import OrderClosed
from apps.orders.models import Order
from apps.orders.services import request_cancel
from apps.trades.models import Trade
from tests.conftest import FAST_FEEDS
from tests.factories import PASSWORD, assert_ledger_consistent, funded_trader, place
from tests.support import MatcherProcess, WebServer
from tests.test_matching_e2e import wait_until_settled

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SYMBOL = "BTC-USDT"


def url_of(server) -> str:
    return f"ws://127.0.0.1:{server.port}/ws/v1/"


def connect(server, path: str = "", **options):
    return websockets.connect(url_of(server) + path, origin=server.base_url, **options)


async def receive(ws, timeout: float = 10, skip=("heartbeat",)) -> dict:
    """The next message that is not a heartbeat."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message.get("type") not in skip:
            return message


def rest_book(server, depth: int) -> dict:
    return httpx.get(f"{server.base_url}/api/v1/markets/{SYMBOL}/book?depth={depth}", timeout=10).json()


def in_thread(function, *args):
    """Run ORM work from the event loop's side, closing that thread's connection afterwards."""

    def run():
        from django.db import connection

        try:
            return function(*args)
        finally:
            connection.close()

    return asyncio.to_thread(run)


def random_flow(seller, buyer, count: int, seed: int) -> None:
    """Limit orders around 100 on both sides, some crossing, some cancelled, a few market orders."""
    rng = random.Random(seed)
    placed = []
    for i in range(count):
        side = "sell" if rng.random() < 0.5 else "buy"
        user = seller if side == "sell" else buyer
        if i % 17 == 16:  # a market buy by quantity would hold every USDT the buyer has until it settles
            amount = {"quantity": "0.0200"} if side == "sell" else {"quote_quantity": "2.50"}
            placed.append(place(user, side=side, type="market", **amount))
        else:
            price = f"{100 + rng.randint(-8, 8) + rng.choice([0, 0.25, 0.5])}"
            placed.append(place(user, side=side, type="limit", price=price, quantity=f"0.0{rng.randint(2, 9)}00"))
        if i % 5 == 4:
            victim = rng.choice(placed)
            victim.refresh_from_db()
            if victim.status in Order.OPEN:
                with contextlib.suppress(OrderClosed):  # the matcher may fill it first (a 409 by REST)
                    request_cancel(user=victim.user, order_id=victim.pk)


def test_depth_views_trades_and_checksums_follow_a_random_flow(market, web_server, live_env, process_log_dir):
    seller, buyer = funded_trader(btc="50"), funded_trader(usdt="1000000")
    depths = (3, 10, 500)
    clients = {d: BookClient(url_of(web_server), SYMBOL, d, origin=web_server.base_url) for d in depths}
    trades: list[dict] = []

    async def follow_trades(ready: asyncio.Event, stop: asyncio.Event):
        async with connect(web_server) as ws:
            await ws.send(json.dumps({"op": "subscribe", "channel": "trades", "symbol": SYMBOL}))
            assert await receive(ws) == {"type": "subscribed", "channel": "trades", "symbol": SYMBOL}
            ready.set()
            while not stop.is_set():
                try:
                    message = await receive(ws, timeout=0.5)
                except TimeoutError:
                    continue
                assert message["channel"] == "trades" and message["type"] == "trade"
                trades.append(message)

    async def scenario():
        stop, trades_ready = asyncio.Event(), asyncio.Event()
        tasks = [asyncio.create_task(c.run(stop=stop)) for c in clients.values()]
        tasks.append(asyncio.create_task(follow_trades(trades_ready, stop)))
        deadline = time.monotonic() + 20
        while any(c.book.sequence is None for c in clients.values()) or not trades_ready.is_set():
            assert time.monotonic() < deadline, "no snapshot"
            await asyncio.sleep(0.05)
        await in_thread(random_flow, seller, buyer, 150, 11)
        await in_thread(wait_until_settled)
        deadline = time.monotonic() + 20
        while True:
            sequence = (await asyncio.to_thread(rest_book, web_server, 1))["sequence"]
            if all(c.book.sequence == sequence for c in clients.values()):
                break
            assert time.monotonic() < deadline, "the streams did not catch up with the REST book"
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # trades published with the last update
        stop.set()
        await asyncio.gather(*tasks)

    with MatcherProcess(live_env, process_log_dir, name="matcher-md"):
        asyncio.run(scenario())

    full = rest_book(web_server, 5000)
    assert len(full["bids"]) > 3 and len(full["asks"]) > 3, "the flow should leave a book deeper than 3"
    for depth, client in clients.items():
        rest = rest_book(web_server, depth)
        bids, asks = client.book.best_first()
        assert (bids, asks) == (rest["bids"], rest["asks"]) == (full["bids"][:depth], full["asks"][:depth])
        assert client.book.sequence == rest["sequence"]
        assert client.book.checksum() == checksum(full["bids"][:depth], full["asks"][:depth])
        assert (client.gaps, client.mismatches, client.resyncs) == (0, 0, 0)
        assert client.messages > 5  # a snapshot and updates (how many depends on the matcher's batching)
    rows = list(Trade.objects.filter(market=market).order_by("id"))
    assert rows, "the flow should trade"
    assert [t["id"] for t in trades] == [t.pk for t in rows]
    for message, row in zip(trades, rows, strict=True):
        assert D(message["price"]) == row.price and D(message["quantity"]) == row.quantity
        assert message["taker_side"] == row.taker_side and message["symbol"] == SYMBOL
    assert_ledger_consistent()


def test_the_reference_client_detects_a_gap_and_resynchronises(market, web_server, live_env, process_log_dir):
    seller, buyer = funded_trader(btc="10"), funded_trader(usdt="100000")

    class Lossy(BookClient):
        """Loses its second update, as a flaky network would."""

        dropped = False

        async def handle(self, message):
            if message.get("type") == "update" and self.messages == 2 and not self.dropped:
                self.dropped = True
                return False
            return await super().handle(message)

    client = Lossy(url_of(web_server), SYMBOL, 50, origin=web_server.base_url)

    async def scenario():
        stop = asyncio.Event()
        task = asyncio.create_task(client.run(stop=stop))
        while client.book.sequence is None:
            await asyncio.sleep(0.05)
        await in_thread(random_flow, seller, buyer, 30, 3)
        await in_thread(wait_until_settled)
        # Two more updates, settled one by one, whatever the flow's batching: one may be the lost
        # one, and the gap shows when the next arrives.
        for price in ("150", "151"):
            await in_thread(lambda price=price: place(seller, side="sell", type="limit", price=price,
                                                      quantity="0.0200"))  # fmt: skip
            await in_thread(wait_until_settled)
        deadline = time.monotonic() + 20
        while client.book.sequence != (await asyncio.to_thread(rest_book, web_server, 1))["sequence"]:
            if task.done():
                task.result()  # the client's own failure
            assert time.monotonic() < deadline, (client.book.sequence, client.messages, client.gaps)
            await asyncio.sleep(0.1)
        stop.set()
        await task

    with MatcherProcess(live_env, process_log_dir, name="matcher-gap"):
        asyncio.run(scenario())
    assert client.dropped and client.gaps == 1 and client.resyncs == 1 and client.mismatches == 0
    rest = rest_book(web_server, 50)
    assert list(client.book.best_first()) == [rest["bids"], rest["asks"]]


def test_a_feed_that_misses_updates_sends_every_subscriber_a_fresh_snapshot(market, web_server):
    """A process misses what is published while its pub/sub connection is down. Here the cache moves
    five updates ahead of what the feed was sent; the next update reveals the gap."""
    redis = get_redis()
    fmt = {"symbol": SYMBOL, "sequence": 7, "bids": [["99.00", "1.0000"]], "asks": [["101.00", "2.0000"]]}
    redis.set(book_cache_key(SYMBOL), json.dumps({**fmt, "checksum": checksum(fmt["bids"], fmt["asks"])}))

    async def scenario():
        async with connect(web_server) as ws:
            await ws.send(json.dumps({"op": "subscribe", "channel": "book", "symbol": SYMBOL, "depth": 5}))
            assert (await receive(ws))["type"] == "subscribed"
            snapshot = await receive(ws)
            assert (snapshot["type"], snapshot["sequence"], snapshot["bids"]) == ("snapshot", 7, [["99.00", "1.0000"]])
            # The matcher's cache after updates 8..12, of which the process only gets the last one.
            bids, asks = [["99.50", "0.5000"], ["99.00", "1.0000"]], [["100.50", "0.1000"], ["101.00", "2.0000"]]
            redis.set(book_cache_key(SYMBOL), json.dumps({"symbol": SYMBOL, "sequence": 12, "bids": bids,
                                                          "asks": asks, "checksum": checksum(bids, asks)}))  # fmt: skip
            await get_channel_layer(MARKET_DATA_LAYER).group_send(f"book.{SYMBOL}", {"type": "book.update", "payload": {
                "channel": "book", "type": "update", "symbol": SYMBOL, "sequence": 12, "bids": [],
                "asks": [["100.50", "0.1000"]], "checksum": checksum(bids, asks)}})  # fmt: skip
            fresh = await receive(ws)
            assert fresh == {"channel": "book", "type": "snapshot", "symbol": SYMBOL, "sequence": 12, "bids": bids,
                             "asks": asks, "checksum": checksum(bids, asks)}  # fmt: skip

    asyncio.run(scenario())


def _login(user) -> str:
    return account_services.login(username=user.username, password=PASSWORD, otp_code=None).access


def test_private_orders_channel_is_isolated_per_user(market, web_server, live_env, process_log_dir):
    alice, bob, eve = funded_trader(btc="1"), funded_trader(usdt="10000"), funded_trader(usdt="10000")
    key = account_services.create_api_key(user=bob, label="ws", permissions=["read"], ip_allowlist=[])
    trade_only = account_services.create_api_key(user=eve, label="t", permissions=["trade"], ip_allowlist=[])

    def signed(new_key, timestamp=None):
        timestamp = timestamp or signing.now_ms()
        return {"op": "auth", "api_key": new_key.api_key.key, "timestamp": timestamp,
                "signature": signing.signature(new_key.secret, timestamp, "GET", "/ws/v1/")}  # fmt: skip

    async def collect(ws, into: list, stop: asyncio.Event):
        while not stop.is_set():
            try:
                into.append(await receive(ws, timeout=0.3))
            except TimeoutError:
                continue

    token = _login(alice)

    async def scenario():
        got_a, got_b = [], []
        async with (
            connect(web_server, f"?token={token}") as a,
            connect(web_server) as b,
            connect(web_server) as anonymous,
            connect(web_server) as e,
        ):
            assert (await receive(a))["type"] == "authenticated"
            # Unauthenticated: an error, and the socket stays usable.
            await anonymous.send(json.dumps({"op": "subscribe", "channel": "orders"}))
            assert (await receive(anonymous))["code"] == "authentication_required"
            await anonymous.send(json.dumps({"op": "auth", "token": "not-a-jwt"}))
            assert (await receive(anonymous))["code"] == "invalid_token"
            stale = signed(key, signing.now_ms() - 60_000)
            await anonymous.send(json.dumps(stale))
            assert (await receive(anonymous))["code"] == "invalid_timestamp"
            await anonymous.send(json.dumps({"op": "ping"}))
            assert await receive(anonymous) == {"type": "pong"}
            # An API key needs `read`.
            await e.send(json.dumps(signed(trade_only)))
            assert (await receive(e))["type"] == "authenticated"
            await e.send(json.dumps({"op": "subscribe", "channel": "orders"}))
            assert (await receive(e))["code"] == "permission_denied"
            # Bob signs in with his API key; a replayed signature is refused.
            auth = signed(key)
            await b.send(json.dumps(auth))
            assert await receive(b) == {"type": "authenticated", "user_id": bob.pk}
            await anonymous.send(json.dumps(auth))
            assert (await receive(anonymous))["code"] == "replayed_request"
            await b.send(json.dumps(auth))
            assert (await receive(b))["code"] == "already_authenticated"
            for ws in (a, b):
                await ws.send(json.dumps({"op": "subscribe", "channel": "orders"}))
                assert await receive(ws) == {"type": "subscribed", "channel": "orders"}
            stop = asyncio.Event()
            tasks = [asyncio.create_task(collect(a, got_a, stop)), asyncio.create_task(collect(b, got_b, stop))]
            sell = await in_thread(lambda: place(alice, side="sell", type="limit", price="100", quantity="0.5000"))
            buy = await in_thread(lambda: place(bob, side="buy", type="limit", price="100", quantity="0.2000"))
            await in_thread(wait_until_settled)
            await asyncio.sleep(1)
            stop.set()
            await asyncio.gather(*tasks)
            await anonymous.send(json.dumps({"op": "ping"}))
            assert await receive(anonymous) == {"type": "pong"}, "nothing private reached the anonymous socket"
        return got_a, got_b, sell, buy

    with MatcherProcess(live_env, process_log_dir, name="matcher-private"):
        got_a, got_b, sell, buy = asyncio.run(scenario())

    for got, order in ((got_a, sell), (got_b, buy)):
        assert got and all(m["channel"] == "orders" for m in got)
        kinds = {m["type"] for m in got}
        assert kinds == {"order", "fill", "balance"}, kinds
        assert {m["order"]["id"] for m in got if m["type"] == "order"} == {order.pk}
        fills = [m["trade"] for m in got if m["type"] == "fill"]
        assert [(f["order_id"], f["quantity"], f["price"]) for f in fills] == [(order.pk, "0.2000", "100.00")]
        final = [m["order"] for m in got if m["type"] == "order"][-1]
        assert final["filled_quantity"] == "0.2000"
    balances_a = {m["currency"]: m for m in got_a if m["type"] == "balance"}
    assert set(balances_a) == {"BTC", "USDT"}
    assert D(balances_a["BTC"]["locked"]) == D("0.3")  # what is left of the sell
    assert D(balances_a["USDT"]["available"]) == D("20") - D("0.02")  # 0.2 x 100, less the 0.1 % maker fee
    assert_ledger_consistent()


def test_bad_messages_get_an_error_and_the_socket_stays_usable(market, web_server):
    bad = [
        ("not json", "invalid_message"),
        ('{"op": "subscribe"', "invalid_message"),
        ("[1]", "invalid_message"),
        ('{"op": "fly"}', "unknown_op"),
        ('{"op": "subscribe", "channel": "candles", "symbol": "BTC-USDT"}', "unknown_channel"),
        ('{"op": "subscribe", "channel": ["book"], "symbol": "BTC-USDT"}', "unknown_channel"),
        ('{"op": "subscribe", "channel": "book", "symbol": "NOPE-USDT"}', "unknown_market"),
        ('{"op": "subscribe", "channel": "trades", "symbol": "BTC-USDT\\u0000"}', "unknown_market"),
        ('{"op": "subscribe", "channel": "ticker"}', "unknown_market"),
        ('{"op": "subscribe", "channel": "book", "symbol": "BTC-USDT", "depth": 0}', "invalid_message"),
        ('{"op": "subscribe", "channel": "book", "symbol": "BTC-USDT", "depth": "10"}', "invalid_message"),
        ('{"op": "subscribe", "channel": "book", "symbol": "BTC-USDT", "depth": 5001}', "invalid_message"),
        ('{"op": "unsubscribe", "channel": "book", "symbol": "BTC-USDT"}', "not_subscribed"),
        ('{"op": "unsubscribe", "channel": "orders"}', "not_subscribed"),
        ('{"op": "auth"}', "invalid_request"),
        ('{"op": "auth", "api_key": "x", "timestamp": 1, "signature": "y"}', "invalid_api_key"),
        ('{"op": "ping", "pad": "' + "x" * 5000 + '"}', "invalid_message"),
        # Deep nesting within 4 KiB (a frame over 16 KiB never reaches the app: tests/test_web_edge.py).
        ("[" * 2000 + "]" * 2000, "invalid_message"),
    ]

    async def scenario():
        async with connect(web_server) as ws:
            for raw, code in bad:
                await ws.send(raw)
                reply = await receive(ws)
                assert reply["type"] == "error" and reply["code"] == code and reply["message"], (raw[:80], reply)
                await ws.send(json.dumps({"op": "ping"}))
                assert await receive(ws) == {"type": "pong"}
            await ws.send(b"\x00\x01binary")
            assert (await receive(ws))["code"] == "invalid_message"
            await ws.send(json.dumps({"op": "subscribe", "channel": "book", "symbol": "btc-usdt", "depth": 1}))
            assert await receive(ws) == {"type": "subscribed", "channel": "book", "symbol": SYMBOL}
            assert (await receive(ws))["type"] == "snapshot"
            await ws.send(json.dumps({"op": "unsubscribe", "channel": "book", "symbol": SYMBOL}))
            assert await receive(ws) == {"type": "unsubscribed", "channel": "book", "symbol": SYMBOL}

    asyncio.run(scenario())


@pytest.fixture(scope="module")
def tuned_server(live_env, process_log_dir):
    """A web process with a small outbox, fast heartbeats and a short idle timeout."""
    env = {
        **live_env,
        **FAST_FEEDS,
        "WS_AUTH_RECHECK_SECONDS": "0.5",
        "WS_OUTBOX_MESSAGES": "8",
        "WS_HEARTBEAT_SECONDS": "0.3",
        "WS_IDLE_SECONDS": "1.5",
    }
    with WebServer(env, process_log_dir) as server:
        yield server


def test_heartbeats_and_idle_connections_closed(market, tuned_server):
    async def scenario():
        async with connect(tuned_server) as idle, connect(tuned_server) as busy:
            await busy.send(json.dumps({"op": "subscribe", "channel": "trades", "symbol": SYMBOL}))
            assert (await receive(busy))["type"] == "subscribed"
            started = time.monotonic()
            heartbeat = json.loads(await asyncio.wait_for(idle.recv(), 5))
            assert heartbeat["type"] == "heartbeat" and heartbeat["time"].endswith("Z")
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await asyncio.wait_for(idle.recv(), 5)
            assert idle.close_code == 4000 and "idle" in idle.close_reason
            assert 1.0 < time.monotonic() - started < 5
            # A subscriber is not idle: still open, still beating.
            beats = 0
            while time.monotonic() - started < 2.5:
                beats += json.loads(await asyncio.wait_for(busy.recv(), 5))["type"] == "heartbeat"
            assert beats >= 3
            await busy.send(json.dumps({"op": "ping"}))
            assert await receive(busy) == {"type": "pong"}

    asyncio.run(scenario())


def test_a_revoked_api_key_or_a_changed_password_ends_the_private_stream(market, tuned_server):
    bob, carol = funded_trader(usdt="100"), funded_trader(usdt="100")
    key = account_services.create_api_key(user=bob, label="ws", permissions=["read"], ip_allowlist=[])
    token = _login(carol)

    def revoke():
        account_services.revoke_api_key(user=bob, api_key_id=key.api_key.pk)
        carol.set_password("An0ther-long-passphrase")
        carol.save()

    async def scenario():
        async with connect(tuned_server) as b, connect(tuned_server, f"?token={token}") as c:
            timestamp = signing.now_ms()
            signature = signing.signature(key.secret, timestamp, "GET", "/ws/v1/")
            await b.send(json.dumps({"op": "auth", "api_key": key.api_key.key, "timestamp": timestamp,
                                     "signature": signature}))  # fmt: skip
            for ws in (b, c):
                assert (await receive(ws))["type"] == "authenticated"
                await ws.send(json.dumps({"op": "subscribe", "channel": "orders"}))
                assert await receive(ws) == {"type": "subscribed", "channel": "orders"}
            await asyncio.sleep(1)  # re-checked meanwhile: still valid
            for ws in (b, c):  # a client message, so neither is idle (1.5 s) when it loses its subscription
                await ws.send(json.dumps({"op": "ping"}))
                assert await receive(ws) == {"type": "pong"}
            await in_thread(revoke)
            for ws in (b, c):
                revoked = await receive(ws, timeout=5)
                assert (revoked["type"], revoked["code"]) == ("error", "authentication_revoked")
                await ws.send(json.dumps({"op": "subscribe", "channel": "orders"}))
                assert (await receive(ws))["code"] == "authentication_required"

    asyncio.run(scenario())


def test_a_client_that_does_not_read_is_disconnected_as_slow(market, tuned_server, live_env, process_log_dir):
    """Snapshots of a deep book pile up behind a client that never reads: once the socket's
    buffers are full and 8 frames wait, the server closes it (4008) instead of queueing more."""
    seller, buyer = funded_trader(btc="50"), funded_trader(usdt="1000000")
    for i in range(300):
        place(seller, side="sell", type="limit", price=f"{200 + i}.00", quantity="0.0100")
        place(buyer, side="buy", type="limit", price=f"{99 - i * 0.25:.2f}", quantity="0.1000")
    with MatcherProcess(live_env, process_log_dir, name="matcher-slow"):
        wait_until_settled()
    assert len(rest_book(tuned_server, 5000)["asks"]) == 300

    # A raw socket that does not read (a client library would read ahead into memory), with a
    # bounded receive buffer (the kernel would otherwise grow it to many megabytes).
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    sock.connect(("127.0.0.1", tuned_server.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET /ws/v1/ HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: {tuned_server.base_url}\r\n"
                 f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n".encode())  # fmt: skip
    assert sock.recv(12) == b"HTTP/1.1 101"
    subscribe = json.dumps({"op": "subscribe", "channel": "book", "symbol": SYMBOL, "depth": 5000}).encode()
    mask = os.urandom(4)
    frame = bytes([0x81, 0x80 | 126]) + struct.pack("!H", len(subscribe)) + mask
    frame += bytes(b ^ mask[i % 4] for i, b in enumerate(subscribe))
    sock.settimeout(5)
    for _ in range(2000):  # each answered with a ~12 kB snapshot nobody reads: 24 MB in all
        sock.sendall(frame)
    time.sleep(5)  # the server works through them meanwhile; nothing is read
    received = bytearray()
    with contextlib.suppress(TimeoutError):
        while chunk := sock.recv(1 << 20):
            received += chunk
    sock.close()
    assert len(received) < 8_000_000, "the server stopped sending once the client fell behind"
    # The last frame is the close: 0x88, its length, code 4008, the reason.
    reason = b"slow consumer: 8 messages behind"
    assert received.endswith(bytes([0x88, 2 + len(reason)]) + struct.pack("!H", 4008) + reason)

    async def still_serving():
        async with connect(tuned_server) as ws:
            await ws.send(json.dumps({"op": "ping"}))
            return await receive(ws)

    assert asyncio.run(still_serving()) == {"type": "pong"}


def test_ticker_channel_pushes_the_24h_figures_when_trades_settle(market, web_server, live_env, process_log_dir):
    seller, buyer = funded_trader(btc="1"), funded_trader(usdt="10000")

    async def scenario():
        async with connect(web_server) as ws:
            await ws.send(json.dumps({"op": "subscribe", "channel": "ticker", "symbol": SYMBOL}))
            assert await receive(ws) == {"type": "subscribed", "channel": "ticker", "symbol": SYMBOL}
            first = await receive(ws)
            assert (first["channel"], first["type"], first["symbol"], first["last"]) == (
                "ticker",
                "ticker",
                SYMBOL,
                None,
            )
            await in_thread(lambda: place(seller, side="sell", type="limit", price="101", quantity="0.3000"))
            await in_thread(lambda: place(buyer, side="buy", type="limit", price="101", quantity="0.1000"))
            await in_thread(lambda: place(buyer, side="buy", type="limit", price="99", quantity="0.1000"))
            await in_thread(wait_until_settled)
            deadline, tickers = time.monotonic() + 15, []
            while time.monotonic() < deadline:
                tickers.append(await receive(ws, timeout=15))
                if tickers[-1]["last"] == "101.00" and tickers[-1]["bid"] == "99.00":
                    break
            return first, tickers

    with MatcherProcess(live_env, process_log_dir, name="matcher-ticker"):
        _first, tickers = asyncio.run(scenario())
    last = tickers[-1]
    assert (last["last"], last["bid"], last["ask"]) == ("101.00", "99.00", "101.00")
    assert (last["high_24h"], last["low_24h"], last["volume_24h"]) == ("101.00", "101.00", "0.1000")
    assert D(last["quote_volume_24h"]) == D("10.1")
    rest = httpx.get(f"{web_server.base_url}/api/v1/markets/{SYMBOL}/ticker", timeout=10).json()
    assert rest == {k: v for k, v in last.items() if k not in ("channel", "type")}
    assert len(tickers) <= 4, "pushed on change, not once per event"


def test_book_and_ticker_subscribers_are_told_of_a_halt_and_the_resume(market, web_server, live_env, process_log_dir):
    from apps.markets import services as market_services
    from apps.markets.models import Market

    def set_status(status):
        market_services.set_status(market=market, status=status, reason="maintenance" if status == "halted" else "")

    async def scenario():
        async with connect(web_server) as ws:
            await ws.send(json.dumps({"op": "subscribe", "channel": "book", "symbol": SYMBOL, "depth": 10}))
            await ws.send(json.dumps({"op": "subscribe", "channel": "ticker", "symbol": SYMBOL}))
            seen = []
            while len([m for m in seen if m.get("type") in ("snapshot", "ticker")]) < 2:
                seen.append(await receive(ws))
            await in_thread(set_status, Market.Status.HALTED)
            halted = [await receive(ws, timeout=15, skip=("heartbeat", "ticker")) for _ in range(2)]
            await in_thread(set_status, Market.Status.TRADING)
            resumed = [await receive(ws, timeout=15, skip=("heartbeat", "ticker")) for _ in range(2)]
            return halted, resumed

    with MatcherProcess(live_env, process_log_dir, name="matcher-status"):
        halted, resumed = asyncio.run(scenario())
    assert sorted(m["channel"] for m in halted) == ["book", "ticker"]
    for message in halted:
        assert (message["type"], message["symbol"], message["status"], message["reason"]) == (
            "status",
            SYMBOL,
            "halted",
            "maintenance",
        )
        assert message["resumes_at"] is None and message["time"]
    assert {(m["channel"], m["status"], m["reason"]) for m in resumed} == {("book", "trading", None),
                                                                           ("ticker", "trading", None)}  # fmt: skip
