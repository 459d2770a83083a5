"""The admin login's brute-force limit. The admin site itself (OTP required for staff, the dashboard,
the navigation by role) is apps.site.admin_site, above every app whose figures it shows."""

from django.conf import settings
from django.template.response import TemplateResponse

from apps.accounts import throttling
from apps.accounts.net import address_key


class RateLimitedLoginMixin:
    """Login attempts per client address and window (STRICT_RATE_LIMITS["admin_login"]); the form
    tells a right password from a wrong one once OTP is asked for, so guessing must be slow."""

    def login(self, request, extra_context=None):
        if request.method == "POST":
            limit = settings.STRICT_RATE_LIMITS["admin_login"]
            state = throttling.hit("admin_login", address_key(request), limit)
            if state.retry_after:
                error = {"message": "Too many login attempts. Try again later."}
                response = TemplateResponse(request, "error.html", {"status": 429, "error": error}, status=429)
                response["Retry-After"] = str(int(state.retry_after + 0.999))
                return response
        return super().login(request, extra_context)
