"""The matching engine's rules, one behaviour per test. Pure Python: no database is touched."""

import pytest

from apps.matching.engine import Engine, EngineOrder


@pytest.fixture(scope="session")
def _tests_never_touch_the_development_database():
    """Overrides the suite-wide check, which needs a test database: pytest-django creates one only
    when a selected test uses it, and these tests use none (run alone, the check would fail)."""


_ids = iter(range(1, 1_000_000))


def order(side, price=None, quantity=None, *, user=1, type=None, **fields):
    """An order with a fresh id; the type defaults to limit with a price, market without."""
    kind = type or ("limit" if price is not None else "market")
    return EngineOrder(id=next(_ids), user_id=user, side=side, type=kind, price=price, quantity=quantity, **fields)


def ids(events):
    """Events with orders rendered as their ids, for comparisons."""
    return [tuple(x.id if isinstance(x, EngineOrder) else x for x in event) for event in events]


def fills(engine):
    return [event[1:] for event in ids(engine.drain_events()) if event[0] == "fill"]


def book_with(*orders, last_price=None):
    engine = Engine(last_price=last_price)
    for o in orders:
        engine.submit(o)
    engine.drain_events()
    engine.changed_levels()
    return engine


# -- resting and priority ---------------------------------------------------------------------------


def test_limit_that_crosses_nothing_rests_with_a_priority():
    engine = Engine()
    bid = order("buy", 100, 5)
    engine.submit(bid)
    assert ids(engine.drain_events()) == [("rest", bid.id)]
    assert bid.priority > 0 and bid.status == "new" and bid.remaining == 5
    assert engine.best_bid() == 100 and engine.best_ask() is None
    assert engine.get(bid.id) is bid


def test_fifo_within_level():
    first, second, third = order("sell", 100, 2, user=1), order("sell", 100, 2, user=2), order("sell", 100, 2, user=3)
    engine = book_with(first, second, third)
    taker = order("buy", 100, 5, user=9)
    engine.submit(taker)
    assert fills(engine) == [(taker.id, first.id, 100, 2), (taker.id, second.id, 100, 2), (taker.id, third.id, 100, 1)]
    assert first.priority < second.priority < third.priority


def test_best_price_first_and_fill_at_the_makers_price():
    worse, better = order("sell", 102, 1, user=1), order("sell", 101, 1, user=2)
    engine = book_with(worse, better)
    taker = order("buy", 105, 2, user=9)
    engine.submit(taker)
    assert fills(engine) == [(taker.id, better.id, 101, 1), (taker.id, worse.id, 102, 1)]
    assert taker.spent == 203 and engine.last_price == 102


def test_sell_limit_matches_bids_at_or_above_its_limit_only():
    high, low = order("buy", 101, 1, user=1), order("buy", 99, 1, user=2)
    engine = book_with(high, low)
    taker = order("sell", 100, 2, user=9)
    engine.submit(taker)
    events = ids(engine.drain_events())
    assert events == [("fill", taker.id, high.id, 101, 1), ("done", high.id, "filled", ""), ("rest", taker.id)]
    assert engine.best_bid() == 99 and engine.best_ask() == 100 and taker.remaining == 1


def test_partial_fill_then_rest_keeps_the_remainder_at_the_limit():
    maker = order("sell", 100, 3, user=1)
    engine = book_with(maker)
    taker = order("buy", 100, 5, user=2)
    engine.submit(taker)
    assert ids(engine.drain_events()) == [
        ("fill", taker.id, maker.id, 100, 3),
        ("done", maker.id, "filled", ""),
        ("rest", taker.id),
    ]
    assert taker.filled == 3 and taker.remaining == 2 and engine.depth(5) == ([(100, 2)], [])


def test_partially_filled_maker_keeps_its_place():
    maker, behind = order("sell", 100, 5, user=1), order("sell", 100, 5, user=2)
    engine = book_with(maker, behind)
    engine.submit(order("buy", 100, 2, user=3))
    engine.drain_events()
    taker = order("buy", 100, 4, user=3)
    engine.submit(taker)
    assert fills(engine) == [(taker.id, maker.id, 100, 3), (taker.id, behind.id, 100, 1)]


# -- time in force, post-only ---------------------------------------------------------------------


