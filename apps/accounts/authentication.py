"""Request authentication: JWT bearer tokens and signed API-key requests (docs/api.md "Authentication")."""

from __future__ import annotations

import hmac
import math
import re

from django.conf import settings
from rest_framework import authentication
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied, Throttled
from rest_framework_simplejwt import authentication as jwt_authentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.tokens import AccessToken
from rest_framework_simplejwt.utils import aware_utcnow

from apps.accounts import identity, keyring, markers, selectors, services, signing, throttling
from apps.accounts.exceptions import ApiKeyAuthenticationFailed, IpNotAllowed
from apps.accounts.net import address_key, client_ip, ip_allowed
from apps.core.exceptions import StreamAuthenticationFailed

_KEY_ID = re.compile(r"[0-9a-f]{32}")
_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")


class JWTAuthentication(jwt_authentication.JWTAuthentication):
    """simplejwt's bearer authentication with one error code for every bad token, answered from the
    token's claims: no database query, and one Redis round trip that checks the user's markers and
    counts the request against its rate limit (apps.accounts.identity, apps.accounts.markers)."""

    def authenticate(self, request):
        try:
            header = self.get_header(request)
            raw = None if header is None else self.get_raw_token(header)
            if raw is None:
                return None
            token = self.get_validated_token(raw)
            view = (getattr(request, "parser_context", None) or {}).get("view")
            return user_for_token(self, token, request=request, view=view), token
        except (InvalidToken, AuthenticationFailed) as exc:
            # Checking a token costs no lookup, so the budget is checked only once one has failed.
            _count_failure(request)
            raise ApiKeyAuthenticationFailed("invalid_token", "The access token is invalid or expired.") from exc

    def authenticate_header(self, request):
        return 'Bearer realm="api"'

    def get_validated_token(self, raw_token):
        """simplejwt's validation, remembered per process for tokens that passed it: a client sends
        the same access token with every request of its lifetime, and checking its signature and
        claims again cost a tenth of an order's CPU. A remembered token's expiry is still checked
        each time, as simplejwt checks it; what else validation found is a function of the token's
        bytes and the signing key alone (revocation is the markers' job, in user_for_token)."""
        raw = raw_token if isinstance(raw_token, bytes) else str(raw_token).encode()
        payload = _validated.get(raw)
        if payload is not None:
            token = AccessToken.__new__(AccessToken)
            token.token, token.current_time, token.payload = raw_token, aware_utcnow(), dict(payload)
            try:
                token.check_exp()
            except TokenError:
                _validated.pop(raw, None)  # expired: validated again below, refused as before
            else:
                return token
        token = super().get_validated_token(raw_token)
        if type(token) is AccessToken:
            if len(_validated) >= _VALIDATED_MAX:
                _validated.clear()
            _validated[raw] = dict(token.payload)
        return token


# Raw access token -> its payload, for tokens that passed simplejwt's validation (signature, type,
# claims) in this process. Bounded: only valid tokens get in, and a full cache starts again.
_validated: dict[bytes, dict] = {}
_VALIDATED_MAX = 10_000


def user_for_token(jwt: jwt_authentication.JWTAuthentication, token, *, request=None, view=None):
    """The user a validated access token acts for. With claims: a User made from them once the
    user's markers say they still hold (counting the request against `view`'s rate limit in the same
    round trip); a token whose claims went stale reads the database, as does one issued without
    claims. Raises InvalidToken when the token was revoked (password change, user disabled) or its
    session logged out (except on a view with `accepts_ended_session`: logging out again)."""
    claims = identity.claims_in(token)
    if claims is None:
        return jwt.get_user(token)
    rate = (throttling.planned_for(view, f"user:{claims.user_id}", claims.tier, request)
            if request is not None else None)  # fmt: skip
    admission = markers.admit(
        mode="jwt", user_id=claims.user_id, marker=claims.marker, session=claims.session, rate=rate,
        in_request=request is not None,
    )  # fmt: skip
    if admission.answer == markers.REVOKED or (
        admission.answer == markers.SESSION_ENDED and not getattr(view, "accepts_ended_session", False)
    ):
        raise InvalidToken("The token was revoked.")
    if admission.answer == markers.CLAIMS_CHANGED:
        return jwt.get_user(token)
    if rate is not None and admission.answer == markers.OK:
        throttling.remember_admitted(request, rate, admission)
    return identity.user_from(claims)


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
        if not keyring.cached(request.headers[signing.KEY_HEADER]):
            # Before a lookup and a decryption; a cached key's check looks at the budget in its round trip.
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
            request=request,
            view=(request.parser_context or {}).get("view"),
            failures=throttling.planned(
                "auth_failures", address_key(request), settings.STRICT_RATE_LIMITS["auth_failures"], count=False
            ),
        )

    def authenticate_header(self, request):
        return 'Signature realm="api"'


