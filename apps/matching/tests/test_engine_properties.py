"""Property tests: random command streams against the engine and against a reference model.

The model below is written for obviousness, not speed: the resting orders are one list, sorted into
priority order whenever a taker needs them, and a FOK is decided by running the order on a deep copy
of the model. The engine must produce exactly the model's events, and a set of invariants must hold
after every command whatever the model says.
"""

import copy
from collections import Counter
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.matching.engine import Engine, EngineOrder


@pytest.fixture(scope="session")
def _tests_never_touch_the_development_database():
    """Overrides the suite-wide check, which needs a test database: pytest-django creates one only
    when a selected test uses it, and these tests use none (run alone, the check would fail)."""


INF = float("inf")


class Model:
    def __init__(self, last_price):
        self.last_price = last_price
        self.resting = []  # orders in the book, any order
        self.armed = []  # stops waiting for their trigger
        self.seq = 0
        self.events = []

    # commands

    def submit(self, fields):
        defaults = {
            "price": None,
            "quantity": None,
            "funds": None,
            "stop_price": None,
            "post_only": False,
            "tif": "gtc",
        }
        o = SimpleNamespace(**{**defaults, **fields})
        o.filled = o.spent = 0
        if o.type.startswith("stop_"):
            if self._reached(o):
                self.events.append(("trigger", o.id))
                self._execute(o)
            else:
                self.seq += 1
                o.priority = self.seq
                self.armed.append(o)
                self.events.append(("arm", o.id))
        else:
            self._execute(o)
        while self.last_price is not None:  # stops: all that hold now, oldest arm first; repeat
            batch = sorted((s for s in self.armed if self._reached(s)), key=lambda s: s.priority)
            if not batch:
                break
            for s in batch:
                self.armed.remove(s)
            for s in batch:
                self.events.append(("trigger", s.id))
                self._execute(s)

    def cancel(self, order_id):
        for pool in (self.resting, self.armed):
            for o in pool:
                if o.id == order_id:
                    pool.remove(o)
                    self.events.append(("done", o.id, "cancelled", "cancelled"))
                    return True
        return False

    # internals

    def _reached(self, stop):
        if self.last_price is None:
            return False
        if stop.side == "buy":
            return self.last_price >= stop.stop_price
        return self.last_price <= stop.stop_price

    def _opposite(self, o):
        """Resting orders o could meet, in the order it would meet them."""
        limit = o.price if o.type in ("limit", "stop_limit") else None
        if o.side == "buy":
            reach = [r for r in self.resting if r.side == "sell" and (limit is None or r.price <= limit)]
            return sorted(reach, key=lambda r: (r.price, r.priority))
        reach = [r for r in self.resting if r.side == "buy" and (limit is None or r.price >= limit)]
        return sorted(reach, key=lambda r: (-r.price, r.priority))

    def _execute(self, o):
        is_limit = o.type in ("limit", "stop_limit")
        if is_limit and o.post_only and self._opposite(o):
            return self._done(o, "rejected", "post_only_would_cross")
        if o.tif == "fok":
            trial, twin = copy.deepcopy((self, o))
            trial.events = []
            if trial._match(twin) != "filled":
                return self._done(o, "rejected", "fok_not_fillable")
        outcome = self._match(o)
        if outcome == "self_trade":
            self._done(o, "expired", "self_trade")
        elif outcome == "filled":
            self._done(o, "filled", "")
        elif is_limit and o.tif == "gtc":
            self.seq += 1
            o.priority = self.seq
            self.resting.append(o)
            self.events.append(("rest", o.id))
        elif o.filled or is_limit:  # an IOC limit's remainder, also the whole order (docs/api.md)
            self._done(o, "expired", "ioc_remainder")
        else:  # a market order that filled nothing
            self._done(o, "rejected", "no_liquidity")

    def _match(self, o):
        """Fill o against the book; returns "filled", "self_trade" or "" (stopped short)."""
        while self._opposite(o):
            r = self._opposite(o)[0]  # the order it meets next
            want = INF if o.quantity is None else o.quantity - o.filled
            if want == 0:
                break
            afford = INF if o.funds is None else (o.funds - o.spent) // r.price
            if afford == 0:  # the budget cannot buy a lot at the next price
                return "filled" if o.quantity is None and o.filled else ""
            if r.user_id == o.user_id:
                if o.stp == "cancel_taker":
                    return "self_trade"
                self.resting.remove(r)
                self._done(r, "expired", "self_trade")
                continue
            lots = min(want, afford, r.quantity - r.filled)
            for x in (o, r):
                x.filled += lots
                x.spent += lots * r.price
            self.last_price = r.price
            self.events.append(("fill", o.id, r.id, r.price, lots))
            if r.filled == r.quantity:
                self.resting.remove(r)
                self._done(r, "filled", "")
        return "filled" if o.quantity is not None and o.filled == o.quantity else ""

    def _done(self, o, status, reason):
        self.events.append(("done", o.id, status, reason))