def test_ioc_remainder_expires():
    maker = order("sell", 100, 1, user=1)
    engine = book_with(maker)
    taker = order("buy", 100, 3, user=2, tif="ioc")
    engine.submit(taker)
    assert ids(engine.drain_events())[-1] == ("done", taker.id, "expired", "ioc_remainder")
    assert engine.best_bid() is None and engine.get(taker.id) is None


@pytest.mark.parametrize("book", [[], [("sell", 101)]], ids=["empty book", "book not crossed"])
def test_ioc_that_fills_nothing_expires_whole_not_rejected(book):
    # docs/api.md "Orders": `rejected` is for post-only, FOK and market orders; an IOC's remainder, the whole order
    # included, is `expired` (issue 20).
    engine = book_with(*(order(side, price, 1, user=1) for side, price in book))
    taker = order("buy", 100, 3, user=2, tif="ioc")
    engine.submit(taker)
    assert ids(engine.drain_events()) == [("done", taker.id, "expired", "ioc_remainder")]
    assert taker.status == "expired" and taker.filled == 0 and engine.get(taker.id) is None


def test_ioc_that_meets_only_its_own_orders_expires_whole():
    own = order("sell", 100, 2, user=1)
    engine = book_with(own)
    taker = order("buy", 100, 2, user=1, tif="ioc")
    engine.submit(taker)
    assert ids(engine.drain_events()) == [
        ("done", own.id, "expired", "self_trade"),
        ("done", taker.id, "expired", "ioc_remainder"),
    ]


def test_triggered_ioc_stop_limit_that_fills_nothing_expires():
    engine = Engine(last_price=100)
    stop = order("buy", 101, 1, user=2, tif="ioc", type="stop_limit", stop_price=100)
    engine.submit(stop)  # its condition already holds: it runs at once, on an empty book
    assert ids(engine.drain_events()) == [("trigger", stop.id), ("done", stop.id, "expired", "ioc_remainder")]


def test_post_only_that_would_cross_is_rejected():
    maker = order("sell", 100, 1, user=1)
    engine = book_with(maker)
    taker = order("buy", 100, 1, user=2, post_only=True)
    engine.submit(taker)
    assert ids(engine.drain_events()) == [("done", taker.id, "rejected", "post_only_would_cross")]
    assert maker.filled == 0 and engine.depth(5) == ([], [(100, 1)])


def test_post_only_that_does_not_cross_rests():
    engine = book_with(order("sell", 101, 1, user=1))
    bid = order("buy", 100, 1, user=2, post_only=True)
    engine.submit(bid)
    assert ids(engine.drain_events()) == [("rest", bid.id)]


def test_fok_not_fillable_leaves_book_unchanged():
    own, other = order("sell", 100, 5, user=1), order("sell", 101, 2, user=2)
    engine = book_with(own, other)
    taker = order("buy", 101, 3, user=1, tif="fok")  # 7 lots in reach, but only 2 are another user's
    engine.submit(taker)
    assert ids(engine.drain_events()) == [("done", taker.id, "rejected", "fok_not_fillable")]
    assert engine.depth(5) == ([], [(100, 5), (101, 2)]) and own.status == "new" and engine.changed_levels() == {}


def test_fok_that_crosses_nothing_is_rejected():
    engine = book_with(order("sell", 101, 5, user=1))
    taker = order("buy", 100, 1, user=2, tif="fok")
    engine.submit(taker)
    assert ids(engine.drain_events()) == [("done", taker.id, "rejected", "fok_not_fillable")]


def test_fok_fillable_fills_completely_and_cancels_own_resting_on_the_way():
    own, other = order("sell", 100, 5, user=1), order("sell", 101, 3, user=2)
    engine = book_with(own, other)
    taker = order("buy", 101, 3, user=1, tif="fok")
    engine.submit(taker)
    assert ids(engine.drain_events()) == [
        ("done", own.id, "expired", "self_trade"),
        ("fill", taker.id, other.id, 101, 3),
        ("done", other.id, "filled", ""),
        ("done", taker.id, "filled", ""),
    ]


def test_fok_under_cancel_taker_counts_only_liquidity_before_an_own_order():
    first, own, last = order("sell", 100, 1, user=2), order("sell", 100, 5, user=1), order("sell", 100, 5, user=3)
    engine = book_with(first, own, last)
    taker = order("buy", 100, 3, user=1, tif="fok", stp="cancel_taker")
    engine.submit(taker)
    assert ids(engine.drain_events()) == [("done", taker.id, "rejected", "fok_not_fillable")]
    assert engine.depth(5) == ([], [(100, 11)])


