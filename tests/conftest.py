"""Fixtures for cross-process tests: real uvicorn and Celery processes on the test database."""

import pytest
from django.conf import settings

from tests.support import WebServer, database_url, process_env

FAST_FEEDS = {"WS_FEED_LINGER_SECONDS": "0", "WS_FEED_CHECK_SECONDS": "1"}


@pytest.fixture(scope="session")
def process_log_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("process-logs")


@pytest.fixture(scope="session")
def live_env(django_db_setup, django_db_blocker):
    """Environment for child processes: the test database (created and migrated by pytest-django)
    and the test Redis database."""
    with django_db_blocker.unblock():
        from django.db import connection

        url = database_url(connection.settings_dict)
    return process_env(DATABASE_URL=url, REDIS_URL=settings.REDIS_URL)


@pytest.fixture(scope="session")
def web_server(live_env, process_log_dir):
    # Tests recreate the same market (the same symbol) one after the other: a market feed must not
    # outlive the test that used it.
    with WebServer({**live_env, **FAST_FEEDS}, process_log_dir) as server:
        yield server
