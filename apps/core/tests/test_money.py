"""apps.core.money: units, precision checks and exact tick/lot conversion (hypothesis)."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.core import money


@pytest.fixture(scope="session", autouse=True)
def _tests_never_touch_the_development_database():
    """Pure arithmetic: no database."""


STEPS = st.sampled_from([Decimal("0.01"), Decimal("0.0001"), Decimal("0.00000001"), Decimal("0.5"), Decimal(1),
                         Decimal(5), Decimal("0.000001")])  # fmt: skip


def test_unit_is_ten_to_the_minus_places():
    assert [money.unit(d) for d in (0, 2, 8, 18)] == [Decimal(1), Decimal("0.01"), Decimal("1E-8"), Decimal("1E-18")]
    assert money.unit(40) == Decimal("1E-40")


@given(steps=st.integers(-(10**15), 10**15), step=STEPS)
def test_a_multiple_of_the_step_converts_exactly_both_ways(steps, step):
    assert money.to_steps(step * steps, step) == steps


@given(steps=st.integers(0, 10**12), step=STEPS, fraction=st.integers(1, 9))
def test_a_value_off_the_grid_is_refused_not_truncated(steps, step, fraction):
    value = step * steps + step * fraction / 10
    with pytest.raises(money.OffGrid):
        money.to_steps(value, step)
    assert money.whole_steps(value, step) == steps  # rounding down is asked for by name


@given(value=st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**18), max_value=10**18, places=12),
       decimals=st.integers(0, 12))  # fmt: skip
def test_fits_says_whether_quantizing_would_change_the_amount(value, decimals):
    assert money.fits(value, decimals) == (value == value.quantize(money.unit(decimals)))


def test_fits_ignores_trailing_zeros_and_refuses_absurd_amounts_without_raising():
    assert money.fits(Decimal("1.50000000000"), 1)
    assert not money.fits(Decimal("1.05"), 1)
    assert not money.fits(Decimal("1" + "0" * 100 + ".000000001"), 8)  # quantizing it would need 110 digits
