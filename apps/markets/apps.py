from django.apps import AppConfig


class MarketsConfig(AppConfig):
    name = "apps.markets"
    label = "markets"
    verbose_name = "Markets"

    def ready(self):
        # Imported once the app registry is ready (Django's start-up order): these modules import models.
        from apps.markets import (
            consumers,  # noqa: F401 - registers the book, trades and ticker channels
            signals,
        )

        signals.connect()