# -- command streams ---------------------------------------------------------------------------------

USERS = st.integers(1, 3)  # few users, so that self-trades happen
PRICES = st.integers(97, 103)  # clustered, so that orders meet
LOTS = st.integers(1, 8)
TIF = st.sampled_from(["gtc", "gtc", "gtc", "ioc", "fok"])
STP = st.sampled_from(["cancel_resting", "cancel_resting", "cancel_taker"])

limits = st.fixed_dictionaries(
    {
        "type": st.just("limit"),
        "price": PRICES,
        "quantity": LOTS,
        "tif": TIF,
        "post_only": st.sampled_from([False, False, False, True]),
    }
)
markets = st.one_of(
    st.fixed_dictionaries({"type": st.just("market"), "quantity": LOTS, "tif": TIF}),
    st.fixed_dictionaries(  # a buy by funds, capped by a quantity too or not
        {
            "type": st.just("market"),
            "side": st.just("buy"),
            "quantity": st.none() | LOTS,
            "funds": st.integers(90, 1_000),
            "tif": TIF,
        }
    ),
)
stops = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("stop_limit"), "price": PRICES, "stop_price": PRICES, "quantity": LOTS, "tif": TIF}
    ),
    st.fixed_dictionaries({"type": st.just("stop_market"), "stop_price": PRICES, "quantity": LOTS, "tif": TIF}),
)
submits = st.tuples(
    st.just("submit"),
    st.one_of(limits, limits, limits, limits, markets, markets, stops),
    st.fixed_dictionaries({"side": st.sampled_from(["buy", "sell"]), "user_id": USERS, "stp": STP}),
)
cancels = st.tuples(st.just("cancel"), st.integers(0, 80))
streams = st.tuples(
    st.none() | PRICES, st.lists(st.one_of(submits, submits, submits, cancels), min_size=30, max_size=100)
)


def commands_of(stream):
    """(kind, argument, fields): cancels name an id (open, final or never used), submits carry a fresh
    EngineOrder and the fields it was made of."""
    commands = []
    for n, (kind, *args) in enumerate(stream, start=1):
        if kind == "cancel":
            commands.append(("cancel", args[0] + 1, None))
        else:
            fields = {"id": n, **args[1], **args[0]}
            commands.append(("submit", EngineOrder(**fields), fields))
    return commands


def rendered(events):
    return [tuple(x.id if isinstance(x, EngineOrder) else x for x in event) for event in events]


def run_engine(last_price, stream):
    engine, log = Engine(last_price=last_price), []
    for kind, arg, _ in commands_of(stream):
        getattr(engine, kind)(arg)
        log.append(rendered(engine.drain_events()))
    return log


PROPERTIES = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTIES
@given(streams)
def test_events_equal_the_reference_models_and_repeat_exactly(case):
    last_price, stream = case
    engine, model = Engine(last_price=last_price), Model(last_price)
    log = []
    for kind, arg, fields in commands_of(stream):
        if kind == "cancel":
            assert engine.cancel(arg) == model.cancel(arg)
        else:
            engine.submit(arg)
            model.submit(fields)
        log.append(rendered(engine.drain_events()))
        assert log[-1] == model.events
        model.events = []
        assert engine.last_price == model.last_price
    assert run_engine(last_price, stream) == log  # same commands in, same events out


