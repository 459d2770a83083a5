from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView

from apps.kyc import views as kyc_views
from apps.site import views as site_views
from apps.site.admin_site import ExchangeAdminSite, ExchangeOTPAdminSite

# Order entry first: Django tries the patterns in turn on every request, and no other app's path
# starts with "orders" (a third of URL resolution's CPU for POST /orders when it came sixth).
api_v1 = [
    path("", include("apps.orders.urls")),
    path("", include("apps.site.urls")),
    path("", include("apps.accounts.urls")),
    path("", include("apps.kyc.urls")),
    path("", include("apps.wallets.urls")),
    path("", include("apps.markets.urls")),
    path("", include("apps.trades.urls")),
    path("", include("apps.portfolio.urls")),
]
if settings.EXCHANGE_SANDBOX:
    # Sandbox mode only. Off, the faucet is not routed at all: its path is an unknown URL (404
    # `not_found`, like any other) and it is absent from the OpenAPI schema.
    api_v1.append(path("", include("apps.sandbox.urls")))

# Staff enter a TOTP code with their password (django-otp's admin site); logins are rate-limited; the
# index is the dashboard of each role (apps.site.admin_site).
admin.site.__class__ = ExchangeOTPAdminSite if settings.ADMIN_REQUIRE_OTP else ExchangeAdminSite

urlpatterns = [
    path("", site_views.home, name="home"),
    path("trade/", site_views.trade, name="trade"),
    path("trade/<str:symbol>", site_views.trade, name="trade-market"),
    path("healthz", site_views.HealthView.as_view(), name="healthz"),
    path("readyz", site_views.ReadinessView.as_view(), name="readyz"),
    path("metrics", site_views.prometheus_metrics, name="metrics"),
    path("ws/v1/", site_views.stream_redirect, name="stream"),
    path("admin/kyc/documents/<int:document_id>", kyc_views.document, name="kyc-document"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", site_views.SwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    # Unknown API paths answer the JSON error format even with DEBUG on (no technical 404 page).
    re_path(r"^api/", site_views.api_not_found),
]

handler400 = "apps.core.errors.bad_request"
handler403 = "apps.core.errors.permission_denied"
handler404 = "apps.core.errors.page_not_found"
handler500 = "apps.core.errors.server_error"
