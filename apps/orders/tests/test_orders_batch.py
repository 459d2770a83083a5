"""POST/DELETE /api/v1/orders/batch, and the one-statement entry path under concurrency (issue 21)."""

import threading
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.redis import get_redis
from apps.markets import streams
from apps.orders.models import Order
from apps.wallets.models import Hold, Transaction
from tests.factories import assert_ledger_consistent, balance, client_for, funded_trader

URL = "/api/v1/orders/batch"


def limit(side="buy", price="100", quantity="0.1", **extra):
    return {"symbol": "BTC-USDT", "side": side, "type": "limit", "price": price, "quantity": quantity, **extra}


def at_once(n: int, send, user) -> list:
    """send(client) from n threads released together, each with its own client and connection."""
    results = []
    barrier = threading.Barrier(n)

    def run():
        client = client_for(user)
        barrier.wait()
        try:
            results.append(send(client))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_a_batch_places_each_order_or_refuses_it_in_its_place(market, django_capture_on_commit_callbacks):
    user = funded_trader(usdt="25", btc="1")
    body = {"orders": [
        limit(client_order_id="a"),                     # 10 USDT held
        limit(price="100.001"),                         # off the tick
        {"symbol": "BTC-USDT", "side": "buy"},          # malformed
        limit(quantity="2"),                            # 200 USDT: more than is left
        limit(side="sell", price="120", quantity="0.5"),
        limit(symbol="NOPE-USDT"),
        limit(price="150"),                             # 15 USDT: exactly what is left
    ]}  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(user).post(URL, body, format="json")
    assert response.status_code == 200, response.json()
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 400, 400, 400, 201, 404, 201]
    assert [r.get("error", {}).get("code") for r in results] == [
        None, "invalid_price_tick", "invalid_request", "insufficient_funds", None, "unknown_market", None]  # fmt: skip
    assert set(results[2]["error"]["details"]) == {"type"}
    assert results[3]["error"]["details"] == {"currency": "USDT", "available": "15.000000000000000000",
                                              "required": "200"}  # fmt: skip
    assert results[0]["order"]["client_order_id"] == "a" and results[4]["order"]["side"] == "sell"
    assert balance(user, "USDT") == (D("0"), D("25"))
    assert balance(user, "BTC") == (D("0.5"), D("0.5"))
    assert Order.objects.filter(user=user).count() == 3
    # One XADD pipeline: the three new orders are on the market's stream, in the batch's order.
    entries = get_redis().xrange(streams.stream_key("BTC-USDT"))
    assert [int(fields["id"]) for _, fields in entries] == [results[i]["order"]["id"] for i in (0, 4, 6)]
    assert_ledger_consistent()


def test_a_repeated_client_order_id_in_a_batch_answers_the_first_order(market):
    user = funded_trader(usdt="100")
    client = client_for(user)
    first = client.post("/api/v1/orders", limit(client_order_id="mm-1"), format="json").json()
    results = client.post(URL, {"orders": [limit(client_order_id="mm-1"), limit(client_order_id="mm-2")]},
                          format="json").json()["results"]  # fmt: skip
    assert [r["status"] for r in results] == [200, 201]
    assert results[0]["order"]["id"] == first["id"]
    assert balance(user, "USDT") == (D("80"), D("20"))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"orders": []}, "orders"),
        ({"orders": [limit()] * 21}, "orders"),
        ({"orders": "all of them"}, "orders"),
        ({}, "orders"),
        ([limit()], "non_field_errors"),
        ({"orders": [limit(), 7]}, "orders.1"),
    ],
)
def test_a_malformed_batch_is_refused_whole_and_writes_nothing(market, body, field):
    user = funded_trader(usdt="1000")
    response = client_for(user).post(URL, body, format="json")
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and field in error["details"], error
    assert not Order.objects.filter(user=user).exists()
    assert balance(user, "USDT") == (D("1000"), 0)


