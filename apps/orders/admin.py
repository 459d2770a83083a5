from django.contrib import admin

from apps.core.admin import LargeTableAdmin, ReadOnlyModelAdmin
from apps.orders.models import Order


@admin.register(Order)
class OrderAdmin(LargeTableAdmin, ReadOnlyModelAdmin):
    """Orders change only through the API and the matcher; the admin shows them. Newest first; each
    filter has an index leading on it and the id ((status, -id), (market, -id): migration 0004);
    a number in the search box finds the order with that id; `?user=<id>` a user's orders."""

    list_display = ("id", "user", "market", "side", "type", "price", "quantity", "filled_quantity", "status",
                    "created_at")  # fmt: skip
    list_filter = ("status", "market")
    list_select_related = ("user", "market")
    id_search_fields = ("id",)
    user_search_fields = ("user",)
    search_help_text = "An order's id, or a username (their orders)."
