"""The trading dashboard's reads: markets.selectors.market_statuses and matching.selectors.matcher_states."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.markets import selectors as market_selectors
from apps.markets import services as market_services
from apps.markets import streams
from apps.markets.models import CIRCUIT_BREAKER
from apps.matching import selectors
from apps.matching.models import MarketState
from tests import factories

pytestmark = pytest.mark.django_db


def test_market_statuses_and_matcher_states(market):
    eth = factories.market("ETH", "USDT")
    market_services.set_status(market=eth, status="halted", reason="listing review")
    statuses = market_selectors.market_statuses()
    assert [(m["symbol"], m["halted"]) for m in statuses["markets"]] == [("BTC-USDT", False), ("ETH-USDT", True)]
    assert [m["status_reason"] for m in statuses["halted"]] == ["listing review"] and not statuses["kill_switch"]

    MarketState.objects.create(market=market, last_stream_id="5-0", commands_applied=4)
    for n in range(4):
        streams.send("BTC-USDT", "new", n + 1)
    states = selectors.matcher_states(["BTC-USDT", "ETH-USDT"])
    assert (states["BTC-USDT"]["lag"], states["BTC-USDT"]["commands_applied"]) == (3, 4)
    assert states["BTC-USDT"]["last_settled"] is not None
    # ETH-USDT: no cursor row yet, its stream holds the halt command only.
    assert (states["ETH-USDT"]["last_settled"], states["ETH-USDT"]["lag"]) == (None, 0)


def test_a_breaker_halt_past_its_cool_down_does_not_count(market):
    market_services.set_status(market=market, status="halted", reason=CIRCUIT_BREAKER)
    type(market).objects.filter(pk=market.pk).update(halted_until=timezone.now() - dt.timedelta(seconds=1))
    assert market_selectors.market_statuses()["halted"] == []


def test_the_kill_switch_is_seen(market):
    market_services.engage_kill_switch(reason="drill", actor=None)
    statuses = market_selectors.market_statuses()
    assert statuses["kill_switch"] and [m["symbol"] for m in statuses["halted"]] == ["BTC-USDT"]
