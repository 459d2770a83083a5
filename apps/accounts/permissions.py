"""What a signed API-key request may do: its key's permissions, per view."""

from rest_framework.permissions import BasePermission

from apps.accounts import throttling
from apps.accounts.models import ApiKey


class ApiKeyScope(BasePermission):
    """Views say which key permission they need with `api_key_permission` ("read", "trade",
    "withdraw"), or None for "never with an API key" (key management, 2FA). Without the attribute
    a safe method needs "read" and an unsafe one is refused: new endpoints are closed to keys until
    they say otherwise. Requests authenticated otherwise (JWT) pass."""

    message = "This API key does not have the permission this endpoint needs."

    def has_permission(self, request, view):
        if not isinstance(request.auth, ApiKey):
            return True
        needed = permission_needed(view, request)
        if needed is None:
            self.message = "This endpoint cannot be used with an API key; log in instead."
        elif needed in request.auth.permissions:
            return True
        throttling.count_refused(request, view)
        return False


def permission_needed(view, request) -> str | None:
    """The key permission `view` needs for `request` ("read", "trade", "withdraw"), or None when
    no API key may make it. The OpenAPI schema reads it too (apps.accounts.schema): an operation
    that refuses keys does not list the key scheme."""
    if hasattr(view, "api_key_permission"):
        needed = view.api_key_permission
        return needed(request) if callable(needed) else needed
    return "read" if request.method in ("GET", "HEAD", "OPTIONS") else None
