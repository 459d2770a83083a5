"""Regressions found by review: each test reproduced a real bug of the matcher or the order API."""

from decimal import Decimal as D

import pytest

from apps.matching.testing import run_once
from apps.orders.models import Order
from tests.factories import assert_ledger_consistent, client_for, funded_trader, place

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_test_transaction")]


def test_triggered_stop_limit_that_rests_survives_a_restart(market):
    a, b, stopper = funded_trader(usdt="1000"), funded_trader(btc="1"), funded_trader(usdt="1000")
    # A buy stop-limit at 105 with a limit of 101: triggers on a trade at 105, then rests at 101.
    stop = place(stopper, side="buy", type="stop_limit", stop_price="105.00", price="101.00", quantity="0.1")
    run_once()
    place(a, side="buy", type="limit", price="105.00", quantity="0.1")
    place(b, side="sell", type="limit", price="105.00", quantity="0.1")
    run_once()
    stop.refresh_from_db()
    assert (stop.status, stop.triggered) == ("new", True)
    # A fresh matcher (restart) must rebuild the book.
    run_once()
    # and the resting order still matches afterwards
    place(b, side="sell", type="limit", price="101.00", quantity="0.1")
    run_once()
    stop.refresh_from_db()
    assert stop.status == "filled"
    assert_ledger_consistent()


LIMIT = '"symbol": "BTC-USDT", "side": "buy", "type": "limit"'
BODIES = [
    "[]", '"x"', "null", "1", "{}",
    "{" + LIMIT + ', "price": "100", "quantity": "0.1", "post_only": "true"}',
    "{" + LIMIT + ', "price": "100", "quantity": "0.1", "client_order_id": 5}',
    "{" + LIMIT + ', "price": "100", "quantity": "1e3"}',
    "{" + LIMIT + ', "price": 1e400, "quantity": "1"}',
    "{" + LIMIT + ', "price": 100000000000000000000000000000000000000000, "quantity": "1"}',
    "{" + LIMIT + ', "price": "99999999999999.99", "quantity": "99999999999999.9999"}',
    "{" + LIMIT + ', "price": "0.01", "quantity": "0.0001"}',
    '{"symbol": "BTC-USDT", "side": "buy", "type": "market", "quote_quantity": "99999999999999.999999"}',
    '{"symbol": "BTC-USDT", "side": "buy", "type": "stop_market", "stop_price": "99999999999999.99", "quantity": "9"}',
    '{"symbol": "BTC-USDT", "side": "sell", "type": "market", "quantity": "99999999999999.9999"}',
    '{"symbol": "\\u0000", "side": "buy", "type": "limit", "price": "100", "quantity": "0.1"}',
    '{"symbol": ["BTC-USDT"], "side": "buy", "type": "limit", "price": "100", "quantity": "0.1"}',
    '{"symbol": {"a": 1}, "side": "buy", "type": "limit", "price": "100", "quantity": "0.1"}',
    '{"symbol": "btc-usdt", "side": "buy", "type": "limit", "price": "100", "quantity": "0.1", "time_in_force": null}',
    "{" + LIMIT + ', "price": "100", "quantity": "0.1", "self_trade_prevention": []}',
    '{"symbol": "BTC-USDT", "side": ["buy"], "type": "limit", "price": "100", "quantity": "0.1"}',
    "{" + LIMIT + ', "price": "100", "quantity": "0.1", "client_order_id": "x\\u0000"}',
]  # fmt: skip


