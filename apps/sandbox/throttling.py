"""The faucet's budget: SANDBOX_FAUCET_RATE credits per user (e.g. 10/hour), whichever token or
API key they come with, counted in the same Redis sliding window as every rate limit
(apps.accounts.throttling).

Only credits count. The throttle reserves one place in the window as the request arrives (atomically,
so concurrent requests cannot overshoot the budget), and `settle` gives it back when the answer
credited nothing: invalid input, an unknown currency, a refusal by another throttle, or a replay. A
request whose Idempotency-Key already has a stored answer is a replay and is not throttled at all,
so a client retrying a credit it never saw gets its answer even with the budget used up.
"""

from __future__ import annotations

import secrets

from rest_framework.throttling import BaseThrottle

from apps.accounts import throttling
from apps.accounts.throttling import RateLimitState
from apps.core import idempotency
from apps.sandbox import limits

SCOPE = "faucet"


class FaucetThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        self.state = None
        if request.method != "POST" or not request.user.is_authenticated or idempotency.has_stored_answer(request):
            return True
        limit, window = limits.rate()
        who, member = f"user:{request.user.pk}", secrets.token_hex(8)
        self.state = throttling.hit(SCOPE, who, limit, window, member=member)
        # The headers show this budget, the one that binds here (instead of the tiered one).
        request._request.rate_limit = self.state
        if self.state.retry_after:
            return False
        request._request.faucet_reservation = (who, member)
        return True

    def wait(self) -> float | None:
        return self.state.retry_after if self.state else None


def settle(request, *, credited: bool) -> None:
    """After the answer: give the reserved place back unless this request credited funds."""
    reservation = getattr(request._request, "faucet_reservation", None)
    if reservation is None or credited:
        return
    throttling.forget(SCOPE, *reservation)
    del request._request.faucet_reservation
    state = request._request.rate_limit
    request._request.rate_limit = RateLimitState(state.limit, min(state.limit, state.remaining + 1), 0.0)
