"""A submission's status decides the user's KYC level (apps.kyc.selectors.level_for), which access
tokens claim: any change of it makes those claims stale (apps.accounts.markers). From the model's
signals, so that every path (services, the admin, factories) moves the marker."""

from django.db.models.signals import post_delete, post_save

from apps.accounts import markers
from apps.kyc.models import Submission


def submission_saved(sender, instance, created, update_fields=None, raw=False, **kwargs) -> None:
    if not raw and (created or update_fields is None or "status" in update_fields):
        markers.user_changed(instance.user_id, revoke=False)


def submission_deleted(sender, instance, **kwargs) -> None:
    markers.user_changed(instance.user_id, revoke=False)


def connect() -> None:
    post_save.connect(submission_saved, sender=Submission, dispatch_uid="kyc.markers.submission_saved")
    post_delete.connect(submission_deleted, sender=Submission, dispatch_uid="kyc.markers.submission_deleted")
