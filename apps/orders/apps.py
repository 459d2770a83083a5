from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "apps.orders"
    label = "orders"
    verbose_name = "Trading"  # its section in the admin (apps.site.navigation)

    def ready(self):
        # Imported once the app registry is ready (Django's start-up order): these modules import models.
        from apps.orders import consumers  # noqa: F401 - registers the private orders channel