def verify_signed_request(
    *, key_id, timestamp, sent, method: str, path: str, body: bytes, ip: str, request=None, view=None, failures=None
):
    """(user, api_key) for a signed request, or ApiKeyAuthenticationFailed / IpNotAllowed.

    The key comes from the process's cache (apps.accounts.keyring); its versions, the replay claim
    and `view`'s rate limit are checked in one Redis round trip. A check that fails on a cached
    key is made again on a fresh copy, so every refusal says what the database says."""
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
    fresh = not keyring.cached(key_id)  # loaded now: a failed check is not retried on another copy
    entry = keyring.entry(key_id)
    for _ in range(3):
        if entry is None:
            raise ApiKeyAuthenticationFailed("invalid_api_key", "Unknown or revoked API key.")
        try:
            if not ip_allowed(ip, entry.api_key.ip_allowlist):
                raise IpNotAllowed()
            expected = signing.signature(entry.secret, timestamp, method, path, body)
            if not hmac.compare_digest(expected, sent.lower()):
                raise ApiKeyAuthenticationFailed("invalid_signature", "The signature does not match the request.")
        except (ApiKeyAuthenticationFailed, IpNotAllowed):
            if fresh:
                raise
            entry, fresh = keyring.entry(key_id, fresh=True), True
            continue
        active = entry.user.is_active
        rate = None
        if request is not None and active:
            rate = throttling.planned_for(view, f"key:{entry.api_key.pk}", entry.user.tier, request)
        admission = markers.admit(
            mode="key", user_id=entry.api_key.user_id, marker=entry.marker, key=entry.api_key.key,
            key_version=entry.key_version, signature=expected, rate=rate, failures=failures,
            in_request=request is not None,
        )  # fmt: skip
        if admission.answer == markers.TOO_MANY_FAILURES:
            raise Throttled(wait=max(1.0, math.ceil(admission.wait_ms / 1000)))
        if admission.answer == markers.STALE_KEY:
            entry, fresh = keyring.entry(key_id, fresh=True), True
            continue
        if admission.answer == markers.REPLAYED:
            raise ApiKeyAuthenticationFailed("replayed_request", "This signed request was already used.")
        if not active:
            raise ApiKeyAuthenticationFailed("invalid_api_key", "Unknown or revoked API key.")
        if rate is not None:
            throttling.remember_admitted(request, rate, admission)
        user, api_key = keyring.for_request(entry)
        if admission.record_use:
            services.record_api_key_use(api_key=api_key)
        return user, api_key
    # The key's versions kept moving while it was being read: refuse rather than loop.
    raise ApiKeyAuthenticationFailed("invalid_api_key", "Unknown or revoked API key.")


class _Peer:
    """What the per-address failure budget reads of a request, for a WebSocket client."""

    def __init__(self, ip: str):
        self.META = {"REMOTE_ADDR": ip}


STREAM_PATH = "/ws/v1/"


def authenticate_stream(content: dict, *, ip: str):
    """Authenticate a WebSocket connection (docs/api.md "WebSocket"): `{"token": <JWT access>}` or
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
                return user_for_token(jwt, validated), None, validated
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
    API key is not revoked, and a JWT was not revoked (password change, user disabled, logout: its
    markers, apps.accounts.markers). The token's expiry is not held against a live connection: it
    was checked when the connection authenticated."""
    if api_key is not None:
        current = selectors.active_api_key(api_key.key)
        return current is not None and current.user.is_active
    try:
        return user_for_token(jwt_authentication.JWTAuthentication(), token).is_active
    except (InvalidToken, AuthenticationFailed):
        return False
