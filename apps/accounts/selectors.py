"""Account reads."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.accounts.identity import kyc_level, two_factor_enabled
from apps.accounts.models import ApiKey, User
from apps.core import crypto


def account_profile(user: User) -> dict:
    return {
        "id": user.id,
        "email": user.email,
        "username": user.username,
        "tier": user.tier,
        "kyc_level": kyc_level(user),
        "two_factor_enabled": two_factor_enabled(user),
    }


def api_keys_for(user: User) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user, revoked_at__isnull=True).order_by("-created_at", "-id")


def active_api_key(key: str) -> ApiKey | None:
    if len(key) != 32:
        return None
    return ApiKey.objects.select_related("user").filter(key=key, revoked_at__isnull=True).first()


def api_key_secret(api_key: ApiKey) -> str:
    return crypto.decrypt(api_key.secret_encrypted)