# -- market orders --------------------------------------------------------------------------------


def test_market_sell_sells_into_bids_until_done():
    a, b = order("buy", 100, 2, user=1), order("buy", 99, 5, user=2)
    engine = book_with(a, b)
    taker = order("sell", None, 4, user=3)
    engine.submit(taker)
    events = ids(engine.drain_events())
    assert [e for e in events if e[0] == "fill"] == [("fill", taker.id, a.id, 100, 2), ("fill", taker.id, b.id, 99, 2)]
    assert events[-1] == ("done", taker.id, "filled", "") and engine.depth(5) == ([(99, 3)], [])


def test_market_with_an_empty_book_is_rejected_no_liquidity():
    engine = Engine()
    taker = order("buy", None, 1)
    engine.submit(taker)
    assert ids(engine.drain_events()) == [("done", taker.id, "rejected", "no_liquidity")]


def test_market_that_empties_the_book_expires_its_remainder():
    maker = order("sell", 100, 2, user=1)
    engine = book_with(maker)
    taker = order("buy", None, 5, user=2, tif="gtc")  # a market order is IOC whatever its tif says
    engine.submit(taker)
    assert ids(engine.drain_events())[-1] == ("done", taker.id, "expired", "ioc_remainder")
    assert engine.best_bid() is None


def test_market_fok_is_honoured():
    engine = book_with(order("sell", 100, 2, user=1))
    taker = order("buy", None, 5, user=2, tif="fok")
    engine.submit(taker)
    assert ids(engine.drain_events()) == [("done", taker.id, "rejected", "fok_not_fillable")]


def test_market_buy_by_funds_stops_when_budget_cannot_buy_a_lot():
    cheap, dear = order("sell", 100, 2, user=1), order("sell", 150, 5, user=2)
    engine = book_with(cheap, dear)
    taker = order("buy", None, None, user=3, funds=520)  # 2 at 100, then 2 at 150, 20 left over
    engine.submit(taker)
    events = ids(engine.drain_events())
    assert [e for e in events if e[0] == "fill"] == [
        ("fill", taker.id, cheap.id, 100, 2),
        ("fill", taker.id, dear.id, 150, 2),
    ]
    assert events[-1] == ("done", taker.id, "filled", "")
    assert taker.spent == 500 and taker.filled == 4 and dear.remaining == 3


def test_market_buy_by_funds_that_cannot_buy_one_lot_is_rejected():
    engine = book_with(order("sell", 100, 2, user=1))
    taker = order("buy", None, None, user=3, funds=99)
    engine.submit(taker)
    assert ids(engine.drain_events()) == [("done", taker.id, "rejected", "no_liquidity")]


def test_market_buy_by_funds_that_empties_the_book_expires():
    engine = book_with(order("sell", 100, 2, user=1))
    taker = order("buy", None, None, user=3, funds=1_000)
    engine.submit(taker)
    assert ids(engine.drain_events())[-1] == ("done", taker.id, "expired", "ioc_remainder")


def test_market_buy_by_funds_and_quantity_stops_at_whichever_runs_out_first():
    engine = book_with(order("sell", 100, 10, user=1))
    by_quantity = order("buy", None, 3, user=3, funds=1_000)
    engine.submit(by_quantity)
    assert ids(engine.drain_events())[-1] == ("done", by_quantity.id, "filled", "") and by_quantity.filled == 3
    by_funds = order("buy", None, 5, user=3, funds=250)
    engine.submit(by_funds)
    assert ids(engine.drain_events())[-1] == ("done", by_funds.id, "expired", "ioc_remainder")
    assert by_funds.filled == 2 and by_funds.spent == 200


