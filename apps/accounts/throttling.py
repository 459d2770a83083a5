"""Rate limits per tier and budget, counted in Redis (shared by every web process).

Budgets: `orders` (order entry), `private` (authenticated reads and account actions), `public`
(market data), each per tier (settings.RATE_LIMITS); and strict brute-force budgets (`login`,
`register`, `refresh`, `two_factor`, settings.STRICT_RATE_LIMITS). A view names its budget with
`throttle_scope`; without one, authenticated requests count against `private` and anonymous ones
against `public`.

The count is a sliding-window estimate over two fixed windows (this one, plus the previous one
weighted by how much of it still overlaps): one atomic Redis round trip per request, no burst of
twice the limit at a window edge.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from apps.accounts.authentication import client_ip
from apps.accounts.models import ApiKey
from apps.core.redis import get_redis

TIERED_SCOPES = ("orders", "private", "public")
PER_USER_STRICT_SCOPES = ("two_factor",)


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    remaining: int
    retry_after: float


def _identity(request, scope: str) -> tuple[str, str]:
    """(who is counted, tier)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        if isinstance(request.auth, ApiKey):
            return f"key:{request.auth.pk}", user.tier
        if scope in PER_USER_STRICT_SCOPES or scope in TIERED_SCOPES:
            return f"user:{user.pk}", user.tier
    return f"ip:{client_ip(request)}", "anonymous"


def limit_for(scope: str, tier: str) -> int:
    if scope in TIERED_SCOPES:
        return settings.RATE_LIMITS[tier][scope]
    return settings.STRICT_RATE_LIMITS[scope]


def hit(scope: str, who: str, limit: int, window: int, now: float | None = None) -> RateLimitState:
    now = time.time() if now is None else now
    current = int(now // window)
    key = f"exchange:ratelimit:{scope}:{who}:"
    pipe = get_redis().pipeline(transaction=True)
    pipe.incr(key + str(current))
    pipe.expire(key + str(current), 2 * window)
    pipe.get(key + str(current - 1))
    count, _, previous = pipe.execute()
    overlap = 1 - (now - current * window) / window
    estimate = count + int(previous or 0) * overlap
    remaining = max(0, math.floor(limit - estimate))
    retry_after = 0.0
    if estimate > limit:
        # An upper bound: this window ends, then enough of it slides out that one more fits.
        to_window_end = (current + 1) * window - now
        slide_out = window * max(0.0, 1 - (limit - 1) / count) if count else 0.0
        retry_after = max(1.0, to_window_end + slide_out)
    return RateLimitState(limit=limit, remaining=remaining, retry_after=retry_after)


class TieredRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        scope = getattr(view, "throttle_scope", None)
        authenticated = getattr(request.user, "is_authenticated", False)
        if scope is None:
            scope = "private" if authenticated else "public"
        who, tier = _identity(request, scope)
        window = settings.RATE_LIMIT_WINDOW_SECONDS
        state = hit(scope, who, limit_for(scope, tier), window)
        if authenticated:
            # Read by RateLimitHeadersMiddleware: every authenticated answer shows its budget.
            request._request.rate_limit = state
        self.state = state
        return state.retry_after == 0

    def wait(self) -> float:
        return self.state.retry_after
