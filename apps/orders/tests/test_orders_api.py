"""POST/GET/DELETE /api/v1/orders: the contract of docs/api.md, every error code, no partial writes."""

import threading
from decimal import Decimal as D

import pytest
from django.db import connection

from apps.markets import services as market_services
from apps.markets.models import Market
from apps.matching.testing import run_once
from apps.orders.models import Order
from apps.wallets.models import Transaction
from tests.factories import assert_ledger_consistent, balance, client_for, funded_trader

URL = "/api/v1/orders"


def post(client, **body):
    body.setdefault("symbol", "BTC-USDT")
    return client.post(URL, body, format="json")


@pytest.fixture
def buyer(market):
    return funded_trader(usdt="1000")


def nothing_written(user):
    assert not Order.objects.filter(user=user).exists()
    assert balance(user, "USDT") == (D("1000"), 0)


def test_limit_order_is_accepted_with_its_hold(db, buyer):
    response = post(client_for(buyer), side="buy", type="limit", price="100.50", quantity="0.5000",
                    client_order_id="my-1")  # fmt: skip
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {k: body[k] for k in ("symbol", "side", "type", "price", "quantity", "filled_quantity", "status",
                                 "time_in_force", "post_only", "client_order_id", "average_price")} == {
        "symbol": "BTC-USDT", "side": "buy", "type": "limit", "price": "100.50", "quantity": "0.5000",
        "filled_quantity": "0.0000", "status": "new", "time_in_force": "gtc", "post_only": False,
        "client_order_id": "my-1", "average_price": None,
    }  # fmt: skip
    assert body["created_at"].endswith("Z") and isinstance(body["id"], int)
    assert balance(buyer, "USDT") == (D("949.75"), D("50.25"))


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"side": "buy", "type": "limit", "price": "100.001", "quantity": "0.1"}, 400, "invalid_price_tick", "price"),
        (
            {"side": "buy", "type": "limit", "price": "100", "quantity": "0.00011"},
            400,
            "invalid_quantity_step",
            "quantity",
        ),
        ({"side": "buy", "type": "limit", "price": "1", "quantity": "0.1"}, 400, "below_min_notional", None),
        ({"side": "buy", "type": "limit", "price": "100", "quantity": "20"}, 400, "insufficient_funds", None),
        ({"side": "buy", "type": "limit", "quantity": "0.1"}, 400, "invalid_request", "price"),
        ({"side": "buy", "type": "market", "price": "100", "quantity": "0.1"}, 400, "invalid_request", "price"),
        (
            {"side": "buy", "type": "market", "quantity": "0.1", "quote_quantity": "10"},
            400,
            "invalid_request",
            "quantity",
        ),
        ({"side": "sell", "type": "market", "quote_quantity": "10"}, 400, "invalid_request", "quantity"),
        (
            {"side": "buy", "type": "stop_limit", "price": "100", "quantity": "0.1"},
            400,
            "invalid_request",
            "stop_price",
        ),
        (
            {
                "side": "buy",
                "type": "limit",
                "price": "100",
                "quantity": "0.1",
                "post_only": True,
                "time_in_force": "ioc",
            },
            400,
            "invalid_request",
            "post_only",
        ),
        ({"side": "buy", "type": "limit", "price": 100.5, "quantity": "0.1"}, 400, "invalid_request", "price"),
        ({"side": "buy", "type": "limit", "price": "1e2", "quantity": "0.1"}, 400, "invalid_request", "price"),
        ({"side": "buy", "type": "limit", "price": "NaN", "quantity": "0.1"}, 400, "invalid_request", "price"),
        ({"side": "buy", "type": "limit", "price": "-100", "quantity": "0.1"}, 400, "invalid_request", "price"),
        ({"side": "buy", "type": "limit", "price": "100", "quantity": "0"}, 400, "invalid_request", "quantity"),
        ({"side": "up", "type": "limit", "price": "100", "quantity": "0.1"}, 400, "invalid_request", "side"),
        ({"side": "buy", "type": "iceberg", "price": "100", "quantity": "0.1"}, 400, "invalid_request", "type"),
        (
            {"side": "buy", "type": "limit", "price": "100", "quantity": "0.1", "time_in_force": "gtd"},
            400,
            "invalid_request",
            "time_in_force",
        ),
        (
            {"side": "buy", "type": "limit", "price": "100", "quantity": "0.1", "post_only": "yes"},
            400,
            "invalid_request",
            "post_only",
        ),
        (
            {"side": "buy", "type": "limit", "price": "100", "quantity": "0.1", "client_order_id": "x" * 65},
            400,
            "invalid_request",
            "client_order_id",
        ),
        (
            {"side": "buy", "type": "limit", "price": "99999999999999999999", "quantity": "0.1"},
            400,
            "invalid_request",
            "price",
        ),
        (
            {"symbol": "DOGE-USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "0.1"},
            404,
            "unknown_market",
            None,
        ),
    ],
)
def test_bad_orders_are_refused_and_change_nothing(db, buyer, body, status, code, field):
    response = post(client_for(buyer), **body)
    assert response.status_code == status, response.json()
    error = response.json()["error"]
    assert error["code"] == code
    if field:
        assert field in error["details"], error
    nothing_written(buyer)


