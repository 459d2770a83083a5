from django.apps import AppConfig


class MarketsConfig(AppConfig):
    name = "apps.markets"
    label = "markets"
    verbose_name = "Markets"

    def ready(self):
        from apps.markets import (
            consumers,  # noqa: F401 - registers the book, trades and ticker channels
            signals,
        )

        signals.connect()
