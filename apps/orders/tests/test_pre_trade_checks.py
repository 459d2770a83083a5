"""Pre-trade checks: each function alone, then through order entry (clear error, nothing written),
the open-orders limit under concurrent entry, and their configuration."""

import json
import threading
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from apps.core.models import AuditEvent
from apps.core.redis import get_redis
from apps.markets import services as market_services
from apps.markets.book import cache_key as book_cache_key
from apps.matching.models import MarketState
from apps.matching.testing import run_once
from apps.orders import checks
from apps.orders.exceptions import AboveMaxNotional, AboveMaxQuantity, PriceOutOfBand, TooManyOpenOrders
from apps.orders.models import Order
from apps.wallets.models import Hold
from tests.factories import balance, client_for, funded_trader, place

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_test_transaction")]


@pytest.fixture(autouse=True)
def _fresh_reference_prices(settings):
    settings.PRICE_BAND_REFERENCE_SECONDS = 0  # these tests move the last price between checks


def proposed(market, **fields):
    values = {"user_id": 1, "side": "buy", "type": "limit", "quantity": D("1"), "price": D("100"),
              "notional": D("100")} | fields  # fmt: skip
    return checks.Proposed(market=market, **values)


def limits(market, **values):
    return market_services.update_market(market=market, changes=values)


def test_max_quantity(market):
    checks.max_quantity(proposed(market, quantity=D("1000")))  # no limit set: passes
    market = limits(market, max_order_quantity=D("2"))
    checks.max_quantity(proposed(market, quantity=D("2")))
    checks.max_quantity(proposed(market, quantity=None))  # a market buy by quote amount
    with pytest.raises(AboveMaxQuantity) as raised:
        checks.max_quantity(proposed(market, quantity=D("2.0001")))
    assert raised.value.details == {"max_quantity": "2", "quantity": "2.0001"}


def test_max_notional(market):
    market = limits(market, max_order_notional=D("500"))
    checks.max_notional(proposed(market, notional=D("500")))
    checks.max_notional(proposed(market, notional=None))  # unknown before the first trade
    with pytest.raises(AboveMaxNotional):
        checks.max_notional(proposed(market, notional=D("500.01")))


def test_price_band_around_the_last_trade_then_the_mid(market):
    market = limits(market, price_band=D("0.1"))
    checks.price_band(proposed(market, price=D("1")))  # no reference yet: nothing to compare with
    get_redis().set(book_cache_key(market.symbol), json.dumps({"bids": [["99.00", "1"]], "asks": [["101.00", "1"]]}))
    checks.price_band(proposed(market, price=D("110.00")))  # mid 100: 90..110 accepted
    with pytest.raises(PriceOutOfBand) as raised:
        checks.price_band(proposed(market, price=D("110.01")))
    assert raised.value.details == {"price": "110.01", "reference_price": "100", "min_price": "90",
                                    "max_price": "110"}  # fmt: skip
    MarketState.objects.update_or_create(market=market, defaults={"last_price": D("200.05")})
    checks.price_band(proposed(market, price=D("180.05")))  # the last trade wins over the mid
    with pytest.raises(PriceOutOfBand) as raised:
        checks.price_band(proposed(market, price=D("180.04")))
    # 180.045 .. 220.055: the first and last prices on the 0.01 grid inside the band.
    assert (raised.value.details["min_price"], raised.value.details["max_price"]) == ("180.05", "220.05")
    checks.price_band(proposed(market, type="stop_limit", price=D("1")))  # stops are not banded
    checks.price_band(proposed(market, type="market", price=None))


def test_reference_price_is_read_at_most_once_per_interval(market, settings, django_assert_num_queries):
    settings.PRICE_BAND_REFERENCE_SECONDS = 60
    MarketState.objects.update_or_create(market=market, defaults={"last_price": D("100")})
    assert checks.reference_price(market) == D("100")
    MarketState.objects.filter(market=market).update(last_price=D("300"))
    with django_assert_num_queries(0):
        assert checks.reference_price(market) == D("100")
    settings.PRICE_BAND_REFERENCE_SECONDS = 0
    assert checks.reference_price(market) == D("300")


def test_max_open_orders_counts_only_open_orders_of_that_market(market):
    user = funded_trader(usdt="10000")
    market = limits(market, max_open_orders=2)
    for price in ("10.00", "11.00"):
        place(user, side="buy", type="limit", price=price, quantity="1")
    Order.objects.filter(user=user).update(status="cancelled")
    place(user, side="buy", type="limit", price="12.00", quantity="1")
    place(user, side="buy", type="limit", price="13.00", quantity="1")
    with pytest.raises(TooManyOpenOrders) as raised:
        place(user, side="buy", type="limit", price="14.00", quantity="1")
    assert raised.value.details == {"max_open_orders": 2, "open_orders": 2}


