"""Rate limits per tier and budget, counted in Redis (shared by every web process).

Budgets: `orders` (order entry), `private` (authenticated reads and account actions), `public`
(market data), each per tier (settings.RATE_LIMITS); and strict brute-force budgets (`login`,
`register`, `refresh`, `two_factor`, `admin_login`, `auth_failures`, settings.STRICT_RATE_LIMITS).
A view names its budget with `throttle_scope`; without one, authenticated requests count against
`private` and anonymous ones against `public`.

The count is exact over a sliding window: a sorted set of request times per identity and budget in
Redis, trimmed and checked in one atomic script (apps.accounts.markers; for a JWT or an API key the
same script checks the credential's revocation markers, in the same round trip). A refused request
is not recorded, so a client that keeps to its limit is never refused, and `Retry-After` is the
moment the oldest counted request leaves the window.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from apps.accounts import markers
from apps.accounts.models import ApiKey
from apps.accounts.net import address_key
from apps.core.redis import get_redis

TIERED_SCOPES = ("orders", "private", "public")


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
    in_request: bool = False,
) -> RateLimitState:
    """Record one request (or, with count=False, only look) against `limit` per `window` seconds.
    `member` names the recorded request, so that `forget` can take it back. `in_request`: the
    throttle of an HTTP request (markers.admit)."""
    now_ms = int((time.time() if now is None else now) * 1000)
    rate = planned(scope, who, limit, window, count=count, member=member or "")
    admission = markers.admit(rate=rate, now_ms=now_ms, in_request=in_request)
    return state_of(admission, limit)


def planned(scope: str, who: str, limit: int, window: int | None = None, count: bool = True, member: str = ""):
    return markers.RateHit(scope, who, limit, int((window or settings.RATE_LIMIT_WINDOW_SECONDS) * 1000), count, member)


def state_of(admission: markers.Admission, limit: int) -> RateLimitState:
    remaining = max(0, limit - admission.used)
    if admission.allowed:
        return RateLimitState(limit, remaining, 0.0)
    return RateLimitState(limit, remaining, max(1.0, math.ceil(admission.wait_ms / 1000)))


def forget(scope: str, who: str, member: str) -> None:
    """Take back one recorded request (it turned out not to use the budget)."""
    get_redis().zrem(_key(scope, who), member)


def _key(scope: str, who: str) -> str:
    return markers.rate_limit_key(scope, who)


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


def planned_for(view, who: str, tier: str, request=None) -> markers.RateHit | None:
    """The count TieredRateThrottle will make for an authenticated request to `view`, so that the
    authentication can make it in its own Redis round trip (None: the view has no such throttle)."""
    if view is None or not any(isinstance(t, TieredRateThrottle) for t in view.get_throttles()):
        return None
    scope = getattr(view, "throttle_scope", None) or "private"
    return markers.RateHit(scope, who, limit_for(scope, tier), int(settings.RATE_LIMIT_WINDOW_SECONDS * 1000),
                           weight(view, request))  # fmt: skip


def weight(view, request) -> int:
    """How many requests `request` counts as: 1, or what the view's `throttle_weight(request)` says
    (a batch endpoint: its number of orders)."""
    counted = getattr(view, "throttle_weight", None)
    return max(1, counted(request)) if counted is not None and request is not None else 1


def remember_admitted(request, rate: markers.RateHit, admission: markers.Admission) -> None:
    """The count made while authenticating `request`: TieredRateThrottle uses it instead of counting."""
    request._request.rate_limit_admitted = (rate.scope, rate.who, state_of(admission, rate.limit))


class TieredRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        scope = default_scope(request, view)
        who, tier = _identity(request, scope)
        admitted = getattr(getattr(request, "_request", request), "rate_limit_admitted", None)
        if admitted is not None and admitted[:2] == (scope, who):
            state = admitted[2]  # counted with the credential's check, in the same round trip
        else:
            rate = markers.RateHit(scope, who, limit_for(scope, tier), int(settings.RATE_LIMIT_WINDOW_SECONDS * 1000),
                                   weight(view, request))  # fmt: skip
            state = state_of(markers.admit(rate=rate, in_request=True), rate.limit)
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
