"""Candles, the 24-hour ticker and recent trades: kept by settlement in the trades' transaction and
served by the market data endpoints. Trades go through the real matcher with a fixed clock."""

import importlib
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.db import connection

from apps.markets import selectors
from apps.markets.models import Candle
from apps.matching import worker
from apps.matching.testing import drain, matcher, run_once
from apps.trades import selectors as trade_selectors
from apps.trades.models import Trade
from tests.factories import assert_ledger_consistent, funded_trader, place

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_test_transaction")]

T0 = datetime(2026, 11, 26, 10, 3, 30, tzinfo=UTC)
BACKFILL_SQL = importlib.import_module("apps.markets.migrations.0002_candles").BACKFILL_SQL


class Clock:
    def __init__(self, now: datetime):
        self.current = now

    def now(self) -> datetime:
        return self.current

    def set(self, now: datetime) -> None:
        self.current = now


@pytest.fixture
def clock(monkeypatch):
    """Fixes the time the matcher stamps on trades and the time the selectors call now."""
    clock = Clock(T0)
    monkeypatch.setattr(worker, "timezone", SimpleNamespace(now=clock.now))
    monkeypatch.setattr(selectors, "timezone", SimpleNamespace(now=clock.now))
    return clock


@pytest.fixture
def seller(market):
    return funded_trader(btc="10")


@pytest.fixture
def buyer(market):
    return funded_trader(usdt="100000")


def cross(seller, buyer, *fills, taker="buy"):
    """Trades at each (price, quantity), in this order, in one matcher run: the makers rest first."""
    maker_side = "sell" if taker == "buy" else "buy"
    maker, taker_user = (seller, buyer) if taker == "buy" else (buyer, seller)
    for price, quantity in fills:
        place(maker, side=maker_side, type="limit", price=price, quantity=quantity)
    run_once()
    for price, quantity in fills:
        place(taker_user, side=taker, type="limit", price=price, quantity=quantity)
    run_once()


def rows(interval: str) -> list[tuple]:
    def plain(value):
        return format(value.normalize(), "f")

    return [
        (c.open_time, plain(c.open), plain(c.high), plain(c.low), plain(c.close), plain(c.volume),
         plain(c.quote_volume), c.trades)
        for c in Candle.objects.filter(interval=interval).order_by("open_time")
    ]  # fmt: skip


def all_candles() -> set[tuple]:
    return set(Candle.objects.values_list("market_id", "interval", "open_time", "open", "high", "low", "close",
                                          "volume", "quote_volume", "trades"))  # fmt: skip


def assert_backfill_rebuilds_the_same_candles() -> None:
    """The migration's backfill from trades gives exactly what settlement kept incrementally."""
    kept = all_candles()
    Candle.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(BACKFILL_SQL)
    assert all_candles() == kept


def at(hour, minute, second=0, day=26):
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


def test_candles_of_every_interval_from_several_batches(market, seller, buyer, clock):
    # 10:03:30 one taker buy sweeps 100 then 101.
    place(seller, side="sell", type="limit", price="100.00", quantity="0.1")
    place(seller, side="sell", type="limit", price="101.00", quantity="0.2")
    run_once()
    place(buyer, side="buy", type="limit", price="101.00", quantity="0.3")
    run_once()
    assert rows("1m") == [(at(10, 3), "100", "101", "100", "101", "0.3", "30.2", 2)]
    # 10:03:50, the same minute: a lower trade updates low and close, open stays.
    clock.set(at(10, 3, 50))
    cross(seller, buyer, ("99.00", "0.05"), taker="sell")
    assert rows("1m") == [(at(10, 3), "100", "101", "99", "99", "0.35", "35.15", 3)]
    # 10:04:10: a new minute; the 5-minute, hour and day candles keep growing.
    clock.set(at(10, 4, 10))
    cross(seller, buyer, ("102.00", "0.1"))
    assert rows("1m") == [
        (at(10, 3), "100", "101", "99", "99", "0.35", "35.15", 3),
        (at(10, 4), "102", "102", "102", "102", "0.1", "10.2", 1),
    ]
    for interval, open_time in (("5m", at(10, 0)), ("1h", at(10, 0)), ("1d", at(0, 0))):
        assert rows(interval) == [(open_time, "100", "102", "99", "102", "0.45", "45.35", 4)], interval

    assert selectors.candles(market, "1m", 3) == [
        ["2026-11-26T10:03:00.000Z", "100.00", "101.00", "99.00", "99.00", "0.3500"],
        ["2026-11-26T10:04:00.000Z", "102.00", "102.00", "102.00", "102.00", "0.1000"],
    ]  # nothing before the first trade
    expected_5m = ["2026-11-26T10:00:00.000Z", "100.00", "102.00", "99.00", "102.00", "0.4500"]
    assert selectors.candles(market, "5m", 2) == [expected_5m]
    assert selectors.candles(market, "1h", 1) == [expected_5m]
    assert selectors.candles(market, "1d", 5) == [["2026-11-26T00:00:00.000Z", *expected_5m[1:]]]
    assert Trade.objects.count() == 4
    assert_ledger_consistent()
    assert_backfill_rebuilds_the_same_candles()


