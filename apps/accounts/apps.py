from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Users and access"  # its section in the admin (apps.site.navigation)

    def ready(self):
        # Imported once the app registry is ready (Django's start-up order): these modules import models.
        from apps.accounts import (
            consumers,  # noqa: F401 - registers how a WebSocket authenticates
            schema,  # noqa: F401 - registers the OpenAPI auth schemes
            signals,
        )

        signals.connect()
