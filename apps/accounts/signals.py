"""Keep the revocation markers (apps.accounts.markers) true to the database, however a change is
made: services, the admin, a shell or a test factory all save through the ORM, so the markers are
moved from the models' save and delete signals rather than from each service. This is cache
invalidation, not a business rule: nothing else happens here.

- a user's password changes, or the user is disabled or deleted: their tokens are revoked;
- a user's tier, username or email changes, or two-factor is turned on or off: their tokens' claims
  are stale (those requests read the database until the client refreshes);
- an API key is changed or deleted: every process's cached copy is stale (a revocation by
  `QuerySet.update` calls markers.api_keys_changed itself: apps.accounts.services.revoke_api_keys)."""

from __future__ import annotations

from django.db.models import signals
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts import markers
from apps.accounts.models import ApiKey, User

_MISSING = object()
_REVOKING = ("password", "is_active")
_CLAIMED = ("tier", "username", "email")
_WATCHED = _REVOKING + _CLAIMED


def _snapshot(instance) -> None:
    # Deferred fields are not in __dict__: unknown, so a later value for them counts as a change.
    instance._marker_snapshot = {name: instance.__dict__.get(name, _MISSING) for name in _WATCHED}


def user_loaded(sender, instance, **kwargs) -> None:
    _snapshot(instance)


def user_saved(sender, instance, created, update_fields=None, raw=False, **kwargs) -> None:
    if raw or created:
        _snapshot(instance)
        return
    before = getattr(instance, "_marker_snapshot", {})
    saved = _WATCHED if update_fields is None else [name for name in _WATCHED if name in update_fields]
    changed = {name for name in saved if instance.__dict__.get(name, _MISSING) != before.get(name, _MISSING)}
    if getattr(instance, "_password", None) is not None:  # set_password() since the last save
        changed.add("password")
    revoke = "password" in changed or ("is_active" in changed and not instance.is_active)
    if revoke or changed & set(_CLAIMED):
        markers.user_changed(instance.pk, revoke=revoke)
    _snapshot(instance)


def user_deleted(sender, instance, **kwargs) -> None:
    markers.user_changed(instance.pk, revoke=True)


def device_loaded(sender, instance, **kwargs) -> None:
    instance._marker_confirmed = instance.__dict__.get("confirmed", _MISSING)


def device_saved(sender, instance, created, raw=False, **kwargs) -> None:
    # Verifying a code saves the device too (django-otp's counters): only `confirmed` matters here.
    if not raw and (instance.confirmed if created else instance.confirmed != instance._marker_confirmed):
        markers.user_changed(instance.user_id, revoke=False)
    instance._marker_confirmed = instance.confirmed


def device_deleted(sender, instance, **kwargs) -> None:
    if instance.confirmed:
        markers.user_changed(instance.user_id, revoke=False)


def api_key_saved(sender, instance, created, raw=False, **kwargs) -> None:
    if not raw and not created:
        markers.api_keys_changed([instance.key])


def api_key_deleted(sender, instance, **kwargs) -> None:
    markers.api_keys_changed([instance.key])


def connect() -> None:
    for signal, receiver, sender in (
        (signals.post_init, user_loaded, User),
        (signals.post_save, user_saved, User),
        (signals.post_delete, user_deleted, User),
        (signals.post_init, device_loaded, TOTPDevice),
        (signals.post_save, device_saved, TOTPDevice),
        (signals.post_delete, device_deleted, TOTPDevice),
        (signals.post_save, api_key_saved, ApiKey),
        (signals.post_delete, api_key_deleted, ApiKey),
    ):
        signal.connect(receiver, sender=sender, dispatch_uid=f"accounts.markers.{receiver.__name__}")
