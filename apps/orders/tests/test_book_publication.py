"""What the matcher publishes after each batch: numbered book updates that rebuild the cached book,
checksums that match, trades and private events for the owners only."""

import json
import random
from decimal import Decimal as D

import pytest
from django.conf import settings

from apps.core.redis import get_redis
from apps.markets.book import cache_key as book_cache_key
from apps.markets.book import checksum
from apps.matching import publish
from apps.matching.testing import drain, matcher
from tests.factories import funded_trader, place

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_test_transaction")]


def test_updates_rebuild_the_cached_book_with_matching_checksums(market, published):
    rng = random.Random(3)
    users = [funded_trader(btc="10", usdt="100000") for _ in range(3)]
    book = {"bids": {}, "asks": {}}
    sequence = 0
    with matcher() as m:
        for round_ in range(6):
            for _ in range(15):
                side = rng.choice(["buy", "sell"])
                place(rng.choice(users), side=side, type="limit", price=f"{100 + rng.randint(-4, 4)}.00",
                      quantity=str(D(rng.randint(2, 30)) / 100))  # fmt: skip
            drain(m)
            for group, message in published:
                if group != "book.BTC-USDT":
                    continue
                update = message["payload"]
                assert update["sequence"] == sequence + 1
                sequence = update["sequence"]
                for side in ("bids", "asks"):
                    for price, qty in update[side]:
                        if D(qty) == 0:
                            book[side].pop(price, None)
                        else:
                            book[side][price] = qty
                bids = [list(x) for x in sorted(book["bids"].items(), key=lambda x: -D(x[0]))]
                asks = [list(x) for x in sorted(book["asks"].items(), key=lambda x: D(x[0]))]
                assert checksum(bids, asks) == update["checksum"], (round_, update)
            published.clear()
    cached = json.loads(get_redis().get(book_cache_key("BTC-USDT")))
    assert cached["sequence"] == sequence
    assert (cached["bids"], cached["asks"]) == (bids, asks)


def test_after_a_crash_before_publishing_the_next_update_repairs_the_subscribers_book(market, published, monkeypatch):
    from apps.matching.testing import run_once

    maker, taker = funded_trader(btc="10", usdt="100000"), funded_trader(btc="10", usdt="100000")
    for price in ("99.00", "98.00", "97.00"):
        place(maker, side="buy", type="limit", price=price, quantity="0.1")
    run_once()
    ((_, first),) = [(g, m) for g, m in published if g == "book.BTC-USDT"]
    book = {price: qty for price, qty in first["payload"]["bids"]}
    # The matcher commits a batch that empties the 99 level and dies before publishing it.
    place(taker, side="sell", type="limit", price="99.00", quantity="0.1")
    monkeypatch.setattr(publish.Publisher, "publish", lambda self, update: None)
    run_once()
    monkeypatch.undo()
    published.clear()
    monkeypatch.setattr(publish.Publisher, "_send", lambda self, messages: _collect(published, messages))
    place(maker, side="buy", type="limit", price="96.00", quantity="0.1")
    run_once()  # a new matcher: its first update carries the difference from the published book
    ((_, update),) = [(g, m) for g, m in published if g == "book.BTC-USDT"]
    for price, qty in update["payload"]["bids"]:
        if D(qty) == 0:
            book.pop(price)
        else:
            book[price] = qty
    bids = [[p, q] for p, q in sorted(book.items(), key=lambda x: -D(x[0]))]
    assert [p for p, _ in bids] == ["98.00", "97.00", "96.00"]
    assert checksum(bids, []) == update["payload"]["checksum"]


async def _collect(sink, messages):
    sink.extend(messages)


