"""Rate limits per tier and budget, counted in Redis (shared by every web process).

Budgets: `orders` (order entry), `private` (authenticated reads and account actions), `public`
(market data), each per tier (settings.RATE_LIMITS); and strict brute-force budgets (`login`,
`register`, `refresh`, `two_factor`, `admin_login`, `auth_failures`, settings.STRICT_RATE_LIMITS).
A view names its budget with `throttle_scope`; without one, authenticated requests count against
`private` and anonymous ones against `public`.

The count is exact over a sliding window: a sorted set of request times per identity and budget in
Redis, trimmed and checked in one atomic script. A refused request is not recorded, so a client
that keeps to its limit is never refused, and `Retry-After` is the moment the oldest counted request
leaves the window.
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from apps.accounts.models import ApiKey
from apps.accounts.net import address_key
from apps.core.redis import get_redis

TIERED_SCOPES = ("orders", "private", "public")

# KEYS[1]: the budget's sorted set of request times (ms). ARGV: now (ms), window (ms), limit,
# record (1 to record this request if it fits, 0 to only look), a unique member name.
# Returns {requests in the window after this one, allowed 1/0, ms until one more fits}.
_HIT = """
local now, window, limit, record = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n + record > limit or (record == 0 and n >= limit) then
  if limit <= 0 then return {n, 0, window} end
  local nth = redis.call('ZRANGE', KEYS[1], n - limit, n - limit, 'WITHSCORES')
  return {n, 0, tonumber(nth[2]) + window - now}
end
if record > 0 then
  redis.call('ZADD', KEYS[1], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[1], window)
end
return {n + record, 1, 0}
"""


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    remaining: int
    retry_after: float  # seconds; 0 when allowed


def hit(
    scope: str,
    who: str,
    limit: int,
    window: int | None = None,
    now: float | None = None,
    count: bool = True,
    member: str | None = None,
) -> RateLimitState:
    """Record one request (or, with count=False, only look) against `limit` per `window` seconds.
    `member` names the recorded request, so that `forget` can take it back."""
    window_ms = int((window or settings.RATE_LIMIT_WINDOW_SECONDS) * 1000)
    now_ms = int((time.time() if now is None else now) * 1000)
    used, allowed, wait_ms = get_redis().eval(
        _HIT, 1, _key(scope, who), now_ms, window_ms, limit, int(count), member or f"{now_ms}-{secrets.token_hex(4)}",
    )  # fmt: skip
    remaining = max(0, limit - used)
    if allowed:
        return RateLimitState(limit, remaining, 0.0)
    return RateLimitState(limit, remaining, max(1.0, math.ceil(wait_ms / 1000)))


def forget(scope: str, who: str, member: str) -> None:
    """Take back one recorded request (it turned out not to use the budget)."""
    get_redis().zrem(_key(scope, who), member)


def _key(scope: str, who: str) -> str:
    return f"exchange:ratelimit:{scope}:{who}"


def _identity(request, scope: str) -> tuple[str, str]:
    """(who is counted, tier)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        if isinstance(request.auth, ApiKey):
            return f"key:{request.auth.pk}", user.tier
        return f"user:{user.pk}", user.tier
    return f"ip:{address_key(request)}", "anonymous"


def limit_for(scope: str, tier: str) -> int:
    if scope in TIERED_SCOPES:
        return settings.RATE_LIMITS[tier][scope]
    return settings.STRICT_RATE_LIMITS[scope]


def default_scope(request, view) -> str:
    scope = getattr(view, "throttle_scope", None)
    if scope is None:
        scope = "private" if getattr(request.user, "is_authenticated", False) else "public"
    return scope


class TieredRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        scope = default_scope(request, view)
        who, tier = _identity(request, scope)
        state = hit(scope, who, limit_for(scope, tier))
        if getattr(request.user, "is_authenticated", False):
            # Read by RateLimitHeadersMiddleware: every authenticated answer shows its budget.
            request._request.rate_limit = state
        self.state = state
        return state.retry_after == 0

    def wait(self) -> float:
        return self.state.retry_after


def count_refused(request, view) -> None:
    """Count an authenticated request that a permission check refused against its budget, and
    report the budget in the answer's headers (a refusal is still an authenticated answer)."""
    TieredRateThrottle().allow_request(request, view)