@pytest.mark.parametrize(
    ("limit", "body", "code", "field"),
    [
        ({"max_order_quantity": D("1")}, {"price": "100.00", "quantity": "1.0001"}, "above_max_quantity",
         "max_quantity"),
        ({"max_order_notional": D("150")}, {"price": "100.00", "quantity": "1.5001"}, "above_max_notional",
         "max_notional"),
        ({"price_band": D("0.05")}, {"price": "105.01", "quantity": "1"}, "price_out_of_band", "reference_price"),
        ({"price_band": D("0.05")}, {"price": "94.99", "quantity": "1"}, "price_out_of_band", "min_price"),
        ({"max_open_orders": 1}, {"price": "90.00", "quantity": "1"}, "too_many_open_orders", "max_open_orders"),
    ],
)  # fmt: skip
def test_refused_orders_get_a_clear_error_and_change_nothing(market, limit, body, code, field):
    seller, buyer = funded_trader(btc="10"), funded_trader(usdt="100000")
    place(seller, side="sell", type="limit", price="100.00", quantity="0.1")
    place(buyer, side="buy", type="limit", price="100.00", quantity="0.1")
    run_once()  # a trade at 100: the reference price
    place(buyer, side="buy", type="limit", price="99.00", quantity="0.1")  # one open order
    limits(market, **limit)
    orders, holds, funds = Order.objects.count(), Hold.objects.count(), balance(buyer, "USDT")
    response = client_for(buyer).post("/api/v1/orders", {"symbol": "BTC-USDT", "side": "buy", "type": "limit",
                                                         **body}, format="json")  # fmt: skip
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == code and field in error["details"], error
    assert (Order.objects.count(), Hold.objects.count(), balance(buyer, "USDT")) == (orders, holds, funds)


@pytest.mark.django_db(transaction=True)  # ten threads, ten connections: each must see the others' commits
def test_open_orders_limit_holds_under_concurrent_entry(market):
    user = funded_trader(usdt="100000", btc="10")
    limits(market, max_open_orders=3)
    outcomes: list[str] = []

    def enter(i: int):
        try:
            side = "buy" if i % 2 else "sell"  # both sides at once: different accounts, one limit
            price = f"{50 + i}.00" if side == "buy" else f"{200 + i}.00"
            place(user, side=side, type="limit", price=price, quantity="0.1")
            outcomes.append("accepted")
        except TooManyOpenOrders:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=enter, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["accepted"] * 3 + ["refused"] * 7
    assert Order.objects.filter(user=user, status__in=Order.OPEN).count() == 3


def test_checks_can_be_turned_off(market, settings):
    user = funded_trader(usdt="100000")
    limits(market, max_order_quantity=D("1"), max_open_orders=1)
    settings.PRE_TRADE_CHECKS = False
    place(user, side="buy", type="limit", price="10.00", quantity="5")
    place(user, side="buy", type="limit", price="10.00", quantity="5")
    assert Order.objects.filter(user=user).count() == 2


def test_limits_are_published_validated_and_audited(market):
    body = client_for(funded_trader()).get("/api/v1/markets").json()
    row = next(m for m in body if m["symbol"] == "BTC-USDT")
    assert (row["max_order_quantity"], row["price_band"], row["max_open_orders"]) == (None, None, None)
    limits(market, max_order_quantity=D("50"), price_band=D("0.1"), max_open_orders=200)
    body = client_for(funded_trader()).get("/api/v1/markets").json()
    row = next(m for m in body if m["symbol"] == "BTC-USDT")
    assert (row["max_order_quantity"], row["price_band"], row["max_open_orders"]) == ("50", "0.1", 200)
    event = AuditEvent.objects.filter(action="market.updated").latest("pk")
    assert event.data["changes"]["price_band"] == {"from": None, "to": "0.1"}
    for bad in ({"price_band": D("1.5")}, {"max_order_quantity": D("0")}, {"max_open_orders": 0}):
        with pytest.raises(ValidationError):
            limits(market, **bad)
    market.refresh_from_db()
    assert (market.max_order_quantity, market.price_band, market.max_open_orders) == (D("50"), D("0.1"), 200)
    with pytest.raises(ValueError):
        market_services.update_market(market=market, changes={"tick_size": D("1")})


def test_the_band_without_a_last_trade_skips_when_the_book_cache_is_unreachable(market, monkeypatch):
    import redis

    market = limits(market, price_band=D("0.1"))

    class Down:
        def get(self, key):
            raise redis.ConnectionError("Redis is down")

    monkeypatch.setattr(checks, "get_redis", lambda: Down())
    assert checks.reference_price(market) is None
    checks.price_band(proposed(market, price=D("1.00")))  # no reference: the band cannot apply
