"""The matcher's crash and fault behaviour, in-process: every run_once() is a fresh matcher that
rebuilds its book from PostgreSQL, as after a restart."""

import contextlib
import random
import threading
from decimal import Decimal as D

import pytest
import redis

from apps.core.redis import get_redis
from apps.markets import services as market_services
from apps.markets import streams
from apps.matching import worker
from apps.matching.testing import drain, matcher, run_once
from apps.orders.exceptions import OrderClosed
from apps.orders.models import Order
from apps.orders.tests.test_matching_settlement import refreshed
from apps.trades.models import Trade
from apps.wallets.exceptions import InsufficientFunds
from tests.factories import assert_ledger_consistent, balance, funded_trader, place

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_test_transaction")]


def test_time_priority_survives_a_restart(market):
    first, second, buyer = funded_trader(btc="1"), funded_trader(btc="1"), funded_trader(usdt="1000")
    a = place(first, side="sell", type="limit", price="100.00", quantity="0.1")
    b = place(second, side="sell", type="limit", price="100.00", quantity="0.1")
    run_once()
    place(buyer, side="buy", type="limit", price="100.00", quantity="0.1")
    run_once()  # a new matcher: rebuilt from PostgreSQL
    a, b = refreshed(a, b)
    assert (a.status, b.status) == ("filled", "new")


def test_a_repeated_new_command_is_applied_once(market):
    seller, buyer = funded_trader(btc="1"), funded_trader(usdt="1000")
    place(seller, side="sell", type="limit", price="100.00", quantity="0.1")
    buy = place(buyer, side="buy", type="limit", price="100.00", quantity="0.05")
    run_once()
    streams.send("BTC-USDT", "new", buy.pk)
    streams.send("BTC-USDT", "new", buy.pk)
    run_once()
    assert Trade.objects.count() == 1
    assert balance(buyer, "USDT") == (D("995"), 0)
    assert_ledger_consistent()


def test_an_order_whose_command_never_reached_redis_is_resent(market, monkeypatch):
    buyer = funded_trader(usdt="1000")
    monkeypatch.setattr(streams, "send", lambda *args: False)  # as if Redis was down at commit
    order = place(buyer, side="buy", type="limit", price="99.00", quantity="0.1")
    monkeypatch.undo()
    assert get_redis().xlen(streams.stream_key("BTC-USDT")) == 0
    run_once()  # start-up recovery re-sends it
    (order,) = refreshed(order)
    assert order.applied and order.status == "new" and order.priority is not None


def test_redis_losing_the_stream_and_group_loses_no_order(market):
    seller, buyer = funded_trader(btc="1"), funded_trader(usdt="1000")
    with matcher() as m:
        drain(m)
        sell = place(seller, side="sell", type="limit", price="100.00", quantity="0.1")
        get_redis().delete(streams.stream_key("BTC-USDT"))  # Redis restarted without its data
        buy = place(buyer, side="buy", type="limit", price="100.00", quantity="0.1")
        with pytest.raises(redis.ResponseError, match="NOGROUP"):
            m.step()
        m._after_redis_outage()  # what run() does on NOGROUP: recreate the group, sweep
        drain(m)
    sell, buy = refreshed(sell, buy)
    assert (sell.status, buy.status) == ("filled", "filled")
    assert_ledger_consistent()


def test_a_failed_commit_leaves_no_trace_in_the_engine(market, monkeypatch):
    seller, buyer = funded_trader(btc="1"), funded_trader(usdt="1000")
    sell = place(seller, side="sell", type="limit", price="100.00", quantity="0.1")
    with matcher() as m:
        drain(m)
        buy = place(buyer, side="buy", type="limit", price="100.00", quantity="0.1")
        real_write = worker.write

        def write_then_fail(cursor, batch, *, state, changes=()):
            real_write(cursor, batch, state=state, changes=changes)
            raise RuntimeError("commit failed")  # everything written is rolled back

        monkeypatch.setattr(worker, "write", write_then_fail)
        with pytest.raises(RuntimeError):
            m.step()
            m.flush()  # a failed commit surfaces at the next wait, as the committer thread's would
        monkeypatch.undo()
        runner = next(iter(m.runners.values()))
        # Rebuilt from PostgreSQL: the sell rests untouched; the buy is not in the engine.
        assert runner.engine.get(sell.pk).filled == 0 and runner.engine.get(buy.pk) is None
        assert not Trade.objects.exists()
        drain(m)  # the pending entry is read again and applied once
    sell, buy = refreshed(sell, buy)
    assert (sell.status, buy.status, Trade.objects.count()) == ("filled", "filled", 1)
    assert_ledger_consistent()


