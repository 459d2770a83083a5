"""The circuit breaker through a real matcher process killed with kill -9 mid-stream: after every
restart it replays the same commands and takes the same decisions (trips, rejections, resumes by
cool-down), because its time is the commands' stream time, never a clock."""

from __future__ import annotations

import random
import time
from decimal import Decimal as D

import pytest

from apps.core.models import AuditEvent
from apps.core.redis import get_redis
from apps.markets import services as market_services
from apps.markets import streams
from apps.matching.engine import Engine, EngineOrder
from apps.matching.gate import BreakerConfig, Gate
from apps.matching.models import MarketState
from apps.matching.worker import stream_id_tuple
from apps.orders.models import Order
from apps.trades.models import Trade
from tests.factories import assert_ledger_consistent, funded_trader, place
from tests.support import MatcherProcess
from tests.test_matching_e2e import wait_until_settled

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

COOLDOWN_MS = 1000


def replay(entries, orders: dict[int, Order], market):
    """What one uninterrupted engine and gate decide for these stream entries: each order's final
    (status, reason) as far as the engine ends it, the fills, and the number of trips."""
    engine, gate = Engine(), Gate(config=BreakerConfig(move_ppm=50_000, window_ms=60_000, cooldown_ms=COOLDOWN_MS))
    outcome, fills, trips = {}, [], 0
    for entry_id, fields in entries:
        at, order = stream_id_tuple(entry_id)[0], orders[int(fields["id"])]
        if not gate.admits(at):
            outcome[order.pk] = ("rejected", "market_halted")
            continue
        price, lots = int(order.price / market.tick_size), int(order.quantity / market.lot_size)
        engine.submit(EngineOrder(id=order.pk, user_id=order.user_id, side=order.side, type="limit", price=price,
                                  quantity=lots, tif=order.time_in_force))  # fmt: skip
        prices = []
        for event in engine.drain_events():
            if event[0] == "fill":
                taker, maker, price, lots = event[1:]
                buy, sell = (taker, maker) if taker.side == "buy" else (maker, taker)
                fills.append((buy.id, sell.id, price * market.tick_size, lots * market.lot_size))
                prices.append(price)
            elif event[0] == "done":
                outcome[event[1].id] = (event[2], event[3])
        gate.trades(at, prices)
        trips += sum(1 for change in gate.drain_changes() if change[0] == "halted")
    return outcome, fills, trips


def test_breaker_decisions_are_the_same_after_kill_9_and_replay(market, live_env, process_log_dir):
    market_services.update_market(market=market, changes={
        "breaker_move": D("0.05"), "breaker_window_seconds": 60, "breaker_cooldown_seconds": 1})  # fmt: skip
    rng = random.Random(5)
    users = [funded_trader(btc="100", usdt="1000000") for _ in range(4)]
    orders = []
    mid = 1000
    # Bursts a little apart in time: each starts quiet, then the price jumps 8 % (a trip); the orders
    # after a jump are rejected until the cool-down (1 s of stream time) has passed.
    for burst in range(4):
        for n in range(60):
            if n == 30:
                mid = mid * 108 // 100 if burst % 2 == 0 else mid * 92 // 100
            side = rng.choice(["buy", "sell"])
            price = D(mid + rng.randint(-3, 3) + (2 if side == "sell" else -2))
            quantity, tif = D(rng.randint(1, 20)) / 100, rng.choice(["gtc", "ioc"])
            orders.append(place(rng.choice(users), side=side, type="limit", price=price, quantity=quantity,
                                time_in_force=tif))  # fmt: skip
            if n % 10 == 9:
                time.sleep(0.15)
        time.sleep(0.4)
    entries = get_redis().xrange(streams.stream_key("BTC-USDT"))
    assert len(entries) == len(orders)
    expected, expected_fills, trips = replay(entries, {o.pk: o for o in orders}, market)
    assert trips >= 2, "the scenario must trip the breaker more than once (so resume by cool-down in between)"
    assert sum(1 for outcome in expected.values() if outcome == ("rejected", "market_halted")) >= 2

    def applied() -> int:
        return MarketState.objects.filter(market=market).values_list("commands_applied", flat=True).first() or 0

    kills = 0
    for attempt in range(3):
        with MatcherProcess({**live_env, "MATCHER_BATCH_SIZE": "4"}, process_log_dir, name=f"breaker-{attempt}") as p:
            start = applied()
            p.wait_until(lambda s=start: applied() > s or applied() >= len(orders), 60, "some progress")
            if applied() >= len(orders):
                break
            time.sleep(rng.uniform(0, 0.15))
            p.kill9()
            kills += 1
    with MatcherProcess(live_env, process_log_dir, name="breaker-final"):
        wait_until_settled(120)
    assert kills >= 2
    db_fills = [(t.buy_order_id, t.sell_order_id, t.price, t.quantity) for t in Trade.objects.order_by("id")]
    assert db_fills == expected_fills
    for order in Order.objects.filter(pk__in=expected):
        assert (order.status, order.reason) == expected[order.pk], order.pk
    assert AuditEvent.objects.filter(action="market.circuit_breaker").count() == trips  # none doubled
    assert_ledger_consistent()
