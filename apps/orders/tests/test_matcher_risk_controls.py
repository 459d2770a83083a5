"""Risk controls applied by the matcher (real Redis streams, real PostgreSQL): the market-order collar,
the price circuit breaker with its cool-down, staff halts at their point in the stream."""

import time
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from apps.core.models import AuditEvent
from apps.core.redis import get_redis
from apps.markets import services as market_services
from apps.markets import streams
from apps.markets.models import CIRCUIT_BREAKER, Market
from apps.matching.models import MarketState
from apps.matching.testing import drain, matcher
from apps.orders.models import Order
from apps.orders.services import request_cancel
from apps.trades.models import Trade
from tests.factories import assert_ledger_consistent, balance, client_for, funded_trader, place

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_test_transaction")]


def statuses(published) -> list[dict]:
    return [message["payload"] for group, message in published if message["type"] == "market.status"]


def configure(market, **changes) -> Market:
    return market_services.update_market(market=market, changes={k: D(v) if isinstance(v, str) else v
                                                                 for k, v in changes.items()})  # fmt: skip


def refreshed(*orders):
    return [Order.objects.get(pk=o.pk) for o in orders]


def test_a_market_order_stops_at_the_collar_and_its_hold_is_released(market):
    configure(market, market_order_collar="0.05")
    seller, buyer = funded_trader(btc="1"), funded_trader(usdt="1000")
    place(seller, side="sell", type="limit", price="100.00", quantity="0.1")
    place(seller, side="sell", type="limit", price="105.00", quantity="0.1")
    far = place(seller, side="sell", type="limit", price="105.01", quantity="0.1")  # 5.01 % above 100
    with matcher() as m:
        drain(m)
        buy = place(buyer, side="buy", type="market", quantity="0.3")
        drain(m)
    (buy,) = refreshed(buy)
    assert (buy.status, buy.reason, buy.filled_quantity) == ("expired", "collar", D("0.2"))
    assert sorted(Trade.objects.values_list("price", flat=True)) == [D("100"), D("105")]
    assert balance(buyer, "USDT") == (D("1000") - D("20.5"), 0)  # nothing left held
    assert Order.objects.get(pk=far.pk).status == "new"
    assert_ledger_consistent()


def test_the_breaker_trips_in_a_burst_rejects_what_follows_and_cancels_still_work(market, published):
    configure(market, breaker_move="0.05", breaker_window_seconds=60, breaker_cooldown_seconds=300)
    seller, buyer = funded_trader(btc="1"), funded_trader(usdt="1000")
    place(seller, side="sell", type="limit", price="100.00", quantity="0.1")
    place(seller, side="sell", type="limit", price="106.00", quantity="0.1")
    resting = place(seller, side="sell", type="limit", price="120.00", quantity="0.1")
    with matcher() as m:
        drain(m)
        # A burst, all accepted while the market row still says trading:
        first = place(buyer, side="buy", type="limit", price="100.00", quantity="0.1")  # trades at 100
        second = place(buyer, side="buy", type="limit", price="106.00", quantity="0.1")  # 6 % up: trips
        third = place(buyer, side="buy", type="limit", price="120.00", quantity="0.1")  # after the trip
        before = time.time()
        drain(m)
        first, second, third = refreshed(first, second, third)
        assert (first.status, second.status) == ("filled", "filled")  # the tripping command completes
        assert (third.status, third.reason) == ("rejected", "market_halted")
        assert balance(buyer, "USDT") == (D("1000") - D("20.6"), 0)  # the rejected one's hold released
        market.refresh_from_db()
        assert (market.status, market.status_reason) == ("halted", CIRCUIT_BREAKER)
        assert abs(market.halted_until.timestamp() - (before + 300)) < 5
        state = MarketState.objects.get(market=market)
        assert state.gate["reason"] == CIRCUIT_BREAKER
        # The API refuses new orders with 403 market_halted and says when trading resumes.
        body = {"symbol": "BTC-USDT", "side": "buy", "type": "limit", "price": "100.00", "quantity": "0.1"}
        response = client_for(buyer).post("/api/v1/orders", body, format="json")
        assert response.status_code == 403
        error = response.json()["error"]
        assert error["code"] == "market_halted" and error["details"]["reason"] == CIRCUIT_BREAKER
        assert error["details"]["resumes_at"]
        assert client_for(buyer).get("/api/v1/markets/BTC-USDT/ticker").json()["status"] == "halted"
        listed = client_for(buyer).get("/api/v1/markets").json()[0]
        assert (listed["status"], listed["halt_reason"]) == ("halted", CIRCUIT_BREAKER) and listed["resumes_at"]
        # Cancels still work while halted.
        request_cancel(user=seller, order_id=resting.pk)
        drain(m)
    assert Order.objects.get(pk=resting.pk).status == "cancelled"
    assert Trade.objects.count() == 2
    (status,) = statuses(published)
    assert (status["type"], status["status"], status["reason"]) == ("status", "halted", CIRCUIT_BREAKER)
    assert status["resumes_at"] == listed["resumes_at"]
    event = AuditEvent.objects.get(action="market.circuit_breaker")
    assert event.actor is None and event.target_id == str(market.pk)
    assert_ledger_consistent()