def test_a_day_candle_starts_at_midnight_utc(market, seller, buyer, clock):
    clock.set(at(23, 59, 59))
    cross(seller, buyer, ("100.00", "0.1"))
    clock.set(at(0, 0, 0, day=27))
    cross(seller, buyer, ("101.00", "0.1"))
    assert [r[0] for r in rows("1d")] == [at(0, 0), at(0, 0, day=27)]
    assert [r[0] for r in rows("1h")] == [at(23, 0), at(0, 0, day=27)]
    assert [r[0] for r in rows("5m")] == [at(23, 55), at(0, 0, day=27)]
    assert_backfill_rebuilds_the_same_candles()


def test_candles_survive_a_matcher_restart_and_a_failed_commit(market, seller, buyer, clock, monkeypatch):
    cross(seller, buyer, ("100.00", "0.1"))  # each run_once is a new matcher
    clock.set(at(10, 3, 40))
    cross(seller, buyer, ("103.00", "0.2"))
    place(seller, side="sell", type="limit", price="98.00", quantity="0.1")
    run_once()
    clock.set(at(10, 3, 50))
    place(buyer, side="buy", type="limit", price="98.00", quantity="0.1")
    with matcher() as m:
        real_write = worker.write

        def write_then_fail(cursor, batch, *, state, changes=()):
            real_write(cursor, batch, state=state, changes=changes)
            raise RuntimeError("commit failed")  # the candle upsert is rolled back with the trades

        monkeypatch.setattr(worker, "write", write_then_fail)
        with pytest.raises(RuntimeError):
            m.next_discovery = 0
            m.step()
            m.step()
            m.flush()
        monkeypatch.setattr(worker, "write", real_write)
        assert rows("1m") == [(at(10, 3), "100", "103", "100", "103", "0.3", "30.6", 2)]
        drain(m)  # applied once, counted once
    assert rows("1m") == [(at(10, 3), "100", "103", "98", "98", "0.4", "40.4", 3)]
    assert rows("1d") == [(at(0, 0), "100", "103", "98", "98", "0.4", "40.4", 3)]
    assert_ledger_consistent()
    assert_backfill_rebuilds_the_same_candles()


def test_intervals_without_trades_repeat_the_previous_close(market, seller, buyer, clock):
    cross(seller, buyer, ("100.00", "0.1"), ("101.00", "0.1"))
    clock.set(at(10, 6, 5))
    cross(seller, buyer, ("99.50", "0.2"))
    clock.set(at(10, 8, 59))
    assert selectors.candles(market, "1m", 7) == [
        ["2026-11-26T10:03:00.000Z", "100.00", "101.00", "100.00", "101.00", "0.2000"],
        ["2026-11-26T10:04:00.000Z", "101.00", "101.00", "101.00", "101.00", "0.0000"],
        ["2026-11-26T10:05:00.000Z", "101.00", "101.00", "101.00", "101.00", "0.0000"],
        ["2026-11-26T10:06:00.000Z", "99.50", "99.50", "99.50", "99.50", "0.2000"],
        ["2026-11-26T10:07:00.000Z", "99.50", "99.50", "99.50", "99.50", "0.0000"],
        ["2026-11-26T10:08:00.000Z", "99.50", "99.50", "99.50", "99.50", "0.0000"],
    ]
    # A window that starts after the last trade still shows its close (from the candle before it).
    assert selectors.candles(market, "1m", 2) == [
        ["2026-11-26T10:07:00.000Z", "99.50", "99.50", "99.50", "99.50", "0.0000"],
        ["2026-11-26T10:08:00.000Z", "99.50", "99.50", "99.50", "99.50", "0.0000"],
    ]
    # `end` in the past: the candles up to the one holding it.
    assert [c[0] for c in selectors.candles(market, "1m", 2, end=at(10, 4, 30))] == [
        "2026-11-26T10:03:00.000Z", "2026-11-26T10:04:00.000Z"]  # fmt: skip
    assert selectors.candles(market, "5m", 3) == [
        ["2026-11-26T10:00:00.000Z", "100.00", "101.00", "100.00", "101.00", "0.2000"],
        ["2026-11-26T10:05:00.000Z", "99.50", "99.50", "99.50", "99.50", "0.2000"],
    ]


