from django.apps import AppConfig


class SiteConfig(AppConfig):
    """The site above the apps: the home and trading pages, the health and readiness probes, the API's
    docs page, and `seed_demo`. It may import any app; no app imports it (docs/architecture.md)."""

    name = "apps.site"
    label = "site"
    verbose_name = "Site"
