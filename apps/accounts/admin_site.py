"""The admin site: OTP required for staff (django-otp), and a brute-force limit on its login."""

from django.conf import settings
from django.contrib.admin import AdminSite
from django.template.response import TemplateResponse
from django_otp.admin import OTPAdminSite

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


class ExchangeOTPAdminSite(RateLimitedLoginMixin, OTPAdminSite):
    pass


class ExchangeAdminSite(RateLimitedLoginMixin, AdminSite):
    """Development only (ADMIN_REQUIRE_OTP=false needs DEBUG on)."""
