from django.apps import AppConfig


class SiteConfig(AppConfig):
    """The site above the apps: the home and trading pages, the health and readiness probes, the API's
    docs page, and `seed_demo`. It may import any app; no app imports it (docs/architecture.md)."""

    name = "apps.site"
    label = "site"
    verbose_name = "Site"

    def ready(self):
        # Third-party apps named after the admin's section their models are in (apps.site.navigation):
        # their own names ("Authentication and Authorization", "OTP_TOTP", "Token Blacklist") would head
        # those models' breadcrumbs. Set here rather than by AppConfig subclasses in INSTALLED_APPS:
        # simplejwt's blacklist models are abstract unless its package name is listed there.
        from django.apps import apps

        for label in ("auth", "otp_totp", "otp_static", "token_blacklist"):
            apps.get_app_config(label).verbose_name = "Users and access"