def test_market_fok_by_funds_is_complete_when_the_budget_runs_out_before_the_book():
    engine = book_with(order("sell", 100, 2, user=1), order("sell", 100, 1, user=2))
    enough_book = order("buy", None, None, user=3, funds=250, tif="fok")
    engine.submit(enough_book)
    assert ids(engine.drain_events())[-1] == ("done", enough_book.id, "filled", "")
    too_little_book = order("buy", None, None, user=3, funds=250, tif="fok")  # one lot left: book runs out
    engine.submit(too_little_book)
    assert ids(engine.drain_events()) == [("done", too_little_book.id, "rejected", "fok_not_fillable")]
    exactly_the_book = order("buy", None, None, user=3, funds=150, tif="fok")  # buys the last lot, then no book
    engine.submit(exactly_the_book)
    assert ids(engine.drain_events()) == [("done", exactly_the_book.id, "rejected", "fok_not_fillable")]


# -- self-trade prevention ------------------------------------------------------------------------


def test_self_trade_cancel_resting():
    own, other = order("sell", 100, 2, user=1), order("sell", 100, 2, user=2)
    engine = book_with(own, other)
    taker = order("buy", 100, 2, user=1)
    engine.submit(taker)
    assert ids(engine.drain_events()) == [
        ("done", own.id, "expired", "self_trade"),
        ("fill", taker.id, other.id, 100, 2),
        ("done", other.id, "filled", ""),
        ("done", taker.id, "filled", ""),
    ]
    assert engine.get(own.id) is None and engine.best_ask() is None


def test_self_trade_cancel_taker():
    other, own, behind = order("sell", 100, 1, user=2), order("sell", 100, 2, user=1), order("sell", 100, 2, user=3)
    engine = book_with(other, own, behind)
    taker = order("buy", 100, 5, user=1, stp="cancel_taker")
    engine.submit(taker)
    assert ids(engine.drain_events()) == [
        ("fill", taker.id, other.id, 100, 1),
        ("done", other.id, "filled", ""),
        ("done", taker.id, "expired", "self_trade"),
    ]
    assert own.status == "new" and engine.depth(5) == ([], [(100, 4)])


def test_no_fill_between_orders_of_the_same_user_even_at_the_only_level():
    own = order("sell", 100, 2, user=1)
    engine = book_with(own)
    taker = order("buy", None, 2, user=1)
    engine.submit(taker)
    assert ids(engine.drain_events()) == [
        ("done", own.id, "expired", "self_trade"),
        ("done", taker.id, "rejected", "no_liquidity"),
    ]


# -- stops ----------------------------------------------------------------------------------------


def test_stop_buy_triggers_on_last_price():
    stop = order("buy", 105, 1, user=1, type="stop_limit", stop_price=102)
    asks = order("sell", 101, 1, user=2), order("sell", 102, 1, user=2), order("sell", 104, 1, user=2)
    engine = book_with(stop, *asks, last_price=100)
    assert stop.status == "new" and stop.triggered is False
    engine.submit(order("buy", 101, 1, user=3))  # last 101: below the stop
    assert all(e[0] != "trigger" for e in ids(engine.drain_events()))
    engine.submit(order("buy", 102, 1, user=3))  # last 102: triggers, then buys 104
    events = ids(engine.drain_events())
    at = events.index(("trigger", stop.id))
    assert events[at + 1 :] == [
        ("fill", stop.id, asks[2].id, 104, 1),
        ("done", asks[2].id, "filled", ""),
        ("done", stop.id, "filled", ""),
    ]
    assert stop.triggered is True and engine.last_price == 104


def test_stop_sell_triggers_when_last_price_falls_to_it():
    engine = book_with(order("buy", 99, 5, user=2), last_price=100)
    stop = order("sell", None, 2, user=1, type="stop_market", stop_price=99)
    engine.submit(stop)
    assert ids(engine.drain_events()) == [("arm", stop.id)]
    engine.submit(order("sell", 99, 1, user=3))
    events = ids(engine.drain_events())
    assert events[events.index(("trigger", stop.id)) + 1 :][-1] == ("done", stop.id, "filled", "")


def test_stop_waits_while_last_price_is_unknown():
    engine = Engine()
    stop = order("buy", None, 1, type="stop_market", stop_price=1)
    engine.submit(stop)
    assert ids(engine.drain_events()) == [("arm", stop.id)] and engine.get(stop.id) is stop


def test_stop_whose_condition_already_holds_triggers_immediately():
    engine = book_with(order("sell", 100, 1, user=2), last_price=100)
    stop = order("buy", 100, 1, user=1, type="stop_limit", stop_price=100)
    engine.submit(stop)
    events = ids(engine.drain_events())
    assert events[0] == ("trigger", stop.id) and events[-1] == ("done", stop.id, "filled", "")


