"""Properties of the weighted-average-cost arithmetic (no database: positions in memory)."""

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.portfolio.models import Position
from apps.portfolio.services import _acquire, _dispose

amounts = st.integers(min_value=1, max_value=10**8).map(lambda n: D(n).scaleb(-4))  # 0.0001 .. 10,000
prices = st.integers(min_value=1, max_value=10**7).map(lambda n: D(n).scaleb(-2))  # 0.01 .. 100,000


@pytest.fixture(scope="session", autouse=True)
def _tests_never_touch_the_development_database():
    """No database here: these tests also run alone, without one."""


events = st.lists(st.tuples(st.sampled_from(["buy", "sell", "withdraw"]), amounts, prices), min_size=1, max_size=60)


@settings(max_examples=300, deadline=None)
@given(events, prices)
def test_pnl_accounts_for_every_unit_of_value(flow, final_price):
    """Whatever the order of buys, sales and withdrawals: what was realized, plus what is unrealized
    at any price, equals the value still held plus all proceeds minus all that was paid, minus the
    cost that left with withdrawals. Nothing is created or lost beyond rounding at 18 places."""
    position = Position(quantity=D(0), cost=D(0), realized_pnl=D(0))
    paid = proceeds = withdrawn_cost = D(0)
    steps = 0
    for kind, quantity, price in flow:
        if kind == "buy":
            _acquire(position, quantity, quantity * price)
            paid += quantity * price
        else:
            quantity = min(quantity, position.quantity)
            if not quantity:
                continue
            before = position.cost
            if kind == "sell":
                _dispose(position, quantity, quantity * price, realize=True)
                proceeds += quantity * price
            else:
                _dispose(position, quantity, None, realize=False)
                withdrawn_cost += before - position.cost
        steps += 1
        assert position.quantity >= 0 and position.cost >= 0
        if position.quantity == 0:
            assert position.cost == 0
    value = position.quantity * final_price
    unrealized = value - position.cost
    expected = value + proceeds - paid + withdrawn_cost
    assert abs(position.realized_pnl + unrealized - expected) <= D(steps) * D("1e-18") * 2


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(amounts, prices), min_size=1, max_size=30), st.data())
def test_average_cost_is_unchanged_by_sales_and_withdrawals(buys, data):
    position = Position(quantity=D(0), cost=D(0), realized_pnl=D(0))
    for quantity, price in buys:
        _acquire(position, quantity, quantity * price)
    average = position.cost / position.quantity
    assert min(p for _q, p in buys) <= average <= max(p for _q, p in buys)
    part = data.draw(st.integers(min_value=1, max_value=99))
    _dispose(position, (position.quantity * part / 100).quantize(D("1e-8")), D(1), realize=data.draw(st.booleans()))
    if position.quantity:
        assert abs(position.cost / position.quantity - average) < D("1e-12")
