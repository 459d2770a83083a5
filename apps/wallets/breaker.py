"""A circuit breaker around every chain adapter (pybreaker), its state shared in Redis.

After CHAIN_BREAKER_FAIL_MAX consecutive failures of a currency's node, the breaker opens: calls
fail at once with ChainUnavailable (an OSError, so the Celery tasks back off and retry instead of
piling up on a dead node), until CHAIN_BREAKER_RESET_SECONDS have passed; then one trial call
(half-open) closes it again or reopens it. A definitive refusal (ChainRejected: a bad address) is
the node working, not failing, and so is an unknown txid (UnknownTransaction). A node that does not
answer (any OSError) reaches callers as ChainUnavailable from its first failure, so the API answers
503 `service_unavailable` rather than 500 while the breaker counts.
Every process (web, workers) shares one state per currency in Redis,
so /readyz and /metrics show what the workers see; if Redis is unreachable, a process falls back to
a breaker of its own.
"""

from __future__ import annotations

import functools
import threading

import pybreaker
import redis
from django.conf import settings

from apps.core.exceptions import ServiceUnavailable
from apps.wallets.chain_interface import ChainAdapter, ChainRejected, UnknownTransaction

NAMESPACE = "exchange:chain-breaker:{currency}"
STATE_VALUES = {pybreaker.STATE_CLOSED: 0, pybreaker.STATE_HALF_OPEN: 1, pybreaker.STATE_OPEN: 2}


class ChainUnavailable(ServiceUnavailable, OSError):
    """The currency's node is failing (its breaker is open): try again later. A ServiceUnavailable,
    so the API answers 503 `service_unavailable` with this message; an OSError, so tasks retry."""


_breakers: dict[str, pybreaker.CircuitBreaker] = {}
_lock = threading.Lock()


@functools.lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    # Bytes, as pybreaker's storage expects; short timeouts: a breaker must not wait on Redis.
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def breaker_for(currency: str) -> pybreaker.CircuitBreaker:
    with _lock:
        breaker = _breakers.get(currency)
        if breaker is None:
            try:
                storage = pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, _redis(settings.REDIS_URL),
                                                        namespace=NAMESPACE.format(currency=currency))  # fmt: skip
            except redis.RedisError:
                storage = None  # this process's own memory, until it starts again
            breaker = pybreaker.CircuitBreaker(
                fail_max=settings.CHAIN_BREAKER_FAIL_MAX, reset_timeout=settings.CHAIN_BREAKER_RESET_SECONDS,
                exclude=[ChainRejected, UnknownTransaction], state_storage=storage, name=f"chain:{currency}",
            )  # fmt: skip
            if storage is not None:
                _breakers[currency] = breaker
    return breaker


class GuardedAdapter:
    """The adapter with every method called through the currency's breaker."""

    def __init__(self, adapter: ChainAdapter, breaker: pybreaker.CircuitBreaker):
        self.adapter = adapter  # the adapter itself (what kind of chain this is)
        self._breaker = breaker
        self.currency = adapter.currency

    def __getattr__(self, name):
        method = getattr(self.adapter, name)
        if not callable(method):
            return method

        @functools.wraps(method)
        def guarded(*args, **kwargs):
            try:
                return self._breaker.call(method, *args, **kwargs)
            except pybreaker.CircuitBreakerError as exc:
                raise ChainUnavailable(f"the {self.currency} node is unavailable (circuit open)") from exc
            except ChainUnavailable:
                raise
            except OSError as exc:  # counted by the breaker; callers see one kind of "the node is down"
                raise ChainUnavailable(f"the {self.currency} node did not answer ({exc})") from exc

        return guarded


def state(currency: str) -> str:
    """The breaker's state as every process sees it ("closed", "half-open", "open"): pybreaker reads
    it from the shared storage."""
    return breaker_for(currency).current_state


def forget() -> None:
    """Drop this process's breakers (tests; the shared state is in Redis)."""
    with _lock:
        _breakers.clear()
