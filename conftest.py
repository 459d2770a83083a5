"""Suite-wide fixtures. The suite runs against real PostgreSQL and Redis (`make test` starts them)."""

import os
import subprocess

import pytest
import redis

# Fixtures built on tests/factories.py (a market, the publisher capture) for every test, and the matcher's
# test support giving rolled-back tests `in_test_transaction` (apps.matching.testing; docs/testing.md).
pytest_plugins = ["tests.fixtures", "apps.matching.testing"]

# A test that uses one of these fixtures starts processes of its own: live_env hands child processes
# the test database (web_server, MatcherProcess, the web pool... all build on it); browser is Chromium.
PROCESS_FIXTURES = frozenset({"live_env", "browser"})


# `make test-fast` runs on two pytest-xdist workers. Each gets a Redis database of its own: the suite
# empties its database at the start and tests clear keys (streams, book caches, rate limits) that the
# other worker's tests would be using. The first keeps REDIS_URL's (1 under make), the others take 3,
# 4, ... (0 is `make run`'s, 2 `make bench`'s). PostgreSQL needs nothing: pytest-django gives each
# worker its own test database (test_<name>_gw0, _gw1), and advisory locks are per database.
XDIST_EXTRA_REDIS_DATABASES = range(3, 16)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config, specs):
    url = os.environ.get("REDIS_URL", "")
    base, _, db = url.rpartition("/")
    if not (base and db.isdigit()):
        raise pytest.UsageError(f"parallel tests need REDIS_URL ending in /<database>, not {url!r}")
    if len(specs) > 1 + len(XDIST_EXTRA_REDIS_DATABASES):
        raise pytest.UsageError("more xdist workers than Redis databases to give them")
    for spec, number in zip(specs, [int(db), *XDIST_EXTRA_REDIS_DATABASES], strict=False):
        spec.env["REDIS_URL"] = f"{base}/{number}"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark `subprocess` every test that starts processes: the `integration` ones and those using a
    PROCESS_FIXTURES fixture (directly or through another fixture). Tests that run a command themselves
    carry the marker explicitly. `make test-fast` deselects them (-m "not subprocess"). Runs before
    pytest's own -m selection (tryfirst)."""
    for item in items:
        if item.get_closest_marker("integration") or PROCESS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.subprocess)


@pytest.fixture(autouse=True)
def _processes_only_in_subprocess_tests(request, monkeypatch):
    """A test that is not marked `subprocess` may not start a process: it would run in `make test-fast`
    and slow it down, or fail there for a missing server. Mark it (docs/testing.md)."""
    if request.node.get_closest_marker("subprocess"):
        return

    def refuse(self, args, *rest, **kwargs):
        raise AssertionError(
            f"{request.node.nodeid} starts a process ({args!r}) but is not marked subprocess: add "
            "@pytest.mark.subprocess (or use the live_env fixture), see docs/testing.md"
        )

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


@pytest.fixture(scope="session", autouse=True)
def _reused_database_starts_empty(request, django_db_setup, django_db_blocker):
    """With --reuse-db (`make test-fast`) the test database outlives the run, and a run interrupted in a
    transactional test leaves its rows behind: empty it first, as a new one would be. Without it the
    database was just created and migrated, and nothing is done."""
    if not request.config.getoption("reuse_db") or request.config.getoption("create_db"):
        return
    from django.core.management import call_command

    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """The suite's connections commit without waiting for the WAL to reach the disk
    (synchronous_commit=off): what a transaction sees and when is unchanged, only a crash of the server
    could lose the last commits of a test database. Transactional tests empty every table after them
    (TRUNCATE), which otherwise waits on the disk once per test."""
    from django.conf import settings

    options = settings.DATABASES["default"].setdefault("OPTIONS", {})
    options["options"] = f"{options.get('options', '')} -c synchronous_commit=off".strip()


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
