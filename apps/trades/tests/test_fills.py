"""Own fills: GET /trades (filters, cursor pagination) and the CSV export."""

import csv
import datetime as dt
import io
from decimal import Decimal as D

import pytest
from django.http import StreamingHttpResponse
from django.utils import timezone

from apps.core.fields import format_time
from apps.matching.testing import run_once
from apps.trades.models import Trade
from tests import factories
from tests.factories import client_for, funded_trader, place

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_test_transaction")]


def fills(client, query: str = "") -> list[dict]:
    response = client.get(f"/api/v1/trades{query}")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_fills_through_the_matcher_with_sides_fees_liquidity_and_filters(market):
    alice, bob = funded_trader(usdt="1000"), funded_trader(btc="2")
    sell = place(bob, side="sell", type="limit", price="100.00", quantity="0.5")
    run_once()
    buy = place(alice, side="buy", type="limit", price="100.00", quantity="0.3")
    run_once()
    sell2 = place(alice, side="sell", type="limit", price="90.00", quantity="0.1")  # alice sells some back
    buy2 = place(bob, side="buy", type="market", quote_quantity="9")
    run_once()
    alice_client, bob_client = client_for(alice), client_for(bob)
    first, second = Trade.objects.order_by("id")
    got = fills(alice_client)
    assert got == [
        {"id": second.pk, "order_id": sell2.pk, "symbol": "BTC-USDT", "side": "sell", "price": "90.00",
         "quantity": "0.1000", "fee": "0.009000", "fee_currency": "USDT", "liquidity": "maker",
         "time": format_time(second.created_at)},
        {"id": first.pk, "order_id": buy.pk, "symbol": "BTC-USDT", "side": "buy", "price": "100.00",
         "quantity": "0.3000", "fee": "0.00060000", "fee_currency": "BTC", "liquidity": "taker",
         "time": format_time(first.created_at)},
    ]  # fmt: skip
    bob_fills = fills(bob_client)
    assert [(f["order_id"], f["side"], f["liquidity"]) for f in bob_fills] == [
        (buy2.pk, "buy", "taker"), (sell.pk, "sell", "maker")]  # fmt: skip
    # Filters: one order, a time range, a symbol.
    assert [f["id"] for f in fills(alice_client, f"?order_id={buy.pk}")] == [first.pk]
    assert fills(alice_client, f"?order_id={sell.pk}") == []  # bob's order: nothing of alice's
    after_first = format_time(second.created_at)
    assert [f["id"] for f in fills(alice_client, f"?from={after_first}")] == [second.pk]
    assert [f["id"] for f in fills(alice_client, f"?to={after_first}")] == [first.pk]
    millis = int(second.created_at.timestamp() * 1000)
    assert [f["id"] for f in fills(alice_client, f"?from={millis + 1}")] == []
    assert len(fills(alice_client, "?symbol=btc-usdt")) == 2
    factories.market("ETH", "USDT", tick_size="0.01", lot_size="0.0001")
    assert fills(alice_client, "?symbol=ETH-USDT") == []


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("?limit=0", 400, "limit"), ("?limit=501", 400, "limit"), ("?limit=ten", 400, "limit"),
        ("?from=yesterday", 400, "from"), ("?to=2026-13-40T00:00:00Z", 400, "to"),
        ("?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", 400, "to"),
        ("?order_id=-1", 400, "order_id"), ("?order_id=1.5", 400, "order_id"),
        ("?order_id=99999999999999999999", 400, "order_id"),
        ("?cursor=garbage", 400, "cursor"), ("?cursor=WyJub3QtYS10aW1lIiwxXQ", 400, "cursor"),
        ("?from=%00", 400, "from"), ("?symbol=NOPE-USDT", 404, None), ("?symbol=%00", 404, None),
        # Deeply nested JSON in a cursor; a cursor time not in UTC; offsets PostgreSQL would refuse.
        ("?cursor=" + "W1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tb"
         * 40, 400, "cursor"),
        ("?cursor=WyIyMDI2LTAxLTAxVDAwOjAwOjAwKzIzOjAwIiw1XQ", 400, "cursor"),
        ("?from=2026-01-01T00:00:00%2B23:00", 200, None), ("?from=2026-01-01T00:00:00-16:00", 200, None),
        ("?to=2026-01-01T00:00:00%2B05:30:15.5", 200, None), ("?from=0001-01-01T00:00:00%2B05:00", 400, "from"),
    ],
)  # fmt: skip
def test_bad_filters_are_refused_clearly(market, query, status, field):
    client = client_for(funded_trader())
    for path in ("/api/v1/trades", "/api/v1/trades/export.csv"):
        if path.endswith("csv") and field in ("limit", "cursor"):
            continue
        response = client.get(path + query)
        assert response.status_code == status, (path, query, response.content)
        if status == 200:
            continue
        error = response.json()["error"]
        if field:
            assert error["code"] == "invalid_request" and field in error["details"]
        else:
            assert error["code"] == "unknown_market"


