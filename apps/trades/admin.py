from django.contrib import admin

from apps.core.admin import LargeTableAdmin, ReadOnlyModelAdmin
from apps.trades.models import Trade


@admin.register(Trade)
class TradeAdmin(LargeTableAdmin, ReadOnlyModelAdmin):
    """Newest first; by market through (market, -id); a number finds the trade with that id and the
    fills of the order with that id (both sides' order indexes)."""

    list_display = ("id", "market", "price", "quantity", "taker_side", "buyer", "seller", "created_at")
    list_filter = ("market",)
    list_select_related = ("market", "buyer", "seller")
    id_search_fields = ("id", "buy_order_id", "sell_order_id")
    user_search_fields = ("buyer", "seller")
    search_help_text = "A trade's id, an order's id (its fills), or a username (their fills)."
