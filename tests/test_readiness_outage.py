"""/readyz against servers that really stop: a throwaway PostgreSQL and Redis for this test only."""

import time

import httpx
import pytest

from tests.support import WebServer, free_port, process_env
from tools.devstack import EmbeddedPostgres, EmbeddedRedis

pytestmark = pytest.mark.integration


@pytest.fixture
def throwaway_stack(tmp_path):
    pg = EmbeddedPostgres(tmp_path / "pg", preferred_port=free_port())
    redis = EmbeddedRedis(tmp_path / "redis", preferred_port=free_port())
    pg_port, redis_port = pg.start(), redis.start()
    try:
        yield pg, redis, pg.url(pg_port), redis.url(redis_port)
    finally:
        redis.stop()
        pg.stop()


def readyz(server):
    response = httpx.get(server.base_url + "/readyz", timeout=30)
    return response.status_code, response.json()


def test_readyz_names_the_stopped_dependency_and_recovers(throwaway_stack, process_log_dir):
    pg, redis, database_url, redis_url = throwaway_stack
    env = process_env(DATABASE_URL=database_url, REDIS_URL=redis_url, DATABASE_CONNECT_TIMEOUT="2")
    with WebServer(env, process_log_dir) as server:
        assert readyz(server)[0] == 200

        pg.stop()
        started = time.monotonic()
        status, body = readyz(server)
        # Answered within the probe budget (2 s by default), not after the pool's request timeout.
        assert time.monotonic() - started < 4.5
        assert status == 503
        assert body["error"]["code"] == "not_ready"
        assert body["error"]["details"]["failing"] == ["postgres"]
        assert "postgres" in body["error"]["message"]
        assert httpx.get(server.base_url + "/healthz").status_code == 200  # alive, just not ready

        assert pg.start() == pg.preferred_port  # the URL the web process holds is valid again
        assert readyz(server)[0] == 200

        redis.stop()
        status, body = readyz(server)
        assert status == 503
        assert body["error"]["details"]["failing"] == ["redis"]
        assert body["error"]["details"]["checks"]["postgres"]["ok"] is True

        assert redis.start() == redis.preferred_port
        assert readyz(server)[0] == 200
