"""API keys cached in each web process: the key's row, its owner with the owner's claims
(apps.accounts.identity) and the decrypted secret, so that a signed request needs no query and no
decryption. An entry is as fresh as the versions it was read at, the key's and its owner's markers
(apps.accounts.markers); every request compares them in its one Redis round trip and reloads the
entry when either moved (revocation, owner disabled, owner's tier or KYC changed): no staleness window."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from django.db import transaction

from apps.accounts import identity, markers, selectors
from apps.accounts.models import ApiKey, User

# API keys are not limited by access-token lifetimes: keep their owners' markers for a day.
OWNER_MARKER_TTL_MS = 24 * 3600 * 1000
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class Entry:
    api_key: ApiKey
    user: User
    claims: identity.Claims
    secret: str
    key_version: str
    marker: markers.UserMarker


_entries: dict[str, Entry] = {}


def entry(key: str, *, fresh: bool = False) -> Entry | None:
    """The live key `key` (cached unless `fresh`), or None if it is unknown or revoked."""
    if not fresh:
        cached = _entries.get(key)
        if cached is not None:
            return cached
    with transaction.atomic():
        # The row locked first: whoever revokes a key moves its version while holding this lock, so
        # the version read next belongs to the row read here (and an unknown key id writes nothing).
        api_key = ApiKey.objects.select_for_update(no_key=True).filter(key=key, revoked_at__isnull=True).first()
        current = None
        if api_key is not None:
            version = markers.ensure_api_key(key)
            marker = markers.ensure_user(api_key.user_id, ttl_ms=OWNER_MARKER_TTL_MS)
            current = identity.current(api_key.user_id)
    if current is None:
        _entries.pop(key, None)
        return None
    user, claims = current
    api_key.user = user
    loaded = Entry(api_key, user, claims, selectors.api_key_secret(api_key), version, marker)
    if len(_entries) >= MAX_ENTRIES:
        _entries.pop(next(iter(_entries)), None)
    _entries[key] = loaded
    return loaded


def cached(key) -> bool:
    return key in _entries


def for_request(loaded: Entry) -> tuple[User, ApiKey]:
    """Copies of the cached user and key that a request may change without touching the cache."""
    user, api_key = copy.copy(loaded.user), copy.copy(loaded.api_key)
    api_key.user = user
    identity.attach(user, loaded.claims)
    return user, api_key


def forget() -> None:
    _entries.clear()
