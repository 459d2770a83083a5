from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from rest_framework_simplejwt.token_blacklist.admin import OutstandingTokenAdmin as BaseOutstandingTokenAdmin
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from apps.accounts import services
from apps.accounts.models import ApiKey, User
from apps.core.admin import LargeTableAdmin


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "tier", "is_staff", "is_active", "date_joined")
    list_filter = ("tier", "is_staff", "is_active")
    fieldsets = (*BaseUserAdmin.fieldsets, ("Exchange", {"fields": ("tier",)}))


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Staff see and revoke keys; nobody sees a secret (it is encrypted and never displayed)."""

    list_display = ("label", "user", "key", "permissions", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("label", "key", "user__username", "user__email")
    fields = ("user", "label", "key", "permissions", "ip_allowlist", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # keys are created by their owners, who must see the secret once

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        count = services.revoke_api_keys(keys=queryset)
        self.message_user(request, f"Revoked {count} key(s).")


admin.site.unregister(OutstandingToken)


@admin.register(OutstandingToken)
class OutstandingTokenAdmin(LargeTableAdmin, BaseOutstandingTokenAdmin):
    """simplejwt's list of issued refresh tokens without the tokens themselves: staff could
    otherwise copy one and act as its user. A row per login, without bound: newest first, found by
    a user's id (its index) or the exact jti (unique)."""

    ordering = ("-id",)
    id_search_fields = ("user_id",)
    exact_search_fields = ("jti",)
    user_search_fields = ("user",)
    search_help_text = "A user's id or username, or a token's exact jti."

    def get_fields(self, request, obj=None):
        return ["jti", "user", "created_at", "expires_at"]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)
