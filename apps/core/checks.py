"""System checks of the core settings that `manage.py check --deploy` reports."""

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def metrics_token_in_production(app_configs, **kwargs):
    # /metrics shows per-currency user totals and wallet balances; without a token and outside
    # development it answers nobody (apps.site.views.prometheus_metrics), so the scraper would fail.
    if settings.METRICS_REQUIRE_TOKEN and not settings.METRICS_TOKEN:
        return [Error(
            "METRICS_TOKEN is not set: /metrics answers no one (it would show balances to anyone).",
            hint="Set a long random METRICS_TOKEN and give it to Prometheus (authorization: credentials_file).",
            id="core.E001",
        )]  # fmt: skip
    return []