def test_triggered_stop_limit_rests_with_a_fresh_priority():
    engine = book_with(order("sell", 101, 1, user=2), last_price=100)
    stop = order("buy", 100, 1, user=1, type="stop_limit", stop_price=101)
    engine.submit(stop)
    armed_priority = stop.priority
    engine.submit(order("buy", 101, 1, user=3))
    assert ("rest", stop.id) in ids(engine.drain_events())
    assert stop.priority > armed_priority and engine.best_bid() == 100


def test_chained_stop_triggers():
    """A stop's fills move the last price, which triggers the next stop, which triggers the next."""
    asks = [order("sell", p, 1, user=9) for p in (101, 102, 103, 104)]
    first = order("buy", None, 1, user=1, type="stop_market", stop_price=101)
    second = order("buy", None, 1, user=2, type="stop_market", stop_price=102)
    third = order("buy", None, 1, user=3, type="stop_market", stop_price=103)
    engine = book_with(*asks, third, second, first, last_price=100)
    engine.submit(order("buy", 101, 1, user=4))  # last 101
    events = ids(engine.drain_events())
    triggers = [e[1] for e in events if e[0] == "trigger"]
    assert triggers == [first.id, second.id, third.id]
    assert [(e[1], e[3]) for e in events if e[0] == "fill"][1:] == [(first.id, 102), (second.id, 103), (third.id, 104)]


def test_stops_triggered_together_run_oldest_arm_first():
    asks = [order("sell", 101, 1, user=9), order("sell", 105, 5, user=9)]
    young = order("buy", None, 1, user=1, type="stop_market", stop_price=100)
    old = order("buy", None, 1, user=2, type="stop_market", stop_price=101)
    engine = Engine(last_price=99)
    engine.submit(old)
    engine.submit(young)
    for o in asks:
        engine.submit(o)
    engine.drain_events()
    engine.submit(order("buy", 101, 1, user=3))
    assert [e[1] for e in ids(engine.drain_events()) if e[0] == "trigger"] == [old.id, young.id]


def test_cancelled_stop_never_triggers():
    engine = book_with(order("sell", 101, 2, user=2), last_price=100)
    stop = order("buy", None, 1, user=1, type="stop_market", stop_price=101)
    engine.submit(stop)
    assert engine.cancel(stop.id) is True
    engine.submit(order("buy", 101, 1, user=3))
    events = ids(engine.drain_events())
    assert ("done", stop.id, "cancelled", "cancelled") in events and all(e[1] != stop.id for e in events[2:])


# -- cancel ---------------------------------------------------------------------------------------


def test_cancel_resting_order_updates_the_level_at_once():
    a, b = order("buy", 100, 2, user=1), order("buy", 100, 3, user=2)
    engine = book_with(a, b)
    assert engine.cancel(a.id) is True
    assert ids(engine.drain_events()) == [("done", a.id, "cancelled", "cancelled")]
    assert a.status == "cancelled" and engine.depth(5) == ([(100, 3)], []) and engine.get(a.id) is None


def test_cancelled_order_is_skipped_by_matching():
    a, b = order("buy", 100, 2, user=1), order("buy", 100, 3, user=2)
    engine = book_with(a, b)
    engine.cancel(a.id)
    engine.drain_events()
    taker = order("sell", 100, 5, user=3)
    engine.submit(taker)
    assert fills(engine) == [(taker.id, b.id, 100, 3)]


def test_cancel_of_unknown_order_returns_false():
    engine = Engine()
    assert engine.cancel(12345) is False and engine.drain_events() == []


def test_cancel_of_final_order_returns_false():
    maker = order("sell", 100, 1, user=1)
    engine = book_with(maker, order("buy", 100, 1, user=2))
    assert maker.status == "filled" and engine.cancel(maker.id) is False
    rested = order("buy", 90, 1)
    engine.submit(rested)
    assert engine.cancel(rested.id) is True and engine.cancel(rested.id) is False
    assert ids(engine.drain_events()) == [("rest", rested.id), ("done", rested.id, "cancelled", "cancelled")]