def trip(m, market, seller, buyer):
    place(seller, side="sell", type="limit", price="100.00", quantity="0.1")
    place(seller, side="sell", type="limit", price="110.00", quantity="0.1")
    place(buyer, side="buy", type="limit", price="100.00", quantity="0.1")
    place(buyer, side="buy", type="limit", price="110.00", quantity="0.1")
    drain(m)
    market.refresh_from_db()
    assert market.status_reason == CIRCUIT_BREAKER


def test_after_the_cool_down_the_matcher_resumes_the_market_by_itself(market, published):
    configure(market, breaker_move="0.05", breaker_cooldown_seconds=1)
    seller, buyer = funded_trader(btc="1"), funded_trader(usdt="1000")
    with matcher() as m:
        trip(m, market, seller, buyer)
        assert market.halted_at(timezone.now())
        time.sleep(1.2)
        assert client_for(buyer).get("/api/v1/markets/BTC-USDT/ticker").json()["status"] == "trading"  # its time
        drain(m)  # no order came: the matcher sends itself a `resume` by cool-down
        market.refresh_from_db()
        assert (market.status, market.status_reason, market.halted_until) == ("trading", "", None)
    assert [s["status"] for s in statuses(published)] == ["halted", "trading"]
    assert AuditEvent.objects.filter(action="market.breaker_ended").count() == 1


def test_an_order_after_the_cool_down_is_accepted_and_resumes_the_market(market):
    configure(market, breaker_move="0.05", breaker_cooldown_seconds=1)
    seller, buyer = funded_trader(btc="1"), funded_trader(usdt="1000")
    with matcher() as m:
        trip(m, market, seller, buyer)
        Market.objects.filter(pk=market.pk).update(halted_until=timezone.now() - timedelta(seconds=1))
        state = MarketState.objects.get(market=market)
        gate = {**state.gate, "until_ms": int(time.time() * 1000) - 1000}
        MarketState.objects.filter(market=market).update(gate=gate)
        m.runners.clear()  # rebuilt from PostgreSQL at the next discovery: the shortened cool-down applies
        m.locks.connect()
        order = place(buyer, side="buy", type="limit", price="99.00", quantity="0.1")  # still `halted` in the row
        drain(m)
    assert Order.objects.get(pk=order.pk).status == "new"
    market.refresh_from_db()
    assert market.status == "trading"