def test_odd_bodies_never_500(market):
    user = funded_trader(usdt="1000000000", btc="1000")
    client = client_for(user)
    bad = []
    for body in BODIES:
        r = client.post("/api/v1/orders", data=body, content_type="application/json")
        if r.status_code >= 500 or (r.status_code >= 400 and "error" not in r.json()):
            bad.append((body, r.status_code, r.content[:300]))
    for path in (
        "/api/v1/orders?symbol=%00",
        "/api/v1/orders?status=%00",
        "/api/v1/orders?symbol=%E2%82%AC",
        "/api/v1/orders/99999999999999999999999",
        "/api/v1/orders?limit=%00",
        "/api/v1/orders?cursor=%00",
        "/api/v1/markets/%00/book",
        "/api/v1/markets/BTC-USDT/trades?limit=%00",
    ):
        r = client.get(path)
        if r.status_code >= 500:
            bad.append((path, r.status_code, r.content[:300]))
    for path in ("/api/v1/orders?symbol=%00", "/api/v1/orders/0", "/api/v1/orders/99999999999999999999999"):
        r = client.delete(path)
        if r.status_code >= 500:
            bad.append(("DELETE " + path, r.status_code, r.content[:300]))
    assert bad == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_flow_all_types(market, seed):
    import contextlib
    import random

    from apps.orders.exceptions import BelowMinNotional, OrderClosed
    from apps.orders.services import request_cancel, request_cancel_all
    from apps.trades.models import Trade
    from apps.wallets.exceptions import InsufficientFunds
    from apps.wallets.models import Hold

    rng = random.Random(seed)
    users = [funded_trader(btc="10", usdt="100000") for _ in range(4)]
    orders = []
    for step in range(200):
        user = rng.choice(users)
        side = rng.choice(["buy", "sell"])
        kind = rng.choices(
            ["limit", "market", "stop_limit", "stop_market", "cancel", "cancel_all"], weights=[8, 2, 2, 2, 2, 0.3]
        )[0]
        if kind == "cancel":
            mine = [o for o in orders if o.user_id == user.pk]
            if mine:
                with contextlib.suppress(OrderClosed):
                    request_cancel(user=user, order_id=rng.choice(mine).pk)
            continue
        if kind == "cancel_all":
            request_cancel_all(user=user, symbol="BTC-USDT")
            continue
        price = D(100 + rng.randint(-6, 6))
        qty = D(rng.randint(2, 50)) / 100
        fields = {"type": kind, "self_trade_prevention": rng.choice(["cancel_resting", "cancel_taker"])}
        if kind in ("limit", "stop_limit"):
            fields["price"] = str(price)
            fields["time_in_force"] = rng.choice(["gtc", "gtc", "gtc", "ioc", "fok"])
        if kind.startswith("stop"):
            fields["stop_price"] = str(D(100 + rng.randint(-6, 6)))
        if kind in ("market", "stop_market") and side == "buy" and rng.random() < 0.5:
            fields["quote_quantity"] = str(D(rng.randint(100, 3000)) / 100)
        else:
            fields["quantity"] = str(qty)
        if kind == "limit" and fields["time_in_force"] == "gtc" and rng.random() < 0.2:
            fields["post_only"] = True
        with contextlib.suppress(InsufficientFunds, BelowMinNotional):
            orders.append(place(user, side=side, **fields))
        if step % 7 == 6:
            run_once()
            _check(Order, Hold)
    run_once()
    _check(Order, Hold)
    assert Trade.objects.exists()
    assert_ledger_consistent()


def _check(Order, Hold):
    problems = []
    for o in Order.objects.select_related("hold"):
        h = o.hold
        if o.status in ("new", "partially_filled"):
            if o.applied and o.side == "sell":
                exp = o.quantity - o.filled_quantity
            elif o.applied and o.side == "buy" and o.price is not None:
                exp = (o.quantity - o.filled_quantity) * o.price
            else:
                exp = None
            if h.status != "active" or (exp is not None and h.amount != exp):
                problems.append((o.pk, o.type, o.side, o.status, o.triggered, h.amount, h.status, exp))
        else:
            if h.status == "active" or h.amount != 0:
                problems.append((o.pk, o.type, o.side, o.status, h.amount, h.status))
    assert problems == []
    assert_ledger_consistent()


def test_a_failed_rebuild_never_leaves_a_half_built_engine_in_use(market, monkeypatch):
    """A batch fails (database error), and the rebuild in apply()'s except-branch and the one in
    _recover_database() fail too (database still unreachable for new connections). The runner keeps
    the engine as the failed batch left it and applies the next batch on top of it."""
    from django.db import OperationalError

    from apps.matching import worker
    from apps.matching.testing import drain, matcher
    from apps.wallets.verification import verify_ledger

    seller, b1, b2 = funded_trader(btc="1"), funded_trader(usdt="1000"), funded_trader(usdt="1000")
    sell = place(seller, side="sell", type="limit", price="100.00", quantity="0.5")
    with matcher() as m:
        drain(m)
        place(b1, side="buy", type="limit", price="100.00", quantity="0.2")
        real_write, real_recover = worker.write, worker.MarketRunner.recover
        failures = {"write": 1, "recover": 2}

        def flaky_write(*a, **k):
            if failures["write"]:
                failures["write"] -= 1
                raise OperationalError("server closed the connection unexpectedly")
            return real_write(*a, **k)

        def flaky_recover(self):
            if failures["recover"]:
                failures["recover"] -= 1
                raise OperationalError("could not connect: too many clients")
            return real_recover(self)

        monkeypatch.setattr(worker, "write", flaky_write)
        monkeypatch.setattr(worker.MarketRunner, "recover", flaky_recover)
        try:  # what Matcher.run() does for a generic exception (minus the sleep)
            m.step()
            m.flush()
        except Exception:  # noqa: BLE001
            m._recover_database()
        assert failures == {"write": 0, "recover": 0}
        # The database is fine again. The next order is applied by the same runner.
        place(b2, side="buy", type="limit", price="100.00", quantity="0.1")
        drain(m)
    sell.refresh_from_db()
    from apps.trades.models import Trade

    assert verify_ledger() == []
    assert sell.filled_quantity == sum(Trade.objects.filter(sell_order=sell).values_list("quantity", flat=True))


