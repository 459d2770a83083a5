from django.contrib import admin

from apps.portfolio.models import Position, Snapshot


@admin.register(Position)
class PositionAdmin(admin.ModelAdmin):
    list_display = ("user", "currency", "quantity", "cost", "realized_pnl", "valuation_currency", "unpriced")
    list_filter = ("currency", "unpriced")
    search_fields = ("user__username", "user__email")
    readonly_fields = [f.name for f in Position._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Snapshot)
class SnapshotAdmin(admin.ModelAdmin):
    list_display = ("user", "date", "total_value", "valuation_currency", "realized_pnl", "unrealized_pnl")
    list_filter = ("date",)
    search_fields = ("user__username", "user__email")
    readonly_fields = [f.name for f in Snapshot._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
