"""The market registry: create_market, its validation, GET /markets and the book endpoint."""

from decimal import Decimal as D

import pytest
from django.core.management import CommandError, call_command

from apps.markets.models import Market
from apps.matching.testing import run_once
from apps.wallets.models import Account
from tests import factories
from tests.factories import funded_trader, place


@pytest.fixture
def currencies(db):
    for code in ("BTC", "USDT", "ETH"):
        factories.currency(code)


def test_create_market_lists_the_pair_and_its_fee_accounts(currencies, capsys):
    call_command("create_market", "eth-usdt", "--tick", "0.01", "--lot", "0.001", "--min-notional", "5",
                 "--maker-fee", "0.0005", "--taker-fee", "0.001")  # fmt: skip
    market = Market.objects.get(symbol="ETH-USDT")
    assert (market.base_id, market.quote_id, market.tick_size, market.lot_size) == ("ETH", "USDT", D("0.01"),
                                                                                    D("0.001"))  # fmt: skip
    assert (market.maker_fee, market.taker_fee, market.status) == (D("0.0005"), D("0.001"), "trading")
    assert Account.objects.filter(kind="fees", currency__in=["ETH", "USDT"]).count() == 2
    assert "Listed ETH-USDT" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["BTC-USDT", "--tick", "0.0000001", "--lot", "1"], "USDT has 6 decimals"),
        (["BTC-USDT", "--tick", "0.01", "--lot", "0.000000001"], "BTC has 8 decimals"),
        (["BTC-USDT", "--tick", "0.01", "--lot", "0.00000001"], "must fit USDT's 6 decimals"),
        (["BTC-USDT", "--tick", "0", "--lot", "1"], "greater than zero"),
        (["BTC-USDT", "--tick", "0.01", "--lot", "1", "--taker-fee", "0.5"], "rate from 0"),
        (["BTC-USDT", "--tick", "abc", "--lot", "1"], "Not a decimal"),
        (["DOGE-USDT", "--tick", "0.01", "--lot", "1"], "Unknown currency: DOGE"),
        (["BTCUSDT", "--tick", "0.01", "--lot", "1"], "BASE-QUOTE"),
        (["BTC-BTC", "--tick", "0.01", "--lot", "1"], "differ"),
    ],
)
def test_create_market_refuses_bad_filters(currencies, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_market", *args)
    assert not Market.objects.exists()


def test_create_market_refuses_a_duplicate(currencies):
    call_command("create_market", "BTC-USDT", "--tick", "0.01", "--lot", "0.0001")
    with pytest.raises(CommandError, match="exists"):
        call_command("create_market", "BTC-USDT", "--tick", "0.01", "--lot", "0.0001")


def test_markets_endpoint_lists_filters_as_strings(market, api_client):
    response = api_client.get("/api/v1/markets")
    assert response.status_code == 200
    assert response.json() == [{
        "symbol": "BTC-USDT", "base": "BTC", "quote": "USDT", "tick_size": "0.01", "lot_size": "0.0001",
        "min_notional": "1", "maker_fee": "0.001", "taker_fee": "0.002", "max_order_quantity": None,
        "max_order_notional": None, "price_band": None, "max_open_orders": None, "market_order_collar": None,
        "breaker_move": None, "breaker_window_seconds": 60, "breaker_cooldown_seconds": 300, "status": "trading",
        "halt_reason": None, "resumes_at": None,
    }]  # fmt: skip


def test_book_endpoint_unknown_market_and_bad_depth(market, api_client):
    assert api_client.get("/api/v1/markets/NOPE-USDT/book").json()["error"]["code"] == "unknown_market"
    for depth in ("0", "5001", "99999999999", "x", "²", "-1"):
        response = api_client.get(f"/api/v1/markets/BTC-USDT/book?depth={depth}")
        assert response.status_code == 400, depth
    empty = api_client.get("/api/v1/markets/BTC-USDT/book").json()
    assert (empty["bids"], empty["asks"], empty["sequence"]) == ([], [], 0)


@pytest.mark.django_db
@pytest.mark.usefixtures("in_test_transaction")
def test_book_endpoint_serves_the_matchers_cache(market, api_client):
    seller, buyer = funded_trader(btc="1"), funded_trader(usdt="1000")
    place(seller, side="sell", type="limit", price="101.00", quantity="0.2")
    place(seller, side="sell", type="limit", price="102.00", quantity="0.3")
    place(buyer, side="buy", type="limit", price="99.50", quantity="0.1")
    place(buyer, side="buy", type="limit", price="99.50", quantity="0.05")
    run_once()
    book = api_client.get("/api/v1/markets/BTC-USDT/book?depth=1").json()
    assert book["bids"] == [["99.50", "0.1500"]] and book["asks"] == [["101.00", "0.2000"]]
    assert book["sequence"] == 1
    import zlib

    assert book["checksum"] == zlib.crc32(b"10100200099501500")
