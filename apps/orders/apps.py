from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "apps.orders"
    label = "orders"
    verbose_name = "Orders"

    def ready(self):
        from apps.orders import consumers  # noqa: F401 - registers the private orders channel