def test_a_running_matcher_applies_fee_changes_made_in_the_admin(market):
    from apps.markets.models import Market
    from apps.matching.testing import drain, matcher
    from apps.trades.models import Trade

    seller, buyer = funded_trader(btc="1"), funded_trader(usdt="1000")
    with matcher() as m:
        drain(m)
        Market.objects.filter(pk=market.pk).update(maker_fee=D("0"), taker_fee=D("0"))  # what the admin form saves
        m.next_discovery = 0  # discovery reads the markets again (every MATCHER_DISCOVERY_SECONDS)
        place(seller, side="sell", type="limit", price="100.00", quantity="0.1")
        place(buyer, side="buy", type="limit", price="100.00", quantity="0.1")
        drain(m)
    trade = Trade.objects.get()
    assert (trade.buyer_fee, trade.seller_fee) == (0, 0)


def test_more_decimals_than_the_market_allows_are_refused(market):
    client = client_for(funded_trader(usdt="1000"))
    r = client.post(
        "/api/v1/orders",
        {"symbol": "BTC-USDT", "side": "buy", "type": "limit", "price": "100.000", "quantity": "0.100000"},
        format="json",
    )
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_price_tick")
    r = client.post("/api/v1/orders", {"symbol": "BTC-USDT", "side": "buy", "type": "limit", "price": "100.00",
                                       "quantity": "0.100000"}, format="json")  # fmt: skip
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_quantity_step")


def test_a_triggered_resting_stop_limit_survives_a_failed_commit(market, monkeypatch):
    """One transient commit failure with a triggered stop-limit resting: the rebuild after it used to
    stop half-way (at the stop-limit) and the runner went on with half a book."""
    from apps.matching import worker
    from apps.matching.testing import drain, matcher

    a, b, stopper, maker, taker = (
        funded_trader(usdt="1000"),
        funded_trader(btc="1"),
        funded_trader(usdt="1000"),
        funded_trader(btc="1"),
        funded_trader(usdt="1000"),
    )
    place(stopper, side="buy", type="stop_limit", stop_price="105.00", price="101.00", quantity="0.1")
    run_once()
    place(a, side="buy", type="limit", price="105.00", quantity="0.1")
    place(b, side="sell", type="limit", price="105.00", quantity="0.1")
    with matcher() as m:
        drain(m)
        sell = place(maker, side="sell", type="limit", price="103.00", quantity="0.1")  # rests after the stop
        drain(m)
        real = worker.MarketRunner.commit
        fail = {"n": 1}

        def flaky(self, prepared):
            if fail["n"]:
                fail["n"] -= 1
                raise RuntimeError("transient: could not serialize access / connection reset")
            return real(self, prepared)

        monkeypatch.setattr(worker.MarketRunner, "commit", flaky)
        place(taker, side="buy", type="limit", price="99.00", quantity="0.1")  # this batch's commit fails
        try:
            drain(m)
        except Exception:  # noqa: BLE001 - what run() does
            m._recover_database()
        buy = place(taker, side="buy", type="limit", price="103.00", quantity="0.1", client_order_id="x")
        drain(m)
    sell.refresh_from_db()
    buy.refresh_from_db()
    assert (sell.status, buy.status) == ("filled", "filled"), (sell.status, buy.status)


def test_an_order_the_engine_refuses_is_rejected_not_retried_forever(market):
    buyer = funded_trader(usdt="1000")
    order = place(buyer, side="buy", type="limit", price="100.00", quantity="0.1")
    Order.objects.filter(pk=order.pk).update(quantity=D("0.00005"))  # half a lot: no engine order can exist
    run_once()
    order.refresh_from_db()
    assert (order.status, order.reason) == ("rejected", "invalid")
    from tests.factories import balance

    assert balance(buyer, "USDT") == (D("1000"), 0)
    assert_ledger_consistent()


@pytest.mark.parametrize("field,value", [("quantity", "0.10005"), ("price", "100.005")])
def test_an_order_off_the_markets_grid_is_rejected_not_truncated(market, field, value):
    """1,000.5 lots or a price between two ticks used to become 1,000 lots or the tick below,
    silently; the matcher's conversion is exact now (apps.core.money.to_steps)."""
    buyer = funded_trader(usdt="1000")
    order = place(buyer, side="buy", type="limit", price="100.00", quantity="0.1")
    Order.objects.filter(pk=order.pk).update(**{field: D(value)})  # as no entry path would write it
    run_once()
    order.refresh_from_db()
    assert (order.status, order.reason) == ("rejected", "invalid")
    from tests.factories import balance

    assert balance(buyer, "USDT") == (D("1000"), 0)
    assert_ledger_consistent()
