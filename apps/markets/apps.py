from django.apps import AppConfig
from django.db.models.signals import post_migrate


class MarketsConfig(AppConfig):
    name = "apps.markets"
    label = "markets"
    verbose_name = "Trading"  # its section in the admin (apps.site.navigation)

    def ready(self):
        # Imported once the app registry is ready (Django's start-up order): these modules import models.
        from apps.markets import (
            consumers,  # noqa: F401 - registers the book, trades and ticker channels
            signals,
        )
        from apps.markets.roles import ensure_trading_group

        signals.connect()
        # Every app's post_migrate, not only this one's: orders' and trades' permissions (apps above)
        # are created after markets' signal has gone.
        post_migrate.connect(ensure_trading_group, dispatch_uid="markets.roles")
