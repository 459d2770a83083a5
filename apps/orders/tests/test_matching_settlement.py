"""Orders through a real matcher (Redis streams, PostgreSQL settlement), step by step in-process."""

from decimal import Decimal as D

import pytest

from apps.matching.testing import run_once
from apps.orders.services import OrderRequest, place_order
from apps.orders.tests.conftest import assert_ledger_consistent, balance, fees, trader
from apps.trades.models import Trade

pytestmark = pytest.mark.django_db(transaction=True)


def place(user, **fields):
    fields.setdefault("symbol", "BTC-USDT")
    for key in ("quantity", "price", "stop_price", "quote_quantity"):
        if key in fields:
            fields[key] = D(fields[key])
    order, created = place_order(user=user, request=OrderRequest(**fields))
    return order


def test_limit_orders_cross_and_settle_with_fees(market):
    seller = trader(btc="1")
    buyer = trader(usdt="10000")
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
