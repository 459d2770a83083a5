"""End to end through real processes: REST (uvicorn) -> Redis stream -> matcher process -> PostgreSQL,
with real kill -9 of the matcher and Redis connections dropped under load."""

from __future__ import annotations

import random
import re
import time
from decimal import Decimal as D

import httpx
import pytest
from django.db.models import Sum

from apps.accounts import services as account_services
from apps.core.redis import get_redis
from apps.markets import streams
from apps.matching.engine import Engine, EngineOrder
from apps.matching.models import MarketState
from apps.orders.models import Order
from apps.orders.selectors import unsettled_count
from apps.orders.services import OrderRequest, place_order
from apps.trades.models import Trade
from tests.factories import PASSWORD, assert_ledger_consistent, balance, funded_trader
from tests.support import MatcherProcess

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def http_client(web_server, user) -> httpx.Client:
    access = account_services.login(username=user.username, password=PASSWORD, otp_code=None).access
    return httpx.Client(base_url=web_server.base_url + "/api/v1", headers={"Authorization": f"Bearer {access}"},
                        timeout=10)  # fmt: skip


def wait_until_settled(timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not unsettled_count():
            return
        time.sleep(0.1)
    raise TimeoutError("orders still waiting for the matcher")


def settled_then_close() -> None:
    """wait_until_settled from a worker thread, closing that thread's database connection."""
    from django.db import connection

    try:
        wait_until_settled()
    finally:
        connection.close()


def test_every_order_type_through_rest_and_the_matcher_process(market, web_server, live_env, process_log_dir):
    maker, taker = funded_trader(btc="2", usdt="10000"), funded_trader(btc="2", usdt="10000")
    m, t = http_client(web_server, maker), http_client(web_server, taker)

    def order(client, **body):
        response = client.post("/orders", json={"symbol": "BTC-USDT", **body})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    with MatcherProcess(live_env, process_log_dir):
        asks = [order(m, side="sell", type="limit", price=p, quantity="0.1000") for p in ("100.00", "101.00", "102.00")]
        bids = [order(m, side="buy", type="limit", price=p, quantity="0.1000") for p in ("99.00", "98.00", "97.00")]
        stop_sell = order(m, side="sell", type="stop_limit", stop_price="98.50", price="97.00", quantity="0.1000")
        ids = {
            "limit": order(t, side="buy", type="limit", price="100.00", quantity="0.0500"),
            "market_quote": order(t, side="buy", type="market", quote_quantity="5.05"),
            "market_qty": order(t, side="buy", type="market", quantity="0.0500"),
            "market_sell": order(t, side="sell", type="market", quantity="0.1000"),  # takes 99: arms nothing yet
            "ioc": order(t, side="sell", type="limit", price="98.00", quantity="0.2000", time_in_force="ioc"),
            "fok": order(t, side="buy", type="limit", price="101.00", quantity="5.0000", time_in_force="fok"),
            "post_only": order(t, side="buy", type="limit", price="110.00", quantity="0.0100", post_only=True),
            "stop_market": order(t, side="buy", type="stop_market", stop_price="101.00", quantity="0.0500"),
        }
        wait_until_settled()
        got = {name: t.get(f"/orders/{pk}").json() for name, pk in ids.items()}
        # limit: 0.05 at 100. market by quote 5.05: 0.05 at 100, then 4 lots at 101 (0.0096 left < one lot).
        assert (got["limit"]["status"], got["limit"]["average_price"]) == ("filled", "100.00")
        assert (got["market_quote"]["status"], got["market_quote"]["filled_quantity"]) == ("filled", "0.0504")
        assert (got["market_qty"]["status"], got["market_qty"]["average_price"]) == ("filled", "101.00")
        assert (got["market_sell"]["status"], got["market_sell"]["average_price"]) == ("filled", "99.00")
        # The ioc sell takes the 98 bid (last price 98 arms nothing more) and its rest expires; the
        # maker's stop sell (98.50) fires, meets the maker's own 97 bid (self-trade: the bid expires) and rests.
        assert (got["ioc"]["status"], got["ioc"]["filled_quantity"]) == ("expired", "0.1000")
        stop, own_bid = Order.objects.get(pk=stop_sell), Order.objects.get(pk=bids[2])
        assert (stop.triggered, stop.status, own_bid.status, own_bid.reason) == (True, "new", "expired", "self_trade")
        assert (got["fok"]["status"], got["fok"]["reason"]) == ("rejected", "fok_not_fillable")
        assert (got["post_only"]["status"], got["post_only"]["reason"]) == ("rejected", "post_only_would_cross")
        assert got["stop_market"]["status"] == "new"  # last trade 98 < 101: armed
        assert all(Order.objects.get(pk=pk).applied for pk in asks + bids)
        book = httpx.get(f"{web_server.base_url}/api/v1/markets/BTC-USDT/book").json()
        assert book["asks"][0] == ["97.00", "0.1000"] and book["bids"] == []
    assert_ledger_consistent()
    # Money is conserved between the two traders and the fee accounts.
    total_usdt = balance(maker, "USDT")[0] + balance(maker, "USDT")[1] + sum(balance(taker, "USDT"))
    from tests.factories import fees

    assert total_usdt + fees("USDT") == D("20000")


def replay(orders: list[Order], market) -> list[tuple[int, int, D, D]]:
    """The fills a single uninterrupted engine produces for these `new` commands, in order."""
    engine, fills = Engine(), []
    for o in orders:
        engine.submit(EngineOrder(
            id=o.pk, user_id=o.user_id, side=o.side, type=o.type, price=int(o.price / market.tick_size),
            quantity=int(o.quantity / market.lot_size), funds=None, stop_price=None, tif=o.time_in_force,
        ))  # fmt: skip
        for event in engine.drain_events():
            if event[0] == "fill":
                taker, maker, price, lots = event[1], event[2], event[3], event[4]
                buy, sell = (taker, maker) if taker.side == "buy" else (maker, taker)
                fills.append((buy.id, sell.id, price * market.tick_size, lots * market.lot_size))
    return fills


def test_kill_9_of_the_matcher_loses_and_doubles_nothing(market, live_env, process_log_dir):
    rng = random.Random(11)
    users = [funded_trader(btc="100", usdt="1000000") for _ in range(6)]
    orders = []
    for _ in range(900):
        side = rng.choice(["buy", "sell"])
        price = D(1000 + rng.randint(-20, 20) + (5 if side == "sell" else -5))
        request = OrderRequest(
            symbol="BTC-USDT",
            side=side,
            type="limit",
            price=price,
            quantity=D(rng.randint(1, 40)) / 100,
            time_in_force=rng.choice(["gtc", "gtc", "ioc"]),
        )
        orders.append(place_order(user=rng.choice(users), request=request)[0])  # fmt: skip

    def applied() -> int:
        return MarketState.objects.filter(market=market).values_list("commands_applied", flat=True).first() or 0

    kills = 0
    for attempt in range(3):  # small batches: a kill lands between batches, inside one, or in a commit
        with MatcherProcess({**live_env, "MATCHER_BATCH_SIZE": "5"}, process_log_dir, name=f"matcher-{attempt}") as p:
            start = applied()
            p.wait_until(lambda s=start: applied() > s or applied() >= len(orders), 60, "some progress")
            if applied() >= len(orders):
                break  # this one finished before the kill: nothing left to interrupt
            time.sleep(rng.uniform(0, 0.2))
            p.kill9()
            kills += 1
    with MatcherProcess(live_env, process_log_dir, name="matcher-final"):
        wait_until_settled(120)
    assert kills >= 2  # at least two kills mid-stream (three unless the matcher outran the test)
    db_fills = [(t.buy_order_id, t.sell_order_id, t.price, t.quantity) for t in Trade.objects.order_by("id")]
    assert db_fills == replay(sorted(orders, key=lambda o: o.pk), market)
    for o in Order.objects.all():
        assert o.applied and o.filled_quantity <= o.quantity
    assert get_redis().xpending(streams.stream_key("BTC-USDT"), "matcher")["pending"] == 0
    assert_ledger_consistent()


def test_kill_9_of_the_matcher_while_batches_arrive_loses_and_doubles_nothing(market, live_env, process_log_dir):
    """Batches of 20 (one statement each, one XADD pipeline after the commit) placed while the matcher
    is killed with kill -9 twice: every order applied once, the fills those of an uninterrupted replay."""
    import threading

    from django.db import connection

    from apps.orders.services import place_orders

    rng = random.Random(21)
    users = [funded_trader(btc="100", usdt="1000000") for _ in range(4)]
    batches = []
    for _ in range(30):
        batch = []
        for _ in range(20):
            side = rng.choice(["buy", "sell"])
            price = D(1000 + rng.randint(-20, 20) + (5 if side == "sell" else -5))
            quantity = D(rng.randint(1, 40)) / 100
            batch.append(OrderRequest(symbol="BTC-USDT", side=side, type="limit", quantity=quantity, price=price))
        batches.append((rng.choice(users), batch))
    placed: list[Order] = []

    def produce():
        try:
            for user, batch in batches:
                results = place_orders(user=user, requests=batch)
                placed.extend(order for order, created in results if created)
                time.sleep(0.02)
        finally:
            connection.close()

    def applied() -> int:
        return MarketState.objects.filter(market=market).values_list("commands_applied", flat=True).first() or 0

    producer = threading.Thread(target=produce)
    producer.start()
    killed_at = []
    try:
        for attempt in range(2):
            env = {**live_env, "MATCHER_BATCH_SIZE": "7"}
            with MatcherProcess(env, process_log_dir, name=f"matcher-b{attempt}") as p:
                start = applied()
                p.wait_until(lambda s=start: applied() > s, 60, "some progress")
                time.sleep(rng.uniform(0, 0.1))
                p.kill9()
                killed_at.append(applied())
    finally:
        producer.join()
    assert len(placed) == 600 and killed_at[-1] < 600, killed_at  # both kills landed mid-stream
    with MatcherProcess(live_env, process_log_dir, name="matcher-b-final"):
        wait_until_settled(120)
    db_fills = [(t.buy_order_id, t.sell_order_id, t.price, t.quantity) for t in Trade.objects.order_by("id")]
    assert db_fills and db_fills == replay(sorted(placed, key=lambda o: o.pk), market)
    assert all(o.applied for o in Order.objects.all())
    assert Order.objects.count() == 600
    assert get_redis().xpending(streams.stream_key("BTC-USDT"), "matcher")["pending"] == 0
    assert_ledger_consistent()


def test_redis_connections_dropped_and_stream_lost_under_load(market, web_server, live_env, process_log_dir):
    seller, buyer = funded_trader(btc="100"), funded_trader(usdt="1000000")
    s, b = http_client(web_server, seller), http_client(web_server, buyer)
    client = get_redis()
    with MatcherProcess(live_env, process_log_dir, name="matcher-redis"):
        for i in range(120):
            assert s.post("/orders", json={"symbol": "BTC-USDT", "side": "sell", "type": "limit",
                                           "price": "100.00", "quantity": "0.0100"}).status_code == 201  # fmt: skip
            assert b.post("/orders", json={"symbol": "BTC-USDT", "side": "buy", "type": "limit",
                                           "price": "100.00", "quantity": "0.0100"}).status_code == 201  # fmt: skip
            if i % 30 == 10:
                client.client_kill_filter(_type="normal", skipme=True)  # every other client loses its connection
            if i == 60:
                client.delete(streams.stream_key("BTC-USDT"))  # Redis lost its data (restarted without it)
        wait_until_settled(60)
    assert Trade.objects.count() == 120
    # Orders the lost stream carried are recovered from PostgreSQL after those still in Redis, so in a
    # pair straddling the loss the buy may rest first and be the maker: the buyer then pays a maker's
    # fee on it. Every trade's fee is the one its role pays, and the buyer gets 1.2 BTC less them.
    for trade in Trade.objects.all():  # taker 0.2 %, maker 0.1 % of 0.01 BTC
        assert trade.buyer_fee == (D("0.00002") if trade.taker_side == "buy" else D("0.00001"))
    fees = Trade.objects.aggregate(total=Sum("buyer_fee"))["total"]
    assert balance(buyer, "BTC")[0] == D("1.2") - fees
    assert_ledger_consistent()


def test_book_stream_over_a_real_socket_follows_the_matcher(market, web_server, live_env, process_log_dir):
    import asyncio
    import json

    import websockets

    from apps.markets.book import checksum

    seller, buyer = funded_trader(btc="10"), funded_trader(usdt="100000")
    s, b = http_client(web_server, seller), http_client(web_server, buyer)
    url = f"ws://127.0.0.1:{web_server.port}/ws/v1/"

    def apply(book: dict, side: str, levels: list) -> None:
        for price, qty in levels:
            if D(qty) == 0:
                book[side].pop(price, None)
            else:
                book[side][price] = qty

    def best_first(book: dict) -> tuple[list, list]:
        bids = sorted(book["bids"].items(), key=lambda x: -D(x[0]))
        asks = sorted(book["asks"].items(), key=lambda x: D(x[0]))
        return [list(x) for x in bids], [list(x) for x in asks]

    async def follow():
        async with websockets.connect(url, origin=web_server.base_url) as ws:
            await ws.send(json.dumps({"op": "subscribe", "channel": "book", "symbol": "BTC-USDT", "depth": 500}))
            assert json.loads(await ws.recv())["type"] == "subscribed"
            snapshot = json.loads(await ws.recv())
            assert snapshot["type"] == "snapshot"
            book = {"bids": dict(map(tuple, snapshot["bids"])), "asks": dict(map(tuple, snapshot["asks"]))}
            sequence = snapshot["sequence"]
            rng = random.Random(5)
            for i in range(40):
                client, side = (s, "sell") if i % 2 else (b, "buy")
                price = f"{100 + rng.randint(-3, 3)}.00"
                response = await asyncio.to_thread(
                    client.post,
                    "/orders",
                    json={"symbol": "BTC-USDT", "side": side, "type": "limit", "price": price, "quantity": "0.0200"},
                )
                assert response.status_code == 201
            await asyncio.to_thread(settled_then_close)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                rest = await asyncio.to_thread(
                    httpx.get, f"{web_server.base_url}/api/v1/markets/BTC-USDT/book?depth=500"
                )
                if rest.json()["sequence"] == sequence:
                    return book, rest.json()
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert message["sequence"] == sequence + 1, "a gap in the book sequence"
                sequence = message["sequence"]
                apply(book, "bids", message["bids"])
                apply(book, "asks", message["asks"])
                bids, asks = best_first(book)
                assert checksum(bids, asks) == message["checksum"]
            raise TimeoutError("the stream did not catch up with the REST book")

    with MatcherProcess(live_env, process_log_dir, name="matcher-ws"):
        book, rest = asyncio.run(follow())
    bids, asks = best_first(book)
    assert (bids, asks) == (rest["bids"], rest["asks"])
    assert rest["sequence"] >= 1


def test_a_real_redis_restart_without_its_data_under_load(market, live_env, process_log_dir, tmp_path):
    """Web and matcher on a Redis of their own, which is stopped, wiped and started again while two
    traders keep sending orders: every accepted order is settled, nothing twice."""
    import threading

    from tests.support import WebServer, free_port
    from tools.devstack import EmbeddedRedis

    redis_server = EmbeddedRedis(tmp_path / "redis", preferred_port=free_port())
    port = redis_server.start()
    env = {**live_env, "REDIS_URL": redis_server.url(port, 0)}
    seller, buyer = funded_trader(btc="100"), funded_trader(usdt="1000000")
    accepted, refused = [], []
    try:
        with WebServer(env, process_log_dir) as web, MatcherProcess(env, process_log_dir, name="matcher-restart"):
            clients = [(http_client(web, seller), "sell"), (http_client(web, buyer), "buy")]
            stop = threading.Event()

            def trade(client, side):
                while not stop.is_set():
                    try:
                        response = client.post("/orders", json={"symbol": "BTC-USDT", "side": side, "type": "limit",
                                                                "price": "100.00", "quantity": "0.0100"})  # fmt: skip
                    except httpx.HTTPError:
                        continue
                    (accepted if response.status_code == 201 else refused).append(response.status_code)
                    time.sleep(0.01)

            threads = [threading.Thread(target=trade, args=pair) for pair in clients]
            for thread in threads:
                thread.start()
            time.sleep(2)
            redis_server.stop()
            for leftover in (tmp_path / "redis").glob("*.aof"):
                leftover.unlink()  # restarted without its data: the streams and groups are gone
            for leftover in (tmp_path / "redis").glob("appendonlydir"):
                import shutil

                shutil.rmtree(leftover)
            time.sleep(1)
            assert redis_server.start() == port
            time.sleep(2)
            stop.set()
            for thread in threads:
                thread.join()
            wait_until_settled(90)
    finally:
        redis_server.stop()
    assert len(accepted) > 20
    assert Order.objects.count() == len(accepted)  # a refused request wrote nothing
    assert all(o.applied for o in Order.objects.all())
    traded = sum(t.quantity for t in Trade.objects.all())
    assert traded == min(Order.objects.filter(side="buy").count(), Order.objects.filter(side="sell").count()) * D(
        "0.01"
    )
    assert_ledger_consistent()


def test_the_matcher_serves_its_metrics_and_stops_cleanly_on_sigterm(market, live_env, process_log_dir):
    import signal

    seller, buyer = funded_trader(btc="1"), funded_trader(usdt="1000")
    with MatcherProcess(live_env, process_log_dir, name="matcher-term") as matcher:
        place_order(user=seller, request=OrderRequest(symbol="BTC-USDT", side="sell", type="limit",
                                                      price=D("100"), quantity=D("0.1")))  # fmt: skip
        place_order(user=buyer, request=OrderRequest(symbol="BTC-USDT", side="buy", type="limit",
                                                     price=D("100"), quantity=D("0.1")))  # fmt: skip
        wait_until_settled()
        matcher.wait_until(lambda: 'matcher_fills_total{market="BTC-USDT"} 1.0' in matcher.metrics_text(), 10,
                           "the fill counted")  # fmt: skip
        text = matcher.metrics_text()
        applied = re.search(r'matcher_commands_applied_total\{market="BTC-USDT"\} ([0-9.]+)', text)
        # Two commands; a third when the idle re-send raced the second order's XADD (a harmless repeat).
        assert applied and float(applied.group(1)) >= 2
        assert "matcher_markets_owned 1.0" in text
        assert 'matcher_batch_seconds_count{market="BTC-USDT"}' in text
        matcher.wait_until(lambda: 'matcher_stream_lag{market="BTC-USDT"} 0.0' in matcher.metrics_text(), 10,
                           "the lag back to zero")  # fmt: skip
        matcher.proc.send_signal(signal.SIGTERM)
        assert matcher.proc.wait(timeout=30) == 0
        assert "stopping after the batch in hand" in matcher.output()
    assert_ledger_consistent()