@PROPERTIES
@given(streams)
def test_invariants_hold_after_every_command(case):
    last_price, stream = case
    engine = Engine(last_price=last_price)
    orders, done, fill_lots, shown = {}, set(), Counter(), {}
    for kind, arg, _ in commands_of(stream):
        if kind == "cancel":
            engine.cancel(arg)
        else:
            orders[arg.id] = arg
            engine.submit(arg)
        last_maker = {}  # (taker, price) -> priority of the last maker it met there
        for event in engine.drain_events():
            assert all(o.id not in done for o in event if isinstance(o, EngineOrder)), "event after done"
            if event[0] == "fill":
                _, taker, maker, price, lots = event
                assert taker.user_id != maker.user_id, "self-trade"
                assert lots >= 1 and price == maker.price
                if taker.price is not None:  # within the taker's limit
                    assert price <= taker.price if taker.side == "buy" else price >= taker.price
                assert last_maker.get((taker.id, price), 0) < maker.priority, "FIFO within the level"
                last_maker[taker.id, price] = maker.priority
                fill_lots[taker.id] += lots
                fill_lots[maker.id] += lots
            elif event[0] == "done":
                done.add(event[1].id)
        # Never crossed at rest.
        bid, ask = engine.best_bid(), engine.best_ask()
        assert bid is None or ask is None or bid < ask
        # Level totals are the sums of the resting orders' remaining lots.
        resting = Counter()
        for o in engine.open_orders():
            if o.type == "limit" or (o.type == "stop_limit" and o.triggered):
                resting[o.side, o.price] += o.remaining
        bids, asks = engine.depth(10**6)
        assert {("buy", p): t for p, t in bids} | {("sell", p): t for p, t in asks} == resting
        assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
        assert [p for p, _ in asks] == sorted(p for p, _ in asks)
        # changed_levels() keeps a mirror of the book exact.
        for key, total in engine.changed_levels().items():
            if total:
                shown[key] = total
            else:
                del shown[key]
        assert shown == resting
        # Every order: filled by its fills, within its quantity and funds; the open orders are exactly
        # those not done.
        for o in orders.values():
            assert o.filled == fill_lots[o.id]
            assert o.quantity is None or o.filled <= o.quantity
            assert o.funds is None or o.spent <= o.funds
            assert (o.id in done) == (o.status != "new") == (engine.get(o.id) is None)


@PROPERTIES
@given(streams, st.integers(1, 60_000))
def test_a_market_order_never_trades_beyond_its_collar(case, ppm):
    last_price, stream = case
    engine = Engine(last_price=last_price, collar_ppm=ppm)
    for kind, arg, _ in commands_of(stream):
        if kind == "cancel":
            engine.cancel(arg)
            engine.drain_events()
            continue
        buy = arg.side == "buy"
        best = engine.best_ask() if buy else engine.best_bid()
        engine.submit(arg)
        events = engine.drain_events()
        if arg.type != "market" or best is None:
            continue
        prices = [e[3] for e in events if e[0] == "fill" and e[1] is arg]
        if buy:
            assert all(p * 1_000_000 <= best * (1_000_000 + ppm) for p in prices)
        else:
            assert all(p * 1_000_000 >= best * (1_000_000 - ppm) for p in prices)
        done = [e for e in events if e[0] == "done" and e[1] is arg]
        triggered = any(e[0] == "trigger" for e in events)  # stops it triggered may have changed the book since
        if done[0][3] == "collar" and not triggered:  # stopped at the collar: what is left lies beyond it
            beyond = engine.best_ask() if buy else engine.best_bid()
            assert beyond is not None and (beyond * 1_000_000 > best * (1_000_000 + ppm) if buy
                                           else beyond * 1_000_000 < best * (1_000_000 - ppm))  # fmt: skip


@PROPERTIES
@given(streams)
def test_final_statuses_follow_the_api_status_table(case):
    """docs/api.md "Orders": `rejected` only for a post-only that would cross, a FOK that cannot fill and a market
    order that finds no liquidity; an IOC's remainder, the whole order included, is `expired`."""
    last_price, stream = case
    engine = Engine(last_price=last_price)
    for kind, arg, _ in commands_of(stream):
        getattr(engine, kind)(arg)
        for event in engine.drain_events():
            if event[0] != "done":
                continue
            _, o, status, reason = event
            limit = o.type in ("limit", "stop_limit")
            if status == "rejected":
                assert (reason, True) in {("post_only_would_cross", limit and o.post_only),
                                          ("fok_not_fillable", o.tif == "fok"),
                                          ("no_liquidity", not limit and o.filled == 0)}, (o, reason)  # fmt: skip
            if limit and o.tif == "ioc" and not o.post_only:
                assert status in ("filled", "expired", "cancelled"), (o, status, reason)
