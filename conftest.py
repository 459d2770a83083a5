"""Suite-wide fixtures. The suite runs against real PostgreSQL and Redis (`make test` starts them)."""

import pytest
import redis

# Fixtures built on tests/factories.py (a market, the publisher capture) for every test (docs/testing.md).
pytest_plugins = ["tests.fixtures"]


@pytest.fixture(scope="session", autouse=True)
def _tests_never_touch_the_development_database(django_db_setup, django_db_blocker):
    """The connection pool binds to the database it first connects to; if anything queried before
    pytest-django created the test database, tests would write into the development one. Refuse."""
    with django_db_blocker.unblock():
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT current_database()")
            name = cursor.fetchone()[0]
    assert name.startswith("test_"), f"tests are connected to {name!r}, not a test database"


@pytest.fixture(scope="session", autouse=True)
def _empty_redis_database():
    """Start from an empty Redis database: `make test` points REDIS_URL at database 1 of the embedded
    server, so this never touches a `make run` stack (database 0)."""
    from apps.core.redis import get_redis

    get_redis().flushdb()
    yield


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """Hashing at production cost takes most of a second on a loaded CI machine; tests that check
    timing-dependent behaviour (OTP back-off) must not depend on it. Passwords still go through
    Django's hashing path."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Each test starts with empty rate-limit counters and replay caches (they live in Redis and
    would otherwise carry over from one test to the next)."""
    from apps.core.redis import get_redis

    redis = get_redis()
    from apps.wallets import breaker

    breaker.forget()  # and the chain breakers' shared state
    for pattern in ("exchange:ratelimit:*", "exchange:apikey:seen:*", "exchange:chain-breaker:*"):
        keys = list(redis.scan_iter(pattern, count=1000))
        if keys:
            redis.delete(*keys)


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    """Each test starts without the per-process caches of API keys and markets (a test's rows are
    rolled back or flushed after it, which no version in Redis records)."""
    from apps.accounts import keyring
    from apps.markets import registry

    keyring.forget()
    registry.forget()


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """Each test gets channel-layer objects of its own. A layer keeps asyncio locks bound to the event
    loop that first used them; each async test runs its own loop, and a read a test left running (a
    communicator's disconnect timing out on a busy machine) would hold the shared layer's receive
    lock for the next test's loop ("bound to a different event loop")."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def redis_commands(monkeypatch):
    """Every command any Redis client of this process sends, by name (a script call is one)."""
    sent = []
    real = redis.Redis.execute_command

    def counting(self, *args, **options):
        sent.append(args[0])
        return real(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", counting)
    return sent