def test_a_staff_halt_applies_at_its_point_in_the_stream_and_a_lost_one_is_sent_again(market, monkeypatch):
    seller, buyer = funded_trader(btc="1"), funded_trader(usdt="1000")
    place(seller, side="sell", type="limit", price="100.00", quantity="0.2")
    with matcher() as m:
        drain(m)
        before = place(buyer, side="buy", type="limit", price="100.00", quantity="0.1")
        # The halt's command reaches the stream before an order accepted a moment earlier:
        streams.send("BTC-USDT", "halt", 0, reason="maintenance")
        after = place(buyer, side="buy", type="limit", price="100.00", quantity="0.1")
        drain(m)
        before, after = refreshed(before, after)
        assert before.status == "filled" and (after.status, after.reason) == ("rejected", "market_halted")
        # The market row says trading (that halt was never committed): the sweep resumes the matcher.
        runner = next(iter(m.runners.values()))
        runner.sweep()
        drain(m)
        assert runner.gate.reason == ""
        # A committed halt whose command was lost (Redis away at its commit) is re-sent by the sweep.
        monkeypatch.setattr(streams, "send", lambda *args, **kwargs: False)
        market_services.set_status(market=market, status=Market.Status.HALTED, reason="maintenance")
        monkeypatch.undo()
        runner.sweep()
        drain(m)
        assert runner.gate.reason == "maintenance"
        market_services.set_status(market=market, status=Market.Status.TRADING)
        drain(m)
        assert runner.gate.reason == ""
        resumed = place(buyer, side="buy", type="limit", price="100.00", quantity="0.1")
        drain(m)
    assert Order.objects.get(pk=resumed.pk).status == "filled"
    assert get_redis().xpending(streams.stream_key("BTC-USDT"), "matcher")["pending"] == 0
    assert_ledger_consistent()


def test_matcher_controls_are_validated_like_the_other_limits(market):
    from django.core.exceptions import ValidationError

    for changes in ({"market_order_collar": D("1")}, {"breaker_move": D("0")}, {"breaker_window_seconds": 0}):
        with pytest.raises(ValidationError):
            market_services.update_market(market=market, changes=changes)
    market.refresh_from_db()
    assert market.market_order_collar is None and market.breaker_move is None


def test_a_staff_halt_takes_over_a_breaker_halt_and_outlasts_its_cool_down(market):
    configure(market, breaker_move="0.05", breaker_cooldown_seconds=1)
    seller, buyer = funded_trader(btc="1"), funded_trader(usdt="1000")
    with matcher() as m:
        trip(m, market, seller, buyer)
        market_services.set_status(market=market, status=Market.Status.HALTED, reason="investigating")
        time.sleep(1.2)
        drain(m)
        market.refresh_from_db()
        assert (market.status, market.status_reason, market.halted_until) == ("halted", "investigating", None)
        assert next(iter(m.runners.values())).gate.reason == "investigating"
        market_services.set_status(market=market, status=Market.Status.TRADING)
        drain(m)
        assert next(iter(m.runners.values())).gate.reason == ""


def test_orders_accepted_after_a_lost_resume_are_matched_once_the_sweep_sends_it(market, monkeypatch):
    seller, buyer = funded_trader(btc="1"), funded_trader(usdt="1000")
    with matcher() as m:
        market_services.set_status(market=market, status=Market.Status.HALTED, reason="maintenance")
        drain(m)
        runner = next(iter(m.runners.values()))
        assert runner.gate.reason == "maintenance"
        monkeypatch.setattr(streams, "send", lambda *args, **kwargs: False)  # Redis away: nothing reaches it
        market_services.set_status(market=market, status=Market.Status.TRADING)
        sell = place(seller, side="sell", type="limit", price="100.00", quantity="0.1")
        buy = place(buyer, side="buy", type="limit", price="100.00", quantity="0.1")
        monkeypatch.undo()
        runner.sweep()  # the resume first, then the orders' commands
        drain(m)
    sell, buy = refreshed(sell, buy)
    assert (sell.status, buy.status) == ("filled", "filled")