def test_a_json_body_that_is_not_an_object_is_a_400(db, buyer):
    response = client_for(buyer).post(URL, "[1, 2]", content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"
    response = client_for(buyer).post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400


def test_kyc_is_required_to_trade(db, market):
    user = funded_trader(usdt="1000", level=0)
    response = post(client_for(user), side="buy", type="limit", price="100", quantity="0.1")
    assert (response.status_code, response.json()["error"]["code"]) == (403, "kyc_required")


def test_a_halted_market_refuses_orders_but_cancels_go_through(db, buyer, market):
    client = client_for(buyer)
    order_id = post(client, side="buy", type="limit", price="100", quantity="0.1").json()["id"]
    market_services.set_status(market=market, status=Market.Status.HALTED, reason="maintenance")
    response = post(client, side="buy", type="limit", price="100", quantity="0.1")
    assert (response.status_code, response.json()["error"]["code"]) == (403, "market_halted")
    assert client.delete(f"{URL}/{order_id}").status_code == 202


def test_anonymous_clients_cannot_place(db, buyer):
    from rest_framework.test import APIClient

    response = APIClient().post(URL, {"symbol": "BTC-USDT"}, format="json")
    assert response.status_code == 401


@pytest.mark.django_db
@pytest.mark.usefixtures("in_test_transaction")
def test_a_repeated_client_order_id_returns_the_original(market):
    user = funded_trader(usdt="1000")
    client = client_for(user)
    first = post(client, side="buy", type="limit", price="100", quantity="0.1", client_order_id="dup")
    again = post(client, side="buy", type="limit", price="100", quantity="0.1", client_order_id="dup")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert balance(user, "USDT") == (D("990"), D("10"))


@pytest.mark.django_db(transaction=True)  # eight threads, eight connections: each must see the others' commits
def test_a_burst_of_identical_client_order_ids_creates_one_order(market):
    user = funded_trader(usdt="1000")
    results = []
    barrier = threading.Barrier(8)

    def send():
        client = client_for(user)
        barrier.wait()
        try:
            results.append(post(client, side="buy", type="limit", price="100", quantity="0.1",
                                client_order_id="burst").status_code)  # fmt: skip
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] * 7 + [201]
    assert Order.objects.filter(user=user).count() == 1
    assert Transaction.objects.filter(kind="hold").count() == 1
    assert balance(user, "USDT") == (D("990"), D("10"))
    assert_ledger_consistent()


@pytest.mark.django_db
@pytest.mark.usefixtures("in_test_transaction")
def test_cancel_rules(market):
    owner, other = funded_trader(usdt="1000"), funded_trader(usdt="1000")
    client = client_for(owner)
    order_id = post(client, side="buy", type="limit", price="100", quantity="0.1").json()["id"]
    assert client_for(other).delete(f"{URL}/{order_id}").status_code == 404
    assert client_for(other).get(f"{URL}/{order_id}").status_code == 404
    assert client.delete(f"{URL}/999999999999").json()["error"]["code"] == "not_found"
    assert client.delete(f"{URL}/99999999999999999999999").status_code == 404
    response = client.delete(f"{URL}/{order_id}")
    assert response.status_code == 202 and response.json()["status"] == "new"
    run_once()
    assert client.get(f"{URL}/{order_id}").json()["status"] == "cancelled"
    response = client.delete(f"{URL}/{order_id}")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "order_closed")
    assert balance(owner, "USDT") == (D("1000"), 0)