def test_an_order_that_reaches_the_book_is_announced_on_its_owners_orders_channel(market, published):
    """A queued and a resting order both show `new`; what tells the client its order is in the book is
    the first `order` event on its private channel, sent with the book update that shows it."""
    from apps.matching.testing import run_once

    owner = funded_trader(usdt="1000")
    order = place(owner, side="buy", type="limit", price="99.00", quantity="0.1")
    stop = place(owner, side="buy", type="stop_limit", price="120.00", stop_price="119.00", quantity="0.1")
    assert published == []  # accepted and queued: nothing is announced before the matcher applies it
    run_once()
    events = [e for group, m in published if group == f"user.{owner.pk}" for e in m["payload"]]
    announced = {e["order"]["id"]: e["order"]["status"] for e in events if e["type"] == "order"}
    assert announced == {order.pk: "new", stop.pk: "new"}  # the stop is armed, waiting for its trigger
    (update,) = [m["payload"] for group, m in published if group == "book.BTC-USDT"]
    assert update["bids"] == [["99.00", "0.1000"]] and update["sequence"] == 1  # the stop is not in the book


def test_a_failed_publication_makes_the_next_update_carry_the_whole_book(market, published, monkeypatch):
    """The publisher keeps the book as published and applies each batch's changed levels to it. When a
    publication fails half-way its copy may be wrong: it is dropped, the publisher asks the matcher for
    the whole book, and until it comes that market's book is not published; then the cache is exact."""
    maker = funded_trader(btc="10", usdt="100000")
    with matcher() as m:
        for price in ("99.00", "98.00"):
            place(maker, side="buy", type="limit", price=price, quantity="0.1")
        drain(m)
        first = json.loads(get_redis().get(book_cache_key("BTC-USDT")))["sequence"]
        real_send = publish.Publisher._send

        async def fail(self, messages):
            raise ConnectionError("the channel layer went away")

        monkeypatch.setattr(publish.Publisher, "_send", fail)
        place(maker, side="buy", type="limit", price="97.00", quantity="0.1")
        drain(m)
        assert m.publisher.wants_depth == {market.pk}
        monkeypatch.setattr(publish.Publisher, "_send", real_send)
        published.clear()
        place(maker, side="sell", type="limit", price="101.00", quantity="0.2")
        drain(m)
        assert m.publisher.wants_depth == set()
    (update,) = [message["payload"] for group, message in published if group == "book.BTC-USDT"]
    assert update["sequence"] == first + 2 and update["asks"] == [["101.00", "0.2000"]]  # only what changed
    cached = json.loads(get_redis().get(book_cache_key("BTC-USDT")))
    assert cached["sequence"] == first + 2
    assert cached["bids"] == [["99.00", "0.1000"], ["98.00", "0.1000"], ["97.00", "0.1000"]]
    assert cached["asks"] == [["101.00", "0.2000"]]
    assert update["checksum"] == checksum(cached["bids"], cached["asks"])


def test_market_data_goes_out_on_its_own_layer_in_order_and_private_events_on_the_default_one():
    """Book updates, halts and trades on the pub/sub layer the feeds read (one after the other, in the
    batch's order); a user's events on the default layer, which keeps them for a process briefly
    disconnected."""
    import asyncio

    class Layer:
        def __init__(self):
            self.sent = []

        async def group_send(self, group, message):
            await asyncio.sleep(0)
            self.sent.append((group, message["type"]))

    publisher = publish.Publisher.__new__(publish.Publisher)  # no thread: _send alone
    publisher.layer, publisher.market_layer = Layer(), Layer()
    messages = [("book.BTC-USDT", {"type": "book.update"}), ("book.BTC-USDT", {"type": "market.status"}),
                ("trades.BTC-USDT", {"type": "trades.batch"}), ("user.7", {"type": "user.events"}),
                ("user.8", {"type": "user.events"})]  # fmt: skip
    asyncio.run(publisher._send(messages))
    assert publisher.market_layer.sent == [(g, m["type"]) for g, m in messages[:3]]
    assert sorted(publisher.layer.sent) == [("user.7", "user.events"), ("user.8", "user.events")]
    assert publish.MARKET_DATA_LAYER in settings.CHANNEL_LAYERS
    assert settings.CHANNEL_LAYERS[publish.MARKET_DATA_LAYER]["BACKEND"].endswith("RedisPubSubChannelLayer")