def test_cancelling_the_best_level_moves_the_best_price():
    best, next_ = order("sell", 100, 1, user=1), order("sell", 101, 1, user=1)
    engine = book_with(best, next_)
    engine.cancel(best.id)
    assert engine.best_ask() == 101


def test_many_cancels_at_one_level_keep_totals_and_order():
    engine = Engine()
    orders = [order("buy", 100, 1, user=i) for i in range(200)]
    for o in orders:
        engine.submit(o)
    for o in orders[:150]:
        engine.cancel(o.id)
    assert engine.depth(1) == ([(100, 50)], [])
    assert len(engine._bids[100]) < 120  # the queue was compacted, not left holding 150 cancelled orders
    taker = order("sell", 100, 3, user=999)
    engine.submit(taker)
    assert [maker for _, maker, _, _ in fills(engine)] == [o.id for o in orders[150:153]]


def test_level_churn_behind_the_best_prices_keeps_the_price_order():
    """Levels emptied behind the best leave stale keys in the price heaps, rebuilt once they pile up."""
    engine = book_with(order("buy", 500, 1, user=1), order("sell", 600, 1, user=1))
    for price in range(10, 400):
        for side, p in (("buy", price), ("sell", 1100 - price)):
            churn = order(side, p, 1, user=1)
            engine.submit(churn)
            engine.cancel(churn.id)
    engine.submit(order("buy", 7, 1, user=1))
    engine.submit(order("sell", 1200, 1, user=1))
    assert engine.depth(5) == ([(500, 1), (7, 1)], [(600, 1), (1200, 1)])
    assert len(engine._bid_heap) < 100 and len(engine._ask_heap) < 100  # the stale keys did not pile up
    engine.drain_events()
    seller, buyer = order("sell", 1, 2, user=2), order("buy", 2000, 2, user=2)
    engine.submit(seller)
    engine.submit(buyer)
    assert [(taker, price) for taker, _, price, _ in fills(engine)] == [
        (seller.id, 500),
        (seller.id, 7),
        (buyer.id, 600),
        (buyer.id, 1200),
    ]


# -- restore --------------------------------------------------------------------------------------


def test_restore_emits_nothing_and_does_not_match():
    engine = Engine(last_price=100)
    bid = order("buy", 99, 5, user=1, priority=7, filled=2)
    stop = order("sell", None, 1, user=2, type="stop_market", stop_price=90, priority=8)
    engine.restore(bid)
    engine.restore(stop)
    assert engine.drain_events() == []
    assert engine.depth(5) == ([(99, 3)], []) and engine.get(stop.id) is stop
    assert list(engine.open_orders()) == [bid, stop]


def test_restore_then_continue_priorities():
    engine = Engine()
    old_a = order("sell", 100, 1, user=1, priority=10)
    old_b = order("sell", 100, 1, user=2, priority=12)
    engine.restore(old_a)
    engine.restore(old_b)
    new = order("sell", 100, 1, user=3)
    engine.submit(new)
    assert new.priority == 13
    taker = order("buy", 100, 3, user=4)
    engine.submit(taker)
    assert [maker for _, maker, _, _ in fills(engine)] == [old_a.id, old_b.id, new.id]


def test_restore_of_a_triggered_stop_limit_rests_it():
    engine = Engine(last_price=100)
    resting = order("buy", 95, 2, user=1, type="stop_limit", stop_price=100, priority=4, triggered=True)
    engine.restore(resting)
    assert engine.best_bid() == 95 and engine.drain_events() == []


def test_restore_refuses_what_would_cross_or_repeat():
    engine = Engine()
    engine.restore(order("sell", 100, 1, user=1, priority=1))
    with pytest.raises(ValueError, match="cross"):
        engine.restore(order("buy", 100, 1, user=2, priority=2))
    bid = order("buy", 99, 1, user=2, priority=3)
    engine.restore(bid)
    with pytest.raises(ValueError):
        engine.restore(bid)


# -- queries and bookkeeping ----------------------------------------------------------------------


def test_changed_levels():
    engine = Engine()
    a, b = order("buy", 100, 2, user=1), order("sell", 105, 4, user=2)
    engine.submit(a)
    engine.submit(b)
    assert engine.changed_levels() == {("buy", 100): 2, ("sell", 105): 4}
    assert engine.changed_levels() == {}
    engine.submit(order("sell", 100, 2, user=3))  # takes the whole bid level
    assert engine.changed_levels() == {("buy", 100): 0}
    c = order("buy", 101, 1, user=1)
    engine.submit(c)
    engine.cancel(c.id)  # appeared and went between two calls: no net change
    assert engine.changed_levels() == {}


