"""The exchange's admin site: the dashboard on its index and the navigation by role (apps.site reads
every app, so the site lives here; the login's rate limit stays in apps.accounts)."""

from django.contrib.admin import AdminSite
from django_otp.admin import OTPAdminSite

from apps.accounts.admin_site import RateLimitedLoginMixin
from apps.site import dashboard, navigation


class ExchangeAdminMixin:
    site_header = "Exchange administration"
    site_title = "Exchange administration"
    index_title = "Dashboard"
    index_template = "admin/exchange/index.html"

    def get_app_list(self, request, app_label=None):
        """The sidebar and the index: sections by role (apps.site.navigation). An app's page
        (/admin/<app_label>/, the breadcrumbs' middle link, named after its section by the app's
        verbose name) shows the section the app's models are in: /admin/orders/ is "Trading"."""
        sections = navigation.sections(self._build_app_dict(request))
        if app_label is None:
            return sections
        return [section for section in sections if app_label in section["app_labels"]]

    def index(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "dashboard": dashboard.build(request)}
        return super().index(request, extra_context)


class ExchangeOTPAdminSite(RateLimitedLoginMixin, ExchangeAdminMixin, OTPAdminSite):
    """Staff enter a TOTP code with their password (django-otp)."""


class ExchangeAdminSite(RateLimitedLoginMixin, ExchangeAdminMixin, AdminSite):
    """Development only (ADMIN_REQUIRE_OTP=false needs DEBUG on)."""
