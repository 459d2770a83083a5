from django.apps import AppConfig


class TradesConfig(AppConfig):
    name = "apps.trades"
    label = "trades"
    verbose_name = "Trading"  # its section in the admin (apps.site.navigation)
