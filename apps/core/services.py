"""Core writes."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from apps.core.redis import get_redis

HEARTBEAT_KEY = "exchange:celery:heartbeat"


def record_heartbeat(*, worker: str, now: dt.datetime | None = None) -> dt.datetime:
    """Record that Celery beat scheduled, and a worker ran, the heartbeat task.

    Idempotent: it only moves the timestamp forward, so a late redelivery of an old beat cannot
    make the scheduler look healthier or staler than it is."""
    now = now or timezone.now()
    get_redis().eval(
        "local cur = redis.call('HGET', KEYS[1], 'epoch') "
        "if (not cur) or tonumber(cur) < tonumber(ARGV[1]) then "
        "redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'worker', ARGV[2]) end return 1",
        1,
        HEARTBEAT_KEY,
        repr(now.timestamp()),
        worker,
    )
    return now
