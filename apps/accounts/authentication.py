"""Request authentication: JWT bearer tokens and signed API-key requests (API.md, Conventions)."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from rest_framework import authentication
from rest_framework_simplejwt import authentication as jwt_authentication
from rest_framework_simplejwt.exceptions import InvalidToken

from apps.accounts import selectors, services, signing
from apps.accounts.exceptions import ApiKeyAuthenticationFailed, IpNotAllowed


class JWTAuthentication(jwt_authentication.JWTAuthentication):
    """simplejwt's bearer authentication with one error code for every bad token."""

    def authenticate(self, request):
        try:
            return super().authenticate(request)
        except InvalidToken as exc:
            raise ApiKeyAuthenticationFailed("invalid_token", "The access token is invalid or expired.") from exc

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


def client_ip(request) -> str:
    # REMOTE_ADDR is the peer; behind a proxy uvicorn --proxy-headers sets it from X-Forwarded-For
    # for trusted proxies only (FORWARDED_ALLOW_IPS), so a client cannot choose its own address.
    return request.META.get("REMOTE_ADDR", "")


def ip_allowed(address: str, allowlist: list[str]) -> bool:
    if not allowlist:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(entry, strict=False) for entry in allowlist)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """X-API-Key + X-API-Timestamp + X-API-Signature. The key acts as its owner, limited to its
    permissions (apps.accounts.permissions.ApiKeyScope); `request.auth` is the ApiKey.

    Checks, in order: all headers present; timestamp within the window; key exists and is not
    revoked; caller's address in the allowlist; signature; not seen before (Redis, across every
    web process). A replayed request fails even if everything else is right."""

    def authenticate(self, request):
        key_id = request.headers.get(signing.KEY_HEADER)
        if key_id is None:
            return None
        timestamp = request.headers.get(signing.TIMESTAMP_HEADER, "")
        sent = request.headers.get(signing.SIGNATURE_HEADER, "")
        if not sent:
            raise ApiKeyAuthenticationFailed("invalid_signature", "X-API-Signature is missing.")
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 16:
            raise ApiKeyAuthenticationFailed("invalid_timestamp", "X-API-Timestamp must be unix milliseconds.")
        if abs(signing.now_ms() - int(timestamp)) > settings.API_KEY_TIMESTAMP_WINDOW_MS:
            raise ApiKeyAuthenticationFailed(
                "invalid_timestamp",
                f"X-API-Timestamp is more than {settings.API_KEY_TIMESTAMP_WINDOW_MS // 1000} seconds "
                "from the server's clock (GET /api/v1/time).",
            )
        api_key = selectors.active_api_key(key_id)
        if api_key is None:
            raise ApiKeyAuthenticationFailed("invalid_api_key", "Unknown or revoked API key.")
        if not ip_allowed(client_ip(request), api_key.ip_allowlist):
            raise IpNotAllowed()
        expected = signing.signature(
            selectors.api_key_secret(api_key), timestamp, request.method, request.get_full_path(), request.body
        )
        if not hmac.compare_digest(expected, sent.lower()):
            raise ApiKeyAuthenticationFailed("invalid_signature", "The signature does not match the request.")
        if not services.claim_signature(api_key=api_key, signature=expected):
            raise ApiKeyAuthenticationFailed("replayed_request", "This signed request was already used.")
        if not api_key.user.is_active:
            raise ApiKeyAuthenticationFailed("invalid_api_key", "Unknown or revoked API key.")
        services.record_api_key_use(api_key=api_key)
        return api_key.user, api_key

    def authenticate_header(self, request):
        return 'Signature realm="api"'
