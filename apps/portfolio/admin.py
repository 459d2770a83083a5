from django.contrib import admin

from apps.core.admin import LargeTableAdmin, ReadOnlyModelAdmin
from apps.portfolio.models import Position, Snapshot


@admin.register(Position)
class PositionAdmin(LargeTableAdmin, ReadOnlyModelAdmin):
    """Derived from the ledger by apps.portfolio.services: read, never edited. One row per user and
    currency; a number finds a user's positions ((user, ...) index)."""

    list_display = ("user", "currency", "quantity", "cost", "realized_pnl", "valuation_currency", "unpriced",
                    "realized_incomplete")  # fmt: skip
    list_filter = ("currency", "unpriced", "realized_incomplete")  # bounded: users x currencies
    list_select_related = ("user",)
    ordering = ("-account",)  # the primary key: one position per ledger account
    id_search_fields = ("user_id",)
    user_search_fields = ("user",)
    search_help_text = "A user's id or username."


@admin.register(Snapshot)
class SnapshotAdmin(LargeTableAdmin, ReadOnlyModelAdmin):
    """A row per user a day, without bound. Newest first; a user's through the (user, date) index.
    No filter by date: no index leads on it."""

    list_display = ("id", "user", "date", "total_value", "valuation_currency", "realized_pnl", "unrealized_pnl")
    list_select_related = ("user",)
    id_search_fields = ("user_id",)
    user_search_fields = ("user",)
    search_help_text = "A user's id or username (their snapshots)."
