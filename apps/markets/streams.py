"""The order command stream of each market (Redis Streams): the producer side.

Commands are tiny ({"op": "new"|"cancel", "id": order id}, or {"op": "halt"|"resume", "id": 0, ...}); the
matcher reads the order itself from
PostgreSQL, which stays the system of record. An XADD that fails (Redis down) loses nothing: the
order row is committed, and the matcher re-enqueues orders that never reached its stream.
"""

from __future__ import annotations

import logging

import redis
from django.conf import settings

from apps.core.redis import get_redis

logger = logging.getLogger(__name__)


def stream_key(symbol: str) -> str:
    return f"{settings.ORDER_STREAM_PREFIX}{symbol}"


def send(symbol: str, op: str, order_id: int, **extra: str) -> bool:
    """XADD one command; False (logged, not raised) when Redis is unreachable. `halt` and `resume`
    (id 0) carry their reason."""
    try:
        get_redis().xadd(stream_key(symbol), {"op": op, "id": order_id, **extra})
        return True
    except redis.RedisError:
        logger.warning("order stream unavailable; %s of order %s waits for the matcher's recovery", op, order_id)
        return False


def send_many(symbol: str, commands: list[tuple[str, int]], client=None) -> None:
    """XADD several commands in one round trip (recovery, cancel-all)."""
    if not commands:
        return
    pipe = (client or get_redis()).pipeline(transaction=False)
    key = stream_key(symbol)
    for op, order_id in commands:
        pipe.xadd(key, {"op": op, "id": order_id})
    pipe.execute()


def waiting_commands(symbols: list[str]) -> dict[str, int] | None:
    """Commands in each market's stream not yet applied, in one round trip (the matcher trims its
    stream to the last applied entry after each batch, so the length minus that entry waits; a stream
    no matcher has read yet counts every entry at most one short). None when Redis is unreachable."""
    if not symbols:
        return {}
    try:
        pipe = get_redis().pipeline(transaction=False)
        for symbol in symbols:
            pipe.xlen(stream_key(symbol))
        lengths = pipe.execute()
    except redis.RedisError:
        return None
    return {symbol: max(0, length - 1) for symbol, length in zip(symbols, lengths, strict=True)}
