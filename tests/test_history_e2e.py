"""Trade history and portfolio through the real web process (uvicorn) and matcher process."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal as D

import pytest
from django.utils import timezone

from apps.trades.models import Trade
from tests.factories import funded_trader
from tests.support import MatcherProcess
from tests.test_matching_e2e import http_client, wait_until_settled

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_fills_portfolio_and_a_streamed_export_over_http(market, web_server, live_env, process_log_dir):
    alice, bob = funded_trader(usdt="10000"), funded_trader(btc="5", usdt="10000")
    a, b = http_client(web_server, alice), http_client(web_server, bob)
    with MatcherProcess(live_env, process_log_dir):
        for price in ("100.00", "110.00"):
            assert b.post("/orders", json={"symbol": "BTC-USDT", "side": "sell", "type": "limit", "price": price,
                                           "quantity": "1.0000"}).status_code == 201  # fmt: skip
        assert a.post("/orders", json={"symbol": "BTC-USDT", "side": "buy", "type": "market",
                                       "quantity": "2.0000"}).status_code == 201  # fmt: skip
        wait_until_settled()
    fills = a.get("/trades").json()["results"]
    assert [(f["side"], f["price"], f["quantity"], f["fee"], f["liquidity"]) for f in fills] == [
        ("buy", "110.00", "1.0000", "0.00200000", "taker"),
        ("buy", "100.00", "1.0000", "0.00200000", "taker"),
    ]
    # Portfolio: 1.996 BTC for 210 USDT; the last price is 110.
    btc = {x["currency"]: x for x in a.get("/portfolio").json()["assets"]}["BTC"]
    assert (btc["total"], btc["price"], btc["value"]) == ("1.99600000", "110.000000", "219.560000")
    assert btc["average_cost"] == str((D(210) / D("1.996")).quantize(D("1e-18")))
    assert btc["unrealized_pnl"] == "9.560000"

    # The export streams: many fills arrive in chunks, without a Content-Length.
    trade = Trade.objects.first()
    base = timezone.now() - dt.timedelta(days=1)
    Trade.objects.bulk_create(
        Trade(market=trade.market, price=trade.price, quantity=trade.quantity, quote_quantity=trade.quote_quantity,
              taker_side="buy", buy_order_id=trade.buy_order_id, sell_order_id=trade.sell_order_id, buyer=alice,
              seller=bob, buyer_fee=0, seller_fee=0, created_at=base + dt.timedelta(milliseconds=i))
        for i in range(5000)
    )  # fmt: skip
    with a.stream("GET", "/trades/export.csv?symbol=BTC-USDT") as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers
        chunks = list(response.iter_raw())
    assert len(chunks) > 1
    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode())))
    assert len(rows) == 1 + 5002 and rows[0][0] == "id"
    assert len({row[0] for row in rows[1:]}) == 5002