def test_batch_cancel_answers_each_id(market, django_capture_on_commit_callbacks):
    owner, other = funded_trader(usdt="1000"), funded_trader(usdt="1000")
    client = client_for(owner)
    mine = [client.post("/api/v1/orders", limit(), format="json").json()["id"] for _ in range(2)]
    theirs = client_for(other).post("/api/v1/orders", limit(), format="json").json()["id"]
    Order.objects.filter(pk=mine[1]).update(status="filled")
    get_redis().delete(streams.stream_key("BTC-USDT"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete(f"{URL}?ids={mine[0]},{theirs},{mine[1]},999999999")
    assert response.status_code == 200, response.json()
    results = response.json()["results"]
    assert [r["status"] for r in results] == [202, 404, 409, 404]
    assert results[0]["order"]["id"] == mine[0] and results[2]["error"]["code"] == "order_closed"
    assert Order.objects.get(pk=mine[0]).cancel_requested_at is not None
    assert Order.objects.get(pk=theirs).cancel_requested_at is None
    entries = get_redis().xrange(streams.stream_key("BTC-USDT"))
    assert [(f["op"], int(f["id"])) for _, f in entries] == [("cancel", mine[0])]


@pytest.mark.parametrize("query", ["?ids=", "?ids=" + ",".join(map(str, range(1, 22))), "?ids=x", "", "?ids=1,,2",
                                   "?ids=999999999999999999999", "?ids=%EF%BC%91", "?ids=-1"])  # fmt: skip
def test_a_malformed_batch_cancel_is_refused_whole(market, query):
    user = funded_trader(usdt="1000")
    client = client_for(user)
    order_id = client.post("/api/v1/orders", limit(), format="json").json()["id"]
    response = client.delete(URL + query)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"
    assert Order.objects.get(pk=order_id).cancel_requested_at is None


def test_a_repeat_inside_a_batch_is_refused_in_its_place(market, django_capture_on_commit_callbacks):
    user = funded_trader(usdt="1000")
    client = client_for(user)
    body = {"orders": [limit(client_order_id="x"), limit(), limit(client_order_id="x", price="90")]}
    results = client.post(URL, body, format="json").json()["results"]
    assert [r["status"] for r in results] == [201, 201, 400]
    assert results[2]["error"]["code"] == "invalid_request" and "client_order_id" in results[2]["error"]["details"]
    assert balance(user, "USDT") == (D("980"), D("20"))
    first = results[0]["order"]["id"]
    get_redis().delete(streams.stream_key("BTC-USDT"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete(f"{URL}?ids={first},{first},0,99999999999999999999")
    assert [r["status"] for r in response.json()["results"]] == [202, 400, 404, 404]
    entries = get_redis().xrange(streams.stream_key("BTC-USDT"))
    assert [(f["op"], int(f["id"])) for _, f in entries] == [("cancel", first)]


@pytest.mark.django_db(transaction=True)  # autocommit: in a test transaction order entry adds a savepoint
@pytest.mark.parametrize("path", ["/api/v1/orders", URL])
def test_order_entry_through_the_api_is_one_database_statement(market, path):
    """Identity from the token's claims, the market from the registry, the rate limit in Redis: the
    one statement is orders_place (outside a test transaction, so the registry keeps what it read)."""
    user = funded_trader(usdt="1000")
    client = client_for(user)

    def send(price):
        body = limit(price=price) if path.endswith("orders") else {"orders": [limit(price=price)] * 3}
        return client.post(path, body, format="json")

    assert send("100").status_code in (200, 201)  # warms the registry
    with CaptureQueriesContext(connection) as queries:
        response = send("101")
    assert response.status_code in (200, 201), response.json()
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) == 1 and "orders_place" in statements[0], statements


@pytest.mark.django_db(transaction=True)  # threads, each on its own connection
def test_concurrent_orders_of_one_account_accept_exactly_the_affordable_ones(market):
    user = funded_trader(usdt="55")  # 5 orders of 10 USDT fit, 12 are sent at once
    results = at_once(12, lambda client: client.post("/api/v1/orders", limit(), format="json").status_code, user)
    assert sorted(results) == [201] * 5 + [400] * 7
    assert balance(user, "USDT") == (D("5"), D("50"))
    assert Hold.objects.filter(account__user=user).count() == 5
    assert Transaction.objects.filter(kind="hold").count() == 5
    assert_ledger_consistent()


@pytest.mark.django_db(transaction=True)  # threads, each on its own connection
def test_parallel_batches_repeating_client_order_ids_create_each_order_once(market):
    user = funded_trader(usdt="1000")
    body = {"orders": [limit(client_order_id=f"p-{i}") for i in range(10)]}
    results = at_once(6, lambda client: client.post(URL, body, format="json").json()["results"], user)
    statuses = [[r["status"] for r in batch] for batch in results]
    # The batches serialize on the account's row lock: the first places all ten, the others repeat them.
    assert sorted(statuses) == [[200] * 10] * 5 + [[201] * 10], statuses
    assert {r["order"]["id"] for batch in results for r in batch} == set(
        Order.objects.filter(user=user).values_list("pk", flat=True)
    )
    assert Order.objects.filter(user=user).count() == 10
    assert balance(user, "USDT") == (D("900"), D("100"))
    assert_ledger_consistent()


@pytest.mark.parametrize("signed", [False, True])
def test_the_orders_rate_limit_counts_each_order_of_a_batch(market, settings, signed):
    from apps.accounts import services as account_services
    from apps.accounts.tests.test_api_keys import signed as signed_request

    settings.RATE_LIMITS = {tier: {"orders": 25, "private": 100, "public": 100}
                            for tier in ("anonymous", "basic", "pro", "institutional")}  # fmt: skip
    user = funded_trader(usdt="100000")
    client = client_for(user)
    key = account_services.create_api_key(user=user, label="mm", permissions=["read", "trade"], ip_allowlist=[])

    def send(method, path, body=None):
        if signed:
            return signed_request(key.api_key.key, key.secret, method, path, body)
        return getattr(client, method.lower())(path, body, format="json")

    first = send("POST", URL, {"orders": [limit(price=str(90 + i)) for i in range(20)]})
    assert first.status_code == 200 and first["X-RateLimit-Remaining"] == "5", first.json()
    second = send("POST", URL, {"orders": [limit(price=str(60 + i)) for i in range(6)]})
    assert second.status_code == 429 and second.json()["error"]["code"] == "rate_limited"
    assert Order.objects.filter(user=user).count() == 20
    ids = ",".join(str(r["order"]["id"]) for r in first.json()["results"][:5])
    cancel = send("DELETE", f"{URL}?ids={ids}")
    assert cancel.status_code == 200 and cancel["X-RateLimit-Remaining"] == "0", cancel.json()