def test_depth_lists_best_levels_first():
    engine = book_with(*(order("buy", p, 1, user=1) for p in (98, 100, 99)), order("sell", 103, 2, user=2))
    assert engine.depth(2) == ([(100, 1), (99, 1)], [(103, 2)])


def test_drain_events_returns_and_resets():
    engine = Engine()
    engine.submit(order("buy", 100, 1))
    assert len(engine.drain_events()) == 1 and engine.drain_events() == [] and engine.events == []


def test_submitting_an_open_order_again_raises():
    engine = Engine()
    bid = order("buy", 100, 1)
    engine.submit(bid)
    with pytest.raises(ValueError):
        engine.submit(bid)
    with pytest.raises(ValueError):
        engine.submit(EngineOrder(id=bid.id, user_id=2, side="sell", type="limit", price=200, quantity=1))


@pytest.mark.parametrize(
    "fields",
    [
        {"side": "bid", "type": "limit", "price": 1, "quantity": 1},
        {"side": "buy", "type": "limit", "quantity": 1},
        {"side": "buy", "type": "limit", "price": 0, "quantity": 1},
        {"side": "buy", "type": "limit", "price": 1, "quantity": 0},
        {"side": "buy", "type": "market", "price": 1, "quantity": 1},
        {"side": "buy", "type": "market"},
        {"side": "sell", "type": "market", "funds": 100},
        {"side": "buy", "type": "limit", "price": 1, "quantity": 1, "funds": 100},
        {"side": "buy", "type": "stop_limit", "price": 1, "quantity": 1},
        {"side": "buy", "type": "limit", "price": 1, "quantity": 1, "stop_price": 1},
        {"side": "buy", "type": "market", "quantity": 1, "post_only": True},
        {"side": "buy", "type": "limit", "price": 1, "quantity": 1, "tif": "day"},
        {"side": "buy", "type": "limit", "price": 1, "quantity": 1, "stp": "none"},
        {"side": "buy", "type": "limit", "price": 1.5, "quantity": 1},
    ],
)
def test_invalid_orders_are_refused_on_construction(fields):
    with pytest.raises(ValueError):
        EngineOrder(id=1, user_id=1, **fields)


def test_done_is_emitted_once_and_a_done_order_never_reappears():
    maker = order("sell", 100, 1, user=1)
    engine = book_with(maker)
    engine.submit(order("buy", 100, 1, user=2))
    engine.cancel(maker.id)
    engine.submit(order("buy", 100, 1, user=3))
    done = [e for e in ids(engine.drain_events()) if e[0] == "done" and e[1] == maker.id]
    assert done == [("done", maker.id, "filled", "")]


def test_spent_and_filled_track_every_fill():
    makers = [order("sell", 100 + i, 2, user=1) for i in range(3)]
    engine = book_with(*makers)
    taker = order("buy", 102, 5, user=2)
    engine.submit(taker)
    assert (taker.filled, taker.spent) == (5, 2 * 100 + 2 * 101 + 102)
    assert [(m.filled, m.spent) for m in makers] == [(2, 200), (2, 202), (1, 102)]


# -- market-order collar ----------------------------------------------------------------------------


def collared(*orders, ppm):
    engine = book_with(*orders)
    engine.collar_ppm = ppm
    return engine


def test_market_buy_stops_at_the_collar_and_its_remainder_expires():
    asks = [order("sell", price, 2, user=2) for price in (100, 104, 105, 106)]
    engine = collared(*asks, ppm=50_000)  # 5 %: a buy may pay up to floor(100 x 1.05) = 105
    taker = order("buy", quantity=10, user=9)
    engine.submit(taker)
    events = ids(engine.drain_events())
    assert [e[3] for e in events if e[0] == "fill"] == [100, 104, 105]
    assert events[-1] == ("done", taker.id, "expired", "collar")
    assert taker.filled == 6 and engine.best_ask() == 106


