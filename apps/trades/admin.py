from django.contrib import admin

from apps.core.admin import ReadOnlyModelAdmin
from apps.trades.models import Trade


@admin.register(Trade)
class TradeAdmin(ReadOnlyModelAdmin):
    list_display = ("id", "market", "price", "quantity", "taker_side", "buyer", "seller", "created_at")
    list_filter = ("market",)
    search_fields = ("=id", "=buy_order__id", "=sell_order__id")
    list_select_related = ("market", "buyer", "seller")
    show_full_result_count = False
