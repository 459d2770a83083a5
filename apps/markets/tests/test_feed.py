"""MarketFeed and StreamConsumer internals that a socket test cannot reach on purpose: a Redis error
at the wrong moment, a quiet subscribed client, a ticker nobody watched for a while."""

from __future__ import annotations

import asyncio
import json

import pytest
from django.test import override_settings

from apps.core.consumers import StreamConsumer
from apps.markets import feed as feed_module
from apps.markets.feed import BookSide, MarketFeed, _diff


@pytest.fixture(scope="session", autouse=True)
def _tests_never_touch_the_development_database():
    """No database here: these tests also run alone, without one."""


class _Market:
    symbol = "BTC-USDT"


class _Recorder:
    def __init__(self):
        self.frames = []

    def push(self, text):
        self.frames.append(json.loads(text))


def _consumer():
    consumer = StreamConsumer.__new__(StreamConsumer)
    consumer.subscriptions, consumer.closing, consumer.user = {}, False, None
    consumer.outbox = asyncio.Queue(maxsize=1000)
    return consumer


@pytest.mark.asyncio
@override_settings(WS_HEARTBEAT_SECONDS=15.0, WS_IDLE_SECONDS=120.0)
async def test_the_watchdog_sleeps_until_the_heartbeat_for_a_quiet_subscriber(monkeypatch):
    consumer = _consumer()
    loop = asyncio.get_running_loop()
    consumer.subscriptions = {("trades", "BTC-USDT"): object()}
    consumer.last_sent, consumer.last_received = loop.time(), loop.time() - 300  # silent for 5 minutes
    sleeps, real_sleep = [], asyncio.sleep

    async def counting_sleep(seconds):
        sleeps.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", counting_sleep)
    task = asyncio.create_task(consumer._watch())
    for _ in range(20):
        await real_sleep(0)
    consumer.closing = True
    task.cancel()
    assert sleeps and min(sleeps) > 10, sleeps[:5]


@pytest.mark.asyncio
async def test_a_feed_that_fails_to_start_is_not_handed_out(monkeypatch):
    class Layer:
        failures = 3  # more than feed_for retries

        async def new_channel(self):
            return "specific.test!feed"

        async def group_add(self, group, channel):
            if Layer.failures:
                Layer.failures -= 1
                raise ConnectionError("Redis went away")

        async def group_discard(self, group, channel):
            pass

        async def receive(self, channel):
            await asyncio.sleep(3600)

    async def market(symbol):
        return _Market()

    monkeypatch.setattr(feed_module, "get_channel_layer", lambda alias: Layer())
    monkeypatch.setattr(feed_module, "_market", market)
    with pytest.raises(ConnectionError):
        await feed_module.feed_for("BTC-USDT")
    assert "BTC-USDT" not in feed_module._FEEDS[asyncio.get_running_loop()]
    feed = await feed_module.feed_for("BTC-USDT")  # Redis is back
    assert feed.tasks and not any(task.done() for task in feed.tasks)
    await feed.stop_if_idle()


@pytest.mark.asyncio
async def test_the_reader_survives_a_channel_layer_error(monkeypatch):
    class Layer:
        calls = 0

        async def receive(self, channel):
            Layer.calls += 1
            if Layer.calls == 1:
                raise ConnectionError("connection reset")
            await asyncio.sleep(3600)

        async def group_add(self, group, channel):
            pass

    monkeypatch.setattr(feed_module, "get_channel_layer", lambda alias: Layer())
    feed = MarketFeed(_Market(), {})
    feed.channel = "specific.test!reader"
    task = asyncio.create_task(feed._read())
    await asyncio.sleep(1.3)
    assert not task.done() and Layer.calls == 2
    task.cancel()


@pytest.mark.asyncio
async def test_a_new_ticker_subscriber_gets_a_fresh_ticker(monkeypatch):
    monkeypatch.setattr(feed_module, "get_channel_layer", lambda alias: None)
    feed = MarketFeed(_Market(), {})
    values = iter(["100.00", "250.00"])

    async def ticker_text():
        return json.dumps({"channel": "ticker", "type": "ticker", "last": next(values)})

    monkeypatch.setattr(feed, "_ticker_text", ticker_text)
    first, second = _Recorder(), _Recorder()
    await feed.add_ticker(first)
    feed.remove_ticker(first)  # the feed lives on for its book subscribers; the price moves
    await feed.add_ticker(second)
    assert second.frames[-1]["last"] == "250.00"


def test_book_side_orders_levels_best_first_and_removes_zeros():
    bids, asks = BookSide(descending=True), BookSide(descending=False)
    for price in ("99.50", "100.00", "98.25"):
        bids.set(price, "1.0000")
        asks.set(price, "1.0000")
    bids.set("100.00", "0.0000")
    assert [p for p, _ in bids.top(5)] == ["99.50", "98.25"]
    assert [p for p, _ in asks.top(2)] == ["98.25", "99.50"]


def test_a_view_diff_sends_levels_entering_and_leaving_best_first():
    old = [["100.00", "1.0000"], ["99.00", "2.0000"]]
    new = [["100.00", "1.5000"], ["98.00", "3.0000"]]  # 99 gone, 98 moved into the view
    assert _diff(old, new, -1) == [["100.00", "1.5000"], ["99.00", "0"], ["98.00", "3.0000"]]
    assert _diff(new, new, -1) == []
