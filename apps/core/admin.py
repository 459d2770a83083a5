from django.contrib import admin

from apps.core.models import AuditEvent


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """For records only their own code writes (the audit log, orders, trades): the admin shows them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyModelAdmin):
    """Read-only: the log is append-only (the database refuses updates and deletes)."""

    list_display = ("created_at", "actor", "action", "target_type", "target_id", "reason")
    list_filter = ("action", "target_type")
    search_fields = ("target_id", "actor__username", "reason")
    date_hierarchy = "created_at"
