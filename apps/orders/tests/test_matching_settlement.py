"""Orders through a real matcher (Redis streams, PostgreSQL settlement), step by step in-process."""

from decimal import Decimal as D

import pytest

from apps.matching.testing import run_once
from apps.trades.models import Trade
from tests.factories import assert_ledger_consistent, balance, fees, funded_trader, place

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_test_transaction")]


def test_limit_orders_cross_and_settle_with_fees(market):
    seller = funded_trader(btc="1")
    buyer = funded_trader(usdt="10000")
    sell = place(seller, side="sell", type="limit", price="100.00", quantity="0.5")
    run_once()
    buy = place(buyer, side="buy", type="limit", price="101.00", quantity="0.2")
    run_once()
    sell.refresh_from_db()
    buy.refresh_from_db()
    assert (buy.status, buy.filled_quantity) == ("filled", D("0.2"))
    assert (sell.status, sell.filled_quantity) == ("partially_filled", D("0.2"))
    trade = Trade.objects.get()
    assert (trade.price, trade.quantity, trade.taker_side) == (D("100"), D("0.2"), "buy")
    # Buyer (taker 0.2 %) receives 0.2 BTC minus 0.0004; pays 20 USDT at the trade price, the 0.20
    # held for the higher limit comes back.
    assert balance(buyer, "BTC") == (D("0.1996"), 0)
    assert balance(buyer, "USDT") == (D("9980"), 0)
    # Seller (maker 0.1 %) receives 20 USDT minus 0.02; 0.3 BTC stays locked for the rest.
    assert balance(seller, "USDT") == (D("19.98"), 0)
    assert balance(seller, "BTC") == (D("0.5"), D("0.3"))
    assert fees("BTC") == D("0.0004")
    assert fees("USDT") == D("0.02")
    assert_ledger_consistent()


def refreshed(*orders):
    for order in orders:
        order.refresh_from_db()
    return orders


def test_market_buy_by_quote_spends_at_most_its_amount_across_levels(market):
    seller = funded_trader(btc="1")
    buyer = funded_trader(usdt="100")
    place(seller, side="sell", type="limit", price="100.00", quantity="0.1")
    place(seller, side="sell", type="limit", price="110.00", quantity="0.1")
    buy = place(buyer, side="buy", type="market", quote_quantity="15")
    run_once()
    (buy,) = refreshed(buy)
    # 0.1 at 100 (10 USDT), then 454 lots at 110 (4.994 USDT): 0.006 left cannot buy one more lot.
    assert (buy.status, buy.filled_quantity, buy.filled_quote) == ("filled", D("0.1454"), D("14.994"))
    assert balance(buyer, "USDT") == (D("85.006"), 0)
    assert balance(buyer, "BTC") == (D("0.1454") - D("0.0002908"), 0)
    assert balance(seller, "USDT") == (D("14.994") - D("0.01") - D("0.004994"), 0)
    assert_ledger_consistent()


def test_market_buy_by_quantity_gives_back_what_it_did_not_spend(market):
    seller = funded_trader(btc="1")
    buyer = funded_trader(usdt="1000")
    place(seller, side="sell", type="limit", price="100.00", quantity="0.1")
    place(seller, side="sell", type="limit", price="110.00", quantity="0.1")
    buy = place(buyer, side="buy", type="market", quantity="0.15")
    assert balance(buyer, "USDT") == (0, D("1000"))  # everything held until it settles
    run_once()
    (buy,) = refreshed(buy)
    assert (buy.status, buy.filled_quote) == ("filled", D("15.5"))
    assert buy.average_price.quantize(D("0.0001")) == D("103.3333")
    assert balance(buyer, "USDT") == (D("984.5"), 0)
    assert_ledger_consistent()


def test_market_order_without_liquidity_is_rejected_and_released(market):
    seller = funded_trader(btc="1")
    sell = place(seller, side="sell", type="market", quantity="0.1")
    run_once()
    (sell,) = refreshed(sell)
    assert (sell.status, sell.reason) == ("rejected", "no_liquidity")
    assert balance(seller, "BTC") == (D("1"), 0)
    assert_ledger_consistent()


def test_ioc_remainder_expires_fok_that_cannot_fill_is_rejected_post_only_never_takes(market):
    seller = funded_trader(btc="1")
    buyer = funded_trader(usdt="1000")
    ask = place(seller, side="sell", type="limit", price="100.00", quantity="0.1")
    fok = place(buyer, side="buy", type="limit", price="100.00", quantity="0.2", time_in_force="fok")
    post = place(buyer, side="buy", type="limit", price="100.00", quantity="0.1", post_only=True)
    ioc = place(buyer, side="buy", type="limit", price="100.00", quantity="0.2", time_in_force="ioc")
    run_once()
    ask, fok, post, ioc = refreshed(ask, fok, post, ioc)
    assert (fok.status, fok.reason, fok.filled_quantity) == ("rejected", "fok_not_fillable", 0)
    assert (post.status, post.reason) == ("rejected", "post_only_would_cross")
    assert (ioc.status, ioc.reason, ioc.filled_quantity) == ("expired", "ioc_remainder", D("0.1"))
    assert ask.status == "filled"
    assert balance(buyer, "USDT") == (D("990"), 0)
    assert_ledger_consistent()


