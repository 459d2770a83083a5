"""A submission's status decides the user's KYC level (apps.kyc.selectors.level_for), which access
tokens claim: any change of it makes those claims stale (apps.accounts.markers). From the model's
signals, so that every path (services, the admin, factories) moves the marker."""

from apps.accounts import markers


def submission_saved(sender, instance, created, update_fields=None, raw=False, **kwargs) -> None:
    if not raw and (created or update_fields is None or "status" in update_fields):
        markers.user_changed(instance.user_id, revoke=False)


def submission_deleted(sender, instance, **kwargs) -> None:
    markers.user_changed(instance.user_id, revoke=False)


def connect() -> None:
    from django.db.models import signals

    from apps.kyc.models import Submission

    signals.post_save.connect(submission_saved, sender=Submission, dispatch_uid="kyc.markers.submission_saved")
    signals.post_delete.connect(submission_deleted, sender=Submission, dispatch_uid="kyc.markers.submission_deleted")
