from django.contrib import admin, messages

from apps.markets import services
from apps.markets.models import Market


@admin.register(Market)
class MarketAdmin(admin.ModelAdmin):
    list_display = ("symbol", "status", "status_reason", "tick_size", "lot_size", "min_notional", "maker_fee",
                    "taker_fee", "updated_at")  # fmt: skip
    list_filter = ("status",)
    search_fields = ("symbol",)
    actions = ("halt", "resume")

    def get_readonly_fields(self, request, obj=None):
        # The engine works in integer ticks and lots of these steps: they cannot change under open orders.
        fixed = ("symbol", "base", "quote", "tick_size", "lot_size")
        return (*fixed, "status", "status_reason") if obj else ("status", "status_reason")

    def save_model(self, request, obj, form, change):
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data if name in services.EDITABLE_FIELDS}
            services.update_market(market=obj, changes=changes, actor=request.user)
            return
        created = services.create_market(
            base=obj.base_id, quote=obj.quote_id, tick_size=obj.tick_size, lot_size=obj.lot_size,
            min_notional=obj.min_notional, maker_fee=obj.maker_fee, taker_fee=obj.taker_fee, actor=request.user,
            **{name: getattr(obj, name) for name in services.LIMIT_FIELDS},
        )  # fmt: skip
        obj.pk = created.pk

    def get_changeform_initial_data(self, request):
        return {"symbol": ""}

    def get_fields(self, request, obj=None):
        fields = ["base", "quote", "tick_size", "lot_size", "min_notional", "maker_fee", "taker_fee",
                  "max_order_quantity", "max_order_notional", "price_band", "max_open_orders", "status",
                  "status_reason"]  # fmt: skip
        return (["symbol"] if obj else []) + fields

    @admin.action(description="Halt trading (cancels still go through)")
    def halt(self, request, queryset):
        for market in queryset:
            services.set_status(market=market, status=Market.Status.HALTED, reason="halted by staff",
                                actor=request.user)  # fmt: skip
        messages.success(request, f"Halted {queryset.count()} market(s).")

    @admin.action(description="Resume trading")
    def resume(self, request, queryset):
        for market in queryset:
            services.set_status(market=market, status=Market.Status.TRADING, actor=request.user)
        messages.success(request, f"Resumed {queryset.count()} market(s).")