def test_candles_endpoint(market, seller, buyer, clock, api_client):
    assert api_client.get("/api/v1/markets/BTC-USDT/candles").json() == []  # no trade yet
    cross(seller, buyer, ("100.00", "0.1"))
    clock.set(at(10, 4, 1))
    response = api_client.get("/api/v1/markets/btc-usdt/candles?interval=1m&limit=2")
    assert response.status_code == 200
    assert response.json() == [
        ["2026-11-26T10:03:00.000Z", "100.00", "100.00", "100.00", "100.00", "0.1000"],
        ["2026-11-26T10:04:00.000Z", "100.00", "100.00", "100.00", "100.00", "0.0000"],
    ]
    assert api_client.get("/api/v1/markets/BTC-USDT/candles").json() == response.json()  # 1m by default
    assert len(api_client.get("/api/v1/markets/BTC-USDT/candles?interval=1m&limit=1000").json()) == 2
    assert api_client.get("/api/v1/markets/BTC-USDT/candles?interval=1d&limit=1").json() == [
        ["2026-11-26T00:00:00.000Z", "100.00", "100.00", "100.00", "100.00", "0.1000"]]  # fmt: skip


def test_ticker_over_a_rolling_24_hours(market, seller, buyer, clock, api_client):
    empty = api_client.get("/api/v1/markets/BTC-USDT/ticker").json()
    assert empty == {"symbol": "BTC-USDT", "last": None, "bid": None, "ask": None, "open_24h": None,
                     "high_24h": None, "low_24h": None, "volume_24h": "0.0000", "quote_volume_24h": "0.000000",
                     "change_24h": None, "status": "trading"}  # fmt: skip
    clock.set(T0 - timedelta(hours=25))
    cross(seller, buyer, ("80.00", "0.1"))  # outside the window
    clock.set(T0 - timedelta(hours=23, minutes=59))
    cross(seller, buyer, ("95.00", "0.1"))  # the window's first trade
    clock.set(T0)
    cross(seller, buyer, ("98.00", "0.2"), ("100.00", "0.1"))
    place(buyer, side="buy", type="limit", price="97.00", quantity="0.5")
    place(buyer, side="buy", type="limit", price="96.00", quantity="0.5")
    place(seller, side="sell", type="limit", price="105.00", quantity="0.3")
    run_once()
    response = api_client.get("/api/v1/markets/BTC-USDT/ticker")
    assert response.status_code == 200
    assert response.json() == {
        "symbol": "BTC-USDT", "last": "100.00", "bid": "97.00", "ask": "105.00", "open_24h": "95.00",
        "high_24h": "100.00", "low_24h": "95.00", "volume_24h": "0.4000", "quote_volume_24h": "39.100000",
        "change_24h": "5.26", "status": "trading",
    }  # fmt: skip
    # One minute later the 95 trade's candle leaves the window: the change is from 98 now.
    later = selectors.ticker(market, now=T0 + timedelta(minutes=1))
    assert (later["open_24h"], later["low_24h"], later["volume_24h"], later["change_24h"]) == (
        "98.00", "98.00", "0.3000", "2.04")  # fmt: skip
    # Move today's trading back out of the window: a last price but no 24-hour figures.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE markets_candle SET open_time = open_time - interval '2 days'")
        cursor.execute("UPDATE trades_trade SET created_at = created_at - interval '2 days'")
    quiet = selectors.ticker(market)
    assert (quiet["last"], quiet["high_24h"], quiet["open_24h"], quiet["change_24h"], quiet["volume_24h"]) == (
        "100.00", None, None, None, "0.0000")  # fmt: skip


