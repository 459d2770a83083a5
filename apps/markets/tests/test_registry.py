"""The market registry cached per process (apps.markets.registry): served without a query, and never
older than the last change a request's Redis round trip could see."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from apps.core import piggyback
from apps.core.redis import get_redis
from apps.markets import registry, services
from apps.markets.exceptions import UnknownMarket
from apps.markets.models import Market
from apps.markets.selectors import market_by_symbol

# Not inside a test transaction: a lookup made inside one is not kept (it could roll back).
pytestmark = pytest.mark.django_db(transaction=True)


def test_a_lookup_is_served_from_the_process_cache_without_a_query(market, django_assert_num_queries):
    market_by_symbol("BTC-USDT")
    with django_assert_num_queries(0):
        cached = market_by_symbol("btc-usdt")
        with pytest.raises(UnknownMarket):
            market_by_symbol("DOGE-USDT")
    assert (cached.pk, cached.min_notional, cached.base.code) == (market.pk, Decimal("1"), "BTC")


def test_update_market_is_seen_by_the_next_lookup(market):
    assert market_by_symbol("BTC-USDT").min_notional == Decimal("1")
    services.update_market(market=market, changes={"min_notional": Decimal("5")})
    assert market_by_symbol("BTC-USDT").min_notional == Decimal("5")


def test_a_change_made_by_another_process_is_seen_once_its_version_moves(market):
    assert market_by_symbol("BTC-USDT").tick_size == Decimal("0.01")
    Market.objects.filter(pk=market.pk).update(min_notional=Decimal("7"))  # no signal: as if elsewhere
    assert market_by_symbol("BTC-USDT").min_notional == Decimal("1")  # the cache, until the version moves
    get_redis().set(piggyback.MARKETS_VERSION_KEY, "moved-by-another-process")
    assert market_by_symbol("BTC-USDT").min_notional == Decimal("7")


def test_halt_and_resume_refresh_the_cached_status(market):
    assert market_by_symbol("BTC-USDT").status == "trading"
    services.set_status(market=market, status=Market.Status.HALTED, reason="maintenance")
    assert market_by_symbol("BTC-USDT").status == "halted"
    services.set_status(market=market, status=Market.Status.TRADING)
    assert market_by_symbol("BTC-USDT").status == "trading"


def test_a_new_market_is_found_at_once(market):
    with pytest.raises(UnknownMarket):
        market_by_symbol("ETH-USDT")
    services.create_market(base="ETH", quote="USDT", tick_size=Decimal("0.01"), lot_size=Decimal("0.001"))
    assert market_by_symbol("ETH-USDT").symbol == "ETH-USDT"


def test_each_lookup_is_a_copy_callers_may_change(market):
    first = market_by_symbol("BTC-USDT")
    first.status, first.min_notional = "halted", Decimal("99")
    again = market_by_symbol("BTC-USDT")
    assert (again.status, again.min_notional) == ("trading", Decimal("1"))


def test_in_a_request_the_version_comes_with_the_rate_limit_round_trip(
    market, django_assert_num_queries, redis_commands
):
    client = APIClient()
    assert client.get("/api/v1/markets/BTC-USDT/trades?limit=1").status_code == 200  # fills the cache
    redis_commands.clear()
    with django_assert_num_queries(1):  # the trades themselves
        response = client.get("/api/v1/markets/BTC-USDT/trades?limit=1")
    assert response.status_code == 200
    assert redis_commands == ["EVALSHA"]
    registry.forget()