def test_ioc_that_fills_nothing_expires_in_the_api_and_the_orders_channel(market, published):
    """The status table of docs/api.md "Orders": an IOC's remainder, the whole order included, is `expired`, not
    `rejected` (issue 20). Through the API, a real matcher and the private channel's event."""
    from tests.factories import client_for

    buyer = funded_trader(usdt="1000")
    body = {"symbol": "BTC-USDT", "side": "buy", "type": "limit", "time_in_force": "ioc", "price": "100.00",
            "quantity": "0.1"}  # fmt: skip
    client = client_for(buyer)
    created = client.post("/api/v1/orders", body, format="json")
    assert created.status_code == 201 and created.json()["status"] == "new"
    run_once()  # an empty book
    answer = client.get(f"/api/v1/orders/{created.json()['id']}").json()
    assert (answer["status"], answer["reason"], answer["filled_quantity"]) == ("expired", "ioc_remainder", "0.0000")
    events = [e["order"] for group, m in published if group == f"user.{buyer.pk}" for e in m["payload"]
              if e["type"] == "order"]  # fmt: skip
    assert [(e["status"], e["reason"]) for e in events] == [("expired", "ioc_remainder")]
    assert balance(buyer, "USDT") == (D("1000"), 0)  # the hold is released
    assert_ledger_consistent()


def test_post_only_that_does_not_cross_rests(market):
    buyer = funded_trader(usdt="1000")
    post = place(buyer, side="buy", type="limit", price="99.00", quantity="0.1", post_only=True)
    run_once()
    (post,) = refreshed(post)
    assert post.status == "new" and post.priority is not None and post.applied
    assert balance(buyer, "USDT") == (D("990.1"), D("9.9"))


def test_stop_limit_sell_triggers_on_the_last_trade_price(market):
    a, b, c, stopper = (
        funded_trader(usdt="1000"),
        funded_trader(btc="1"),
        funded_trader(usdt="1000"),
        funded_trader(btc="1"),
    )
    stop = place(stopper, side="sell", type="stop_limit", stop_price="95.00", price="94.00", quantity="0.1")
    place(c, side="buy", type="limit", price="94.50", quantity="0.1")
    run_once()
    (stop,) = refreshed(stop)
    assert (stop.status, stop.triggered) == ("new", False)  # no trade yet: armed
    place(a, side="buy", type="limit", price="95.00", quantity="0.1")
    place(b, side="sell", type="limit", price="95.00", quantity="0.1")  # trades at 95: the stop fires
    run_once()
    (stop,) = refreshed(stop)
    assert (stop.status, stop.triggered, stop.filled_quantity) == ("filled", True, D("0.1"))
    assert Trade.objects.filter(sell_order=stop, price=D("94.50")).exists()
    assert_ledger_consistent()


def test_stop_market_buy_triggers_and_takes(market):
    a, b, stopper, maker = (
        funded_trader(usdt="1000"),
        funded_trader(btc="1"),
        funded_trader(usdt="1000"),
        funded_trader(btc="1"),
    )
    stop = place(stopper, side="buy", type="stop_market", stop_price="105.00", quantity="0.1")
    # Held: 0.1 x 105 x 1.05 = 11.025
    assert balance(stopper, "USDT") == (D("988.975"), D("11.025"))
    place(maker, side="sell", type="limit", price="106.00", quantity="0.2")
    place(a, side="buy", type="limit", price="105.00", quantity="0.1")
    place(b, side="sell", type="limit", price="105.00", quantity="0.1")
    run_once()
    (stop,) = refreshed(stop)
    assert (stop.status, stop.filled_quantity, stop.filled_quote) == ("filled", D("0.1"), D("10.6"))
    assert balance(stopper, "USDT") == (D("989.4"), 0)
    assert_ledger_consistent()


@pytest.mark.parametrize("mode", ["cancel_resting", "cancel_taker"])
def test_self_trade_prevention(market, mode):
    user = funded_trader(btc="1", usdt="1000")
    resting = place(user, side="sell", type="limit", price="100.00", quantity="0.1")
    taker = place(user, side="buy", type="limit", price="100.00", quantity="0.1", self_trade_prevention=mode)
    run_once()
    resting, taker = refreshed(resting, taker)
    assert not Trade.objects.exists()
    if mode == "cancel_resting":
        assert (resting.status, resting.reason, taker.status) == ("expired", "self_trade", "new")
    else:
        assert (resting.status, taker.status, taker.reason) == ("new", "expired", "self_trade")
    assert_ledger_consistent()


def test_cancel_releases_the_hold_once_the_matcher_applies_it(market):
    from apps.orders.services import request_cancel

    buyer = funded_trader(usdt="1000")
    order = place(buyer, side="buy", type="limit", price="99.00", quantity="1")
    run_once()
    request_cancel(user=buyer, order_id=order.pk)
    (order,) = refreshed(order)
    assert order.status == "new" and order.cancel_requested_at is not None  # recorded, not yet applied
    run_once()
    (order,) = refreshed(order)
    assert (order.status, order.reason) == ("cancelled", "cancelled")
    assert balance(buyer, "USDT") == (D("1000"), 0)
    assert_ledger_consistent()


def test_cancel_recorded_before_the_order_reached_the_matcher_wins(market):
    from apps.orders.services import request_cancel

    buyer = funded_trader(usdt="1000")
    order = place(buyer, side="buy", type="limit", price="99.00", quantity="1")
    request_cancel(user=buyer, order_id=order.pk)
    run_once()
    (order,) = refreshed(order)
    assert order.status == "cancelled"
    assert balance(buyer, "USDT") == (D("1000"), 0)
    assert_ledger_consistent()
