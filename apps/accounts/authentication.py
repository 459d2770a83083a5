"""Request authentication: JWT bearer tokens and signed API-key requests (API.md, Conventions)."""

from __future__ import annotations

import hmac
import re

from django.conf import settings
from rest_framework import authentication
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied, Throttled
from rest_framework_simplejwt import authentication as jwt_authentication
from rest_framework_simplejwt.exceptions import InvalidToken

from apps.accounts import selectors, services, signing, throttling
from apps.accounts.exceptions import ApiKeyAuthenticationFailed, IpNotAllowed
from apps.accounts.net import address_key, client_ip, ip_allowed

_KEY_ID = re.compile(r"[0-9a-f]{32}")
_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")


class JWTAuthentication(jwt_authentication.JWTAuthentication):
    """simplejwt's bearer authentication with one error code for every bad token."""

    def authenticate(self, request):
        try:
            return super().authenticate(request)
        except (InvalidToken, AuthenticationFailed) as exc:
            # Checking a token costs no lookup, so the budget is checked only once one has failed.
            _count_failure(request)
            raise ApiKeyAuthenticationFailed("invalid_token", "The access token is invalid or expired.") from exc

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


def _guard_failures(request) -> None:
    """Refuse an address that has failed authentication too often in the window (a flood of bad
    tokens or guessed signatures would otherwise cost lookups and decryptions without limit)."""
    state = throttling.hit(
        "auth_failures", address_key(request), settings.STRICT_RATE_LIMITS["auth_failures"], count=False
    )
    if state.retry_after:
        raise Throttled(wait=state.retry_after)


def _count_failure(request) -> None:
    """Record a failed authentication; past the address's budget, answer 429 instead of 401."""
    state = throttling.hit("auth_failures", address_key(request), settings.STRICT_RATE_LIMITS["auth_failures"])
    if state.retry_after:
        raise Throttled(wait=state.retry_after)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """X-API-Key + X-API-Timestamp + X-API-Signature. The key acts as its owner, limited to its
    permissions (apps.accounts.permissions.ApiKeyScope); `request.auth` is the ApiKey.

    Checks, in order: all headers present; timestamp within the window; key exists and is not
    revoked; caller's address in the allowlist; signature; not seen before (Redis, across every
    web process). A replayed request fails even if everything else is right."""

    def authenticate(self, request):
        if request.headers.get(signing.KEY_HEADER) is None:
            return None
        _guard_failures(request)
        try:
            return self._authenticate(request)
        except (AuthenticationFailed, PermissionDenied):
            _count_failure(request)
            raise

    def _authenticate(self, request):
        return verify_signed_request(
            key_id=request.headers[signing.KEY_HEADER],
            timestamp=request.headers.get(signing.TIMESTAMP_HEADER, ""),
            sent=request.headers.get(signing.SIGNATURE_HEADER, ""),
            method=request.method,
            path=request.get_full_path(),
            body=request.body,
            ip=client_ip(request),
        )

    def authenticate_header(self, request):
        return 'Signature realm="api"'


def verify_signed_request(*, key_id, timestamp, sent, method: str, path: str, body: bytes, ip: str):
    """(user, api_key) for a signed request, or ApiKeyAuthenticationFailed / IpNotAllowed."""
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise ApiKeyAuthenticationFailed("invalid_api_key", "Unknown or revoked API key.")
    timestamp = str(timestamp) if isinstance(timestamp, int) and not isinstance(timestamp, bool) else timestamp
    if not isinstance(sent, str) or not _SIGNATURE.fullmatch(sent):
        raise ApiKeyAuthenticationFailed("invalid_signature", "X-API-Signature must be 64 hex digits.")
    if not isinstance(timestamp, str) or not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 16:
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
    if not ip_allowed(ip, api_key.ip_allowlist):
        raise IpNotAllowed()
    expected = signing.signature(selectors.api_key_secret(api_key), timestamp, method, path, body)
    if not hmac.compare_digest(expected, sent.lower()):
        raise ApiKeyAuthenticationFailed("invalid_signature", "The signature does not match the request.")
    if not services.claim_signature(api_key=api_key, signature=expected):
        raise ApiKeyAuthenticationFailed("replayed_request", "This signed request was already used.")
    if not api_key.user.is_active:
        raise ApiKeyAuthenticationFailed("invalid_api_key", "Unknown or revoked API key.")
    services.record_api_key_use(api_key=api_key)
    return api_key.user, api_key


class StreamAuthenticationFailed(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


class _Peer:
    """What the per-address failure budget reads of a request, for a WebSocket client."""

    def __init__(self, ip: str):
        self.META = {"REMOTE_ADDR": ip}


STREAM_PATH = "/ws/v1/"


def authenticate_stream(content: dict, *, ip: str):
    """Authenticate a WebSocket connection (API.md, WebSocket): `{"token": <JWT access>}` or
    `{"api_key", "timestamp", "signature"}` with the signature over timestamp + "GET" + "/ws/v1/".
    The same checks and failure budget as the REST API. Returns (user, api_key or None); raises
    StreamAuthenticationFailed with the API error code. The caller keeps the answer's `credential`
    (`still_authenticated` checks it again while the connection lives)."""
    peer = _Peer(ip)
    try:
        _guard_failures(peer)
        try:
            if "token" in content:
                token = content["token"]
                if not isinstance(token, str) or not token or len(token) > 4096 or not token.isascii():
                    raise InvalidToken("not a token")
                jwt = jwt_authentication.JWTAuthentication()
                validated = jwt.get_validated_token(token.encode())
                return jwt.get_user(validated), None, validated
            if "api_key" in content:
                user, api_key = verify_signed_request(
                    key_id=content.get("api_key"), timestamp=content.get("timestamp"),
                    sent=content.get("signature"), method="GET", path=STREAM_PATH, body=b"", ip=ip,
                )  # fmt: skip
                return user, api_key, None
        except (InvalidToken, AuthenticationFailed) as exc:
            _count_failure(peer)
            if isinstance(exc, ApiKeyAuthenticationFailed):
                raise StreamAuthenticationFailed(exc.get_codes(), str(exc.detail)) from exc
            raise StreamAuthenticationFailed("invalid_token", "The access token is invalid or expired.") from exc
        except PermissionDenied as exc:
            _count_failure(peer)
            raise StreamAuthenticationFailed("ip_not_allowed", str(exc.detail)) from exc
    except Throttled as exc:
        raise StreamAuthenticationFailed(
            "rate_limited", f"Too many failed authentications; retry in {exc.wait or 1:.0f} seconds."
        ) from exc
    raise StreamAuthenticationFailed(
        "invalid_request", 'auth needs "token", or "api_key", "timestamp" and "signature".'
    )


def still_authenticated(user, api_key, token) -> bool:
    """Whether a WebSocket authenticated earlier may still act as `user`: the user is active, the
    API key is not revoked, and a JWT was not revoked by a password change (simplejwt's
    CHECK_REVOKE_TOKEN claim). The token's expiry is not held against a live connection: it was
    checked when the connection authenticated."""
    if api_key is not None:
        current = selectors.active_api_key(api_key.key)
        return current is not None and current.user.is_active
    try:
        return jwt_authentication.JWTAuthentication().get_user(token).is_active
    except (InvalidToken, AuthenticationFailed):
        return False