def test_ticker_change_is_signed_and_never_minus_zero(market, seller, buyer, clock):
    cross(seller, buyer, ("100.00", "0.1"))
    clock.set(T0 + timedelta(minutes=1))
    cross(seller, buyer, ("98.75", "0.1"))
    assert selectors.ticker(market)["change_24h"] == "-1.25"
    # A day later the window opens at 1000.00: 999.99 is -0.001 %, shown as 0.00, not -0.00.
    clock.set(T0 + timedelta(minutes=2))
    cross(seller, buyer, ("1000.00", "0.1"))
    clock.set(T0 + timedelta(minutes=3))
    cross(seller, buyer, ("999.99", "0.1"), taker="sell")
    ticker = selectors.ticker(market, now=T0 + timedelta(hours=24, minutes=1))
    assert (ticker["open_24h"], ticker["last"], ticker["change_24h"]) == ("1000.00", "999.99", "0.00")


def test_recent_trades_newest_first_with_a_limit(market, seller, buyer, clock, api_client):
    cross(seller, buyer, ("100.00", "0.1"), ("101.00", "0.2"))
    clock.set(at(10, 5))
    cross(seller, buyer, ("99.00", "0.05"), taker="sell")
    ids = list(Trade.objects.order_by("-id").values_list("id", flat=True))
    response = api_client.get("/api/v1/markets/BTC-USDT/trades")
    assert response.status_code == 200
    assert response.json() == [
        {"id": ids[0], "price": "99.00", "quantity": "0.0500", "taker_side": "sell",
         "time": "2026-11-26T10:05:00.000Z"},
        {"id": ids[1], "price": "101.00", "quantity": "0.2000", "taker_side": "buy",
         "time": "2026-11-26T10:03:30.000Z"},
        {"id": ids[2], "price": "100.00", "quantity": "0.1000", "taker_side": "buy",
         "time": "2026-11-26T10:03:30.000Z"},
    ]  # fmt: skip
    assert [t["id"] for t in api_client.get("/api/v1/markets/BTC-USDT/trades?limit=2").json()] == ids[:2]
    assert trade_selectors.recent_trades(market, 500) == response.json()


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("candles?interval=2m", "interval"),
        ("candles?interval=", "interval"),
        ("candles?interval=1M", "interval"),
        ("candles?interval=1m%00", "interval"),
        ("candles?limit=0", "limit"),
        ("candles?limit=1001", "limit"),
        ("candles?limit=abc", "limit"),
        ("candles?limit=", "limit"),
        ("candles?limit=-1", "limit"),
        ("candles?limit=1.5", "limit"),
        ("candles?limit=%C2%B2", "limit"),
        ("candles?interval=1w&limit=0", "interval"),
        ("trades?limit=0", "limit"),
        ("trades?limit=501", "limit"),
        ("trades?limit=abc", "limit"),
        ("trades?limit=%00", "limit"),
    ],
)
def test_bad_market_data_parameters_are_400(market, api_client, path, field):
    response = api_client.get(f"/api/v1/markets/BTC-USDT/{path}")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert isinstance(error["details"][field], list) and error["details"][field]


def test_both_bad_candle_parameters_are_reported_together(market, api_client):
    details = api_client.get("/api/v1/markets/BTC-USDT/candles?interval=7m&limit=0").json()["error"]["details"]
    assert set(details) == {"interval", "limit"}


@pytest.mark.parametrize("endpoint", ["trades", "ticker", "candles", "candles?interval=1h&limit=5"])
@pytest.mark.parametrize("symbol", ["NOPE-USDT", "BTC%00-USDT", "BTCUSDT", "%00"])
def test_unknown_market_is_404(market, api_client, endpoint, symbol):
    response = api_client.get(f"/api/v1/markets/{symbol}/{endpoint}")
    assert response.status_code == 404, response.content
    # A path with a NUL byte is refused before routing, as every such path is (tests/test_routes.py).
    assert response.json()["error"]["code"] == ("not_found" if "%00" in symbol else "unknown_market")


def test_backfill_builds_candles_from_existing_trades(market, seller, buyer, clock):
    cross(seller, buyer, ("100.00", "0.1"), ("101.00", "0.1"))
    clock.set(at(11, 0, 0))
    cross(seller, buyer, ("102.00", "0.1"), taker="sell")
    Candle.objects.all().delete()  # trades from before candles existed
    with connection.cursor() as cursor:
        cursor.execute(BACKFILL_SQL)
    assert rows("1h") == [
        (at(10, 0), "100", "101", "100", "101", "0.2", "20.1", 2),
        (at(11, 0), "102", "102", "102", "102", "0.1", "10.2", 1),
    ]
    assert rows("1d") == [(at(0, 0), "100", "102", "100", "102", "0.3", "30.3", 3)]