@pytest.mark.django_db
@pytest.mark.usefixtures("in_test_transaction")
def test_cancel_all_and_listing_filters(market):
    user = funded_trader(usdt="1000")
    client = client_for(user)
    ids = [post(client, side="buy", type="limit", price=str(90 + i), quantity="0.1").json()["id"] for i in range(3)]
    response = client.delete(f"{URL}?symbol=BTC-USDT")
    assert (response.status_code, response.json()) == (202, {"cancelling": 3})
    assert [o["id"] for o in client.get(f"{URL}?status=open").json()["results"]] == ids[::-1]
    run_once()
    assert client.get(f"{URL}?status=open").json()["results"] == []
    assert [o["id"] for o in client.get(f"{URL}?status=closed&symbol=BTC-USDT").json()["results"]] == ids[::-1]
    assert len(client.get(f"{URL}?status=all&limit=2").json()["results"]) == 2
    assert client.get(f"{URL}?status=bogus").json()["error"]["code"] == "invalid_request"
    assert client.get(f"{URL}?symbol=NOPE-USDT").json()["error"]["code"] == "unknown_market"
    assert balance(user, "USDT") == (D("1000"), 0)


def test_the_placed_order_returned_is_the_row_as_stored(db, buyer):
    """place_order builds the new order from the statement's answer without reading it back: every
    column is what the database holds, and it saves and relates as a loaded row does."""
    from apps.orders.services import OrderRequest, place_order

    request = OrderRequest(symbol="BTC-USDT", side="buy", type="limit", price=D("100.50"), quantity=D("0.5"),
                           client_order_id="as-stored")  # fmt: skip
    order, created = place_order(user=buyer, request=request)
    stored = Order.objects.get(pk=order.pk)
    assert created and not order._state.adding and order._state.db == stored._state.db
    for field in Order._meta.concrete_fields:
        assert getattr(order, field.attname) == getattr(stored, field.attname), field.attname
    assert order.market is stored.market or order.market.symbol == stored.market.symbol == "BTC-USDT"


def test_wait_result_without_a_matcher_answers_the_accepted_order_after_the_bound(db, buyer, settings):
    """POST /orders?wait=result waits for the matcher (tests/test_ccxt_exchange.py: with one, a crossing
    order answers `filled`); with none running it answers the order as it is once the bound passes."""
    import time

    settings.ORDER_RESULT_WAIT_SECONDS = 0.2
    started = time.monotonic()
    body = {"symbol": "BTC-USDT", "side": "buy", "type": "limit", "price": "100.00", "quantity": "0.5000"}
    response = client_for(buyer).post(URL + "?wait=result", body, format="json")
    assert response.status_code == 201 and response.json()["status"] == "new"
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize("wait", ["results", "", "RESULT"])
def test_an_unknown_wait_is_refused_and_places_nothing(db, buyer, wait):
    body = {"symbol": "BTC-USDT", "side": "buy", "type": "limit", "price": "100.00", "quantity": "0.5000"}
    response = client_for(buyer).post(f"{URL}?wait={wait}", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request" and "wait" in response.json()["error"]["details"]
    nothing_written(buyer)


def test_orders_listed_by_creation_time(db, buyer):
    import datetime as dt

    from django.utils import timezone

    client = client_for(buyer)
    body = {"symbol": "BTC-USDT", "side": "buy", "type": "limit", "price": "100.00", "quantity": "0.0100"}
    first, second = (client.post(URL, body, format="json").json() for _ in range(2))
    Order.objects.filter(pk=first["id"]).update(created_at=timezone.now() - dt.timedelta(days=2))
    cut = int((timezone.now() - dt.timedelta(days=1)).timestamp() * 1000)
    assert [o["id"] for o in client.get(f"{URL}?from={cut}").json()["results"]] == [second["id"]]
    assert [o["id"] for o in client.get(f"{URL}?to={cut}").json()["results"]] == [first["id"]]
    day = (timezone.now() - dt.timedelta(days=1)).date().isoformat()
    assert [o["id"] for o in client.get(f"{URL}?from={day}&status=open").json()["results"]] == [second["id"]]


@pytest.mark.parametrize("query", ["from=yesterday", "to=-5", "from=2026-01-02&to=2026-01-01"])
def test_a_bad_time_range_is_refused(db, buyer, query):
    response = client_for(buyer).get(f"{URL}?{query}")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"
