from django.apps import AppConfig


class PortfolioConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.portfolio"
    verbose_name = "Trading"  # its section in the admin (apps.site.navigation)