def test_market_sell_collar_rounds_towards_the_best_price():
    bids = [order("buy", price, 1, user=2) for price in (100, 91, 90)]
    engine = collared(*bids, ppm=90_000)  # ceil(100 x 0.91) = 91
    taker = order("sell", quantity=5, user=9)
    engine.submit(taker)
    assert [f[2] for f in fills_of(engine, taker)] == [100, 91]
    assert taker.status == "expired" and engine.best_bid() == 90


def fills_of(engine, taker):
    return [e[1:] for e in ids(engine.events) if e[0] == "fill" and e[1] == taker.id]


def test_collar_is_measured_from_the_best_price_when_matching_starts_not_from_the_last_trade():
    engine = collared(order("sell", 200, 1, user=2), order("sell", 210, 1, user=2), order("sell", 211, 1, user=2),
                      ppm=50_000)  # fmt: skip
    engine.last_price = 100  # far below the book: irrelevant, the best ask (200) is the reference
    taker = order("buy", quantity=3, user=9)
    engine.submit(taker)
    assert [f[2] for f in fills_of(engine, taker)] == [200, 210]  # floor(200 x 1.05) = 210
    assert taker.status == "expired" and engine.best_ask() == 211


def test_a_book_entirely_within_the_collar_ends_as_ioc_remainder_not_collar():
    engine = collared(order("sell", 100, 1, user=2), ppm=50_000)
    taker = order("buy", quantity=3, user=9)
    engine.submit(taker)
    assert ids(engine.drain_events())[-1] == ("done", taker.id, "expired", "ioc_remainder")


def test_funds_only_buy_stops_at_the_collar():
    cheap, dear = order("sell", 100, 1, user=2), order("sell", 120, 5, user=2)
    engine = collared(cheap, dear, ppm=100_000)
    taker = order("buy", funds=10_000, user=9)
    engine.submit(taker)
    assert ids(engine.drain_events()) == [("fill", taker.id, cheap.id, 100, 1), ("done", cheap.id, "filled", ""),
                                          ("done", taker.id, "expired", "collar")]  # fmt: skip


def test_fok_market_counts_only_what_lies_within_the_collar():
    engine = collared(order("sell", 100, 1, user=2), order("sell", 120, 5, user=2), ppm=100_000)
    taker = order("buy", quantity=2, user=9, tif="fok")
    engine.submit(taker)
    assert ids(engine.drain_events()) == [("done", taker.id, "rejected", "fok_not_fillable")]
    assert engine.depth() == ([], [(100, 1), (120, 5)])


def test_a_triggered_stop_market_is_collared_from_the_book_when_it_triggers():
    engine = collared(order("sell", 100, 1, user=2), order("sell", 101, 1, user=2), order("sell", 130, 5, user=2),
                      ppm=100_000)  # fmt: skip
    stop = order("buy", quantity=5, user=9, type="stop_market", stop_price=100)
    engine.submit(stop)  # armed: no trade yet
    engine.submit(order("buy", 100, 1, user=3))  # trades at 100: the stop triggers against 101 and 130
    events = ids(engine.drain_events())
    assert ("trigger", stop.id) in events
    assert [e[3] for e in events if e[0] == "fill" and e[1] == stop.id] == [101]
    assert events[-1] == ("done", stop.id, "expired", "collar")


def test_limit_orders_ignore_the_collar():
    engine = collared(order("sell", 100, 1, user=2), order("sell", 150, 1, user=2), ppm=10_000)
    taker = order("buy", 150, 2, user=9)
    engine.submit(taker)
    assert [f[2] for f in fills_of(engine, taker)] == [100, 150]


def test_a_buy_by_funds_that_spends_them_exactly_at_the_collar_is_filled_not_collared():
    cheap, dear = order("sell", 100, 1, user=2), order("sell", 120, 5, user=2)
    engine = collared(cheap, dear, ppm=100_000)
    taker = order("buy", funds=100, user=9)  # exactly one lot at 100: nothing left for 120 anyway
    engine.submit(taker)
    assert ids(engine.drain_events())[-1] == ("done", taker.id, "filled", "")
    fok = order("buy", funds=120, user=9, tif="fok")  # the same as fill-or-kill: it fills
    engine = collared(order("sell", 100, 1, user=2), order("sell", 120, 5, user=2), ppm=100_000)
    engine.submit(fok)
    assert ids(engine.drain_events())[-1] == ("done", fok.id, "filled", "")
