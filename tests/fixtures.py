"""Fixtures for every test under apps/ and tests/: a pytest plugin the root conftest.py registers
(`pytest_plugins`), built on tests/factories.py. See docs/testing.md."""

from __future__ import annotations

import pytest

from tests import factories


@pytest.fixture(autouse=True)
def _clean_streams():
    """Each test starts without the order streams and cached books of the tests before it (Redis)."""
    from apps.core.redis import get_redis

    client = get_redis()
    for pattern in ("exchange:orders:*", "exchange:book:*"):
        keys = list(client.scan_iter(pattern, count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture
def published(monkeypatch):
    """The channel-layer messages the matcher's publisher sends, as (group, message), instead of sending them."""
    from apps.matching import publish

    sent = []

    async def capture(self, messages):
        sent.extend(messages)

    monkeypatch.setattr(publish.Publisher, "_send", capture)
    return sent


@pytest.fixture
def market(db):
    """The BTC-USDT market (tick 0.01, lot 0.0001, min notional 1, fees 0.1 % / 0.2 %), with the
    currencies BTC, USDT and ETH (ETH for the tests that list a second market)."""
    for code in ("BTC", "USDT", "ETH"):
        factories.currency(code)
    return factories.market(
        "BTC", "USDT", tick_size="0.01", lot_size="0.0001", min_notional="1", maker_fee="0.001", taker_fee="0.002"
    )