def test_fills_need_authentication(market):
    from rest_framework.test import APIClient

    for path in ("/api/v1/trades", "/api/v1/trades/export.csv", "/api/v1/portfolio", "/api/v1/portfolio/history"):
        assert APIClient().get(path).status_code == 401


def seed_trades(market, buyer, seller, times: list[dt.datetime]) -> list[Trade]:
    """Trade rows between two resting orders (the history reads trades only; no ledger needed)."""
    buy = place(buyer, side="buy", type="limit", price="1.00", quantity="10")
    sell = place(seller, side="sell", type="limit", price="2.00", quantity="10")
    return Trade.objects.bulk_create(
        Trade(market=market, price=D("1.50"), quantity=D("0.0001") * (i + 1), quote_quantity=D("0.00015") * (i + 1),
              taker_side="buy", buy_order=buy, sell_order=sell, buyer=buyer, seller=seller, buyer_fee=0,
              seller_fee=0, created_at=time)
        for i, time in enumerate(times)
    )  # fmt: skip


def test_pagination_is_stable_while_trades_arrive(market):
    alice, bob = funded_trader(usdt="1000"), funded_trader(btc="100")
    base = timezone.now() - dt.timedelta(hours=1)
    # 25 trades on 10 distinct times: ties in time are ordered by id.
    existing = seed_trades(market, alice, bob, [base + dt.timedelta(seconds=i // 3) for i in range(25)])
    expected = [t.pk for t in sorted(existing, key=lambda t: (t.created_at, t.pk), reverse=True)]
    client = client_for(alice)
    seen, url, pages = [], "/api/v1/trades?limit=4", 0
    while url:
        body = client.get(url).json()
        seen += [f["id"] for f in body["results"]]
        url, pages = body["next"], pages + 1
        # Trades arrive between pages: newer ones, and one with the same time as the cursor row.
        cursor_time = {t.pk: t for t in existing}[seen[-1]].created_at
        seed_trades(market, alice, bob, [timezone.now(), cursor_time])
    assert seen == expected  # every trade that existed once, in order: none repeated, none skipped
    assert pages == 7
    # Seen from bob's side: the same trades as sells.
    assert [f["side"] for f in fills(client_for(bob), "?limit=3")] == ["sell"] * 3


# The test client serves the response synchronously (WSGI), so Django reads the async stream whole
# and says so; uvicorn streams it (tests/test_history_e2e.py).
@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous iterators")
def test_csv_export_streams_every_fill_of_the_range(market):
    alice, bob = funded_trader(usdt="1000"), funded_trader(btc="100")
    base = timezone.now().replace(microsecond=0) - dt.timedelta(days=2)
    rows = seed_trades(market, alice, bob, [base + dt.timedelta(seconds=i) for i in range(2500)])
    client = client_for(alice)
    response = client.get("/api/v1/trades/export.csv")
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="fills-')
    lines = list(csv.reader(io.StringIO(b"".join(response).decode())))
    assert lines[0] == ["id", "order_id", "symbol", "side", "price", "quantity", "fee", "fee_currency", "liquidity",
                        "time"]  # fmt: skip
    assert len(lines) == 2501  # crosses two page boundaries of the reader (1000 per read)
    newest = rows[-1]
    assert lines[1] == [str(newest.pk), str(newest.buy_order_id), "BTC-USDT", "buy", "1.50", "0.2500", "0.00000000",
                        "BTC", "taker", format_time(newest.created_at)]  # fmt: skip
    assert [int(line[0]) for line in lines[1:]] == [t.pk for t in reversed(rows)]
    # A range: [base + 10 s, base + 20 s) is ten fills; bob sees them as sells with the quote fee.
    since, until = format_time(base + dt.timedelta(seconds=10)), format_time(base + dt.timedelta(seconds=20))
    ranged = client_for(bob).get(f"/api/v1/trades/export.csv?from={since}&to={until}&symbol=BTC-USDT")
    lines = list(csv.reader(io.StringIO(b"".join(ranged).decode())))
    assert [int(line[0]) for line in lines[1:]] == [t.pk for t in reversed(rows[10:20])]
    assert {(line[3], line[7], line[8]) for line in lines[1:]} == {("sell", "USDT", "maker")}
    # Nobody else's fills, and an empty export is just the header.
    empty = client_for(funded_trader()).get("/api/v1/trades/export.csv")
    assert b"".join(empty).decode().splitlines() == [",".join(lines[0])]
