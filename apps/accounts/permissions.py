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
        if hasattr(view, "api_key_permission"):
            needed = view.api_key_permission
            if callable(needed):
                needed = needed(request)
        else:
            needed = "read" if request.method in ("GET", "HEAD", "OPTIONS") else None
        if needed is None:
            self.message = "This endpoint cannot be used with an API key; log in instead."
        elif needed in request.auth.permissions:
            return True
        throttling.count_refused(request, view)
        return False
