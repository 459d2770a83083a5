from django.contrib import admin

from apps.wallets.models import Account, Currency, Entry, Hold, Transaction


@admin.register(Currency)
class CurrencyAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "decimals", "confirmations", "withdrawal_fee", "min_withdrawal",
                    "auto_approve_limit", "hot_min", "hot_target", "hot_max", "is_active")  # fmt: skip
    list_editable = ("is_active",)

    def get_readonly_fields(self, request, obj=None):
        # Decimals cannot change once amounts exist in that precision.
        return ("code", "decimals") if obj else ()


class ReadOnlyAdmin(admin.ModelAdmin):
    """The ledger is written only by apps.wallets.ledger; the admin only shows it."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "user", "currency", "available", "locked")
    list_filter = ("kind", "currency")
    search_fields = ("user__username", "user__email")
    list_select_related = ("user", "currency")


class EntryInline(admin.TabularInline):
    model = Entry
    fields = ("account", "currency", "bucket", "amount")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "kind", "reference_type", "reference_id", "idempotency_key")
    list_filter = ("kind",)
    search_fields = ("idempotency_key", "reference_id")
    inlines = [EntryInline]


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ("id", "account", "owner_type", "owner_id", "amount", "status", "created_at")
    list_filter = ("status", "owner_type")
