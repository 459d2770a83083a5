from django.contrib import admin

from apps.core.admin import ReadOnlyModelAdmin
from apps.orders.models import Order


@admin.register(Order)
class OrderAdmin(ReadOnlyModelAdmin):
    """Orders change only through the API and the matcher; the admin shows them."""

    list_display = ("id", "user", "market", "side", "type", "price", "quantity", "filled_quantity", "status",
                    "created_at")  # fmt: skip
    list_filter = ("status", "market", "type", "side")
    search_fields = ("=id", "user__username", "client_order_id")
    list_select_related = ("user", "market")
    show_full_result_count = False
