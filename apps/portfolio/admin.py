from django.contrib import admin

from apps.core.admin import ReadOnlyModelAdmin
from apps.portfolio.models import Position, Snapshot


@admin.register(Position)
class PositionAdmin(ReadOnlyModelAdmin):
    """Derived from the ledger by apps.portfolio.services: read, never edited."""

    list_display = ("user", "currency", "quantity", "cost", "realized_pnl", "valuation_currency", "unpriced",
                    "realized_incomplete")  # fmt: skip
    list_filter = ("currency", "unpriced", "realized_incomplete")
    search_fields = ("user__username", "user__email")


@admin.register(Snapshot)
class SnapshotAdmin(ReadOnlyModelAdmin):
    list_display = ("user", "date", "total_value", "valuation_currency", "realized_pnl", "unrealized_pnl")
    list_filter = ("date",)
    search_fields = ("user__username", "user__email")