# The committer thread commits batch N on its own connection while this thread matches batch N+1.
@pytest.mark.django_db(transaction=True)
def test_a_failed_commit_with_the_next_batch_already_matched_loses_and_doubles_nothing(market, monkeypatch):
    """Batch N+1 is matched while batch N commits (the committer thread): when N's commit fails, the
    engine holds both, neither is acknowledged, and both are applied exactly once afterwards."""
    sellers = [funded_trader(btc="1") for _ in range(2)]
    buyers = [funded_trader(usdt="1000") for _ in range(2)]
    sells = [place(s, side="sell", type="limit", price="100.00", quantity="0.1") for s in sellers]
    with matcher(batch_size=1) as m:
        drain(m)
        buys = [place(b, side="buy", type="limit", price="100.00", quantity="0.1") for b in buyers]
        runner = next(iter(m.runners.values()))
        real_write, real_prepare, prepared = worker.write, runner.prepare, threading.Event()

        def prepare_and_tell(entries):
            result = real_prepare(entries)
            if any(fields.get("id") == str(buys[1].pk) for _, fields in entries):
                prepared.set()
            return result

        def write_then_fail(cursor, batch, *, state, changes=()):
            real_write(cursor, batch, state=state, changes=changes)
            assert prepared.wait(30)  # the second buy is matched while this batch is being written
            raise RuntimeError("commit failed")  # as kill -9 before COMMIT: everything is rolled back

        monkeypatch.setattr(runner, "prepare", prepare_and_tell)
        monkeypatch.setattr(worker, "write", write_then_fail)
        with pytest.raises(RuntimeError):
            m.step()  # reads and matches the first buy, hands it to the committer
            m.step()  # matches the second buy, then waits for the first commit, which fails
        monkeypatch.undo()
        assert not Trade.objects.exists()
        assert get_redis().xpending(streams.stream_key("BTC-USDT"), worker.GROUP)["pending"] == 2
        runner = next(iter(m.runners.values()))
        assert [runner.engine.get(s.pk).filled for s in sells] == [0, 0]  # rebuilt from PostgreSQL
        assert all(runner.engine.get(b.pk) is None for b in buys)
        drain(m)
    assert Trade.objects.count() == 2
    assert [o.status for o in refreshed(*sells, *buys)] == ["filled"] * 4
    assert get_redis().xpending(streams.stream_key("BTC-USDT"), worker.GROUP)["pending"] == 0
    assert_ledger_consistent()


def test_a_crash_between_commit_and_ack_applies_nothing_twice(market, monkeypatch):
    seller, buyer = funded_trader(btc="1"), funded_trader(usdt="1000")
    place(seller, side="sell", type="limit", price="100.00", quantity="0.1")
    place(buyer, side="buy", type="limit", price="100.00", quantity="0.05")
    with matcher() as m:
        m.next_discovery = 0
        m.step()  # pending read (empty)

        def lost(*args, **kwargs):
            raise redis.ConnectionError("connection lost before XACK")

        monkeypatch.setattr(m.redis, "xack", lost)
        with pytest.raises(redis.ConnectionError):
            m.step()
            m.flush()
    assert Trade.objects.count() == 1
    assert get_redis().xpending(streams.stream_key("BTC-USDT"), worker.GROUP)["pending"] == 2
    run_once()  # a new matcher reads the pending entries and skips them (already applied)
    assert Trade.objects.count() == 1
    assert get_redis().xpending(streams.stream_key("BTC-USDT"), worker.GROUP)["pending"] == 0
    assert_ledger_consistent()


# Two matchers, so two lock connections: on one connection the advisory locks are re-entrant.
@pytest.mark.django_db(transaction=True)
def test_two_matchers_never_run_one_market_and_new_markets_are_picked_up(market):
    with matcher() as first, matcher() as second:
        drain(first)
        second.next_discovery = 0
        second.step()
        assert list(first.runners) == ["exchange:orders:BTC-USDT"] and second.runners == {}
        market_services.create_market(base="ETH", quote="USDT", tick_size=D("0.01"), lot_size=D("0.001"))
        second.next_discovery = 0
        second.step()  # the second one takes the new market; the first keeps its own
        assert list(second.runners) == ["exchange:orders:ETH-USDT"]


def test_random_order_flow_conserves_money_and_quantity(market):
    rng = random.Random(7)
    users = [funded_trader(btc="10", usdt="100000") for _ in range(4)]
    orders = []
    for step in range(120):
        user = rng.choice(users)
        side = rng.choice(["buy", "sell"])
        kind = rng.choices(["limit", "market", "cancel"], weights=[6, 1, 2])[0]
        if kind == "cancel":
            open_orders = [o for o in orders if o.user_id == user.pk]
            if open_orders:
                from apps.orders.services import request_cancel

                with contextlib.suppress(OrderClosed):  # already final: a 409 in the API
                    request_cancel(user=user, order_id=rng.choice(open_orders).pk)
            continue
        price = D(100 + rng.randint(-5, 5))
        qty = D(rng.randint(2, 50)) / 100
        fields = (
            {"type": "market"}
            if kind == "market"
            else {"type": "limit", "price": str(price), "time_in_force": rng.choice(["gtc", "gtc", "ioc", "fok"])}
        )
        with contextlib.suppress(InsufficientFunds):  # a market buy by quantity holds the balance until it settles
            orders.append(place(user, side=side, quantity=str(qty), **fields))
        if step % 30 == 29:
            run_once()
    run_once()
    for order in Order.objects.all():
        assert order.filled_quantity <= order.quantity
        bought = sum(t.quantity for t in Trade.objects.filter(buy_order=order))
        sold = sum(t.quantity for t in Trade.objects.filter(sell_order=order))
        assert order.filled_quantity == bought + sold
        assert order.status in ("new", "partially_filled") or order.hold.amount == 0
    assert Trade.objects.exists()
    assert not Trade.objects.filter(buyer=models_F("seller")).exists()
    assert_ledger_consistent()


def models_F(name):
    from django.db.models import F

    return F(name)
