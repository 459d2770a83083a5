"""The matcher's gate: halts, resumes and the price circuit breaker, decided from command times only.
Pure Python: no database is touched."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.matching.gate import CIRCUIT_BREAKER, BreakerConfig, Gate


@pytest.fixture(scope="session")
def _tests_never_touch_the_development_database():
    """Overrides the suite-wide check (these tests use no database)."""


def gate(move="0.10", window=60, cooldown=300):
    ppm = int(float(move) * 1_000_000)
    return Gate(config=BreakerConfig(move_ppm=ppm, window_ms=window * 1000,
                                     cooldown_ms=None if cooldown is None else cooldown * 1000))  # fmt: skip


def test_a_rise_beyond_the_move_within_the_window_trips_after_the_command():
    g = gate()
    g.trades(1_000, [1000, 1050])
    assert g.admits(2_000)
    g.trades(30_000, [1100])  # exactly 10 % above the low: not more than the move
    assert g.admits(30_001) and not g.reason
    g.trades(40_000, [1101])  # 10.1 % above 1000
    assert (g.reason, g.until_ms) == (CIRCUIT_BREAKER, 340_000)
    assert g.drain_changes() == [("halted", CIRCUIT_BREAKER, 340_000, 40_000, "breaker")]
    assert not g.admits(339_999)


def test_a_fall_beyond_the_move_trips_too():
    g = gate(move="0.05")
    g.trades(0, [2000])
    g.trades(59_000, [1899])  # 5.05 % below the high
    assert g.reason == CIRCUIT_BREAKER


def test_prices_older_than_the_window_no_longer_count():
    g = gate(window=10)
    g.trades(0, [1000])
    g.trades(11_000, [1200])  # the 1000 left the window (its second, 0, is at or before 11 - 10 = 1)
    assert not g.reason
    g.trades(12_000, [1321])  # 10.08 % above 1200, which is in the window
    assert g.reason == CIRCUIT_BREAKER


def test_the_cool_down_ends_at_the_first_command_at_or_after_its_end():
    g = gate(cooldown=5)
    g.trades(0, [100])
    g.trades(1_000, [200])
    assert g.until_ms == 6_000
    g.drain_changes()
    assert not g.admits(5_999)
    assert g.admits(6_000) and not g.reason
    assert g.drain_changes() == [("trading", "", None, 6_000, "cooldown")]
    g.trades(6_000, [100])  # a fresh window: the pre-halt prices are forgotten
    assert not g.reason


def test_without_a_cool_down_only_a_staff_resume_ends_the_halt():
    g = gate(cooldown=None)
    g.trades(0, [100])
    g.trades(1, [120])
    assert g.until_ms is None and not g.admits(10**12)
    g.resume(10**12, cooldown=True)  # the matcher's own cool-down resume does not apply
    assert g.reason == CIRCUIT_BREAKER
    g.resume(10**12)
    assert not g.reason and g.admits(10**12)


def test_a_staff_halt_outlasts_the_breakers_cool_down():
    g = gate(cooldown=1)
    g.trades(0, [100])
    g.trades(0, [150])
    g.halt("halted by staff", 500)
    assert not g.admits(10_000)
    g.resume(10_000, cooldown=True)
    assert g.reason == "halted by staff"
    changes = g.drain_changes()
    assert changes[-1] == ("halted", "halted by staff", None, 500, "staff")


def test_no_breaker_configured_never_trips():
    g = Gate()
    g.trades(0, [1])
    g.trades(1, [10**9])
    assert g.admits(2) and not g.drain_changes()


def test_state_survives_dump_and_load():
    g = gate()
    g.trades(0, [1000, 1010])
    g.trades(2_500, [990])
    again = Gate.load(g.dump(), g.config)
    assert again.dump() == g.dump()
    again.trades(3_000, [1090])  # 10.1 % above the low of 990
    assert again.reason == CIRCUIT_BREAKER


def reference_trips(history: list, now: int, prices: list[int]) -> bool:
    """The rule, written plainly: a price more than 10 % above the lowest or below the highest price
    traded in the window (5 s, whole seconds) trips; the prices before it in the command count."""
    for price in prices:
        window = [p for t, p in history if t // 1000 > (now - 5_000) // 1000]
        if window and (price * 100 > min(window) * 110 or price * 100 < max(window) * 90):
            return True
        history.append((now, price))
    return False


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5_000), st.lists(st.integers(90, 115), max_size=5)), max_size=60))
def test_same_commands_same_decisions_the_rule_and_a_small_window(steps):
    """Determinism (a replay decides the same), the rule as written in the reference, and bounded
    state: at most one bucket per second of the window."""
    first, second = gate(window=5, cooldown=2), gate(window=5, cooldown=2)
    now, history = 0, []  # (time, price) traded since the last resume
    for delta, prices in steps:
        now += delta
        admitted = [g.admits(now) for g in (first, second)]
        assert admitted[0] == admitted[1]
        if first.drain_changes():  # resumed: a fresh window
            history = []
        second.drain_changes()
        if not admitted[0]:
            continue
        for g in (first, second):
            g.trades(now, prices)
        assert first.dump() == second.dump()
        assert len(first.buckets) <= 6
        tripped = bool(first.drain_changes())
        second.drain_changes()
        assert tripped == reference_trips(history, now, prices)
        if tripped:
            history = []
