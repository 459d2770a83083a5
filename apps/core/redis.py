"""The process's Redis client for REDIS_URL (one connection pool per URL)."""

from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=8)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=2,
        socket_timeout=2,
        health_check_interval=30,
        decode_responses=True,
    )


def get_redis() -> redis.Redis:
    return _client(settings.REDIS_URL)
