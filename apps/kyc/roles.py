"""The compliance reviewers' group, kept in step with the KYC permissions after every migrate."""

from django.contrib.auth.models import Group, Permission

COMPLIANCE_GROUP = "Compliance reviewers"
COMPLIANCE_PERMISSIONS = [
    ("kyc", "view_submission"),
    ("kyc", "review_submission"),
    ("kyc", "view_document"),
    ("kyc", "view_document_file"),
    ("core", "view_auditevent"),
]


def ensure_compliance_group(**kwargs) -> None:
    group, _ = Group.objects.get_or_create(name=COMPLIANCE_GROUP)
    for app_label, codename in COMPLIANCE_PERMISSIONS:
        permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
        if permission is not None:
            group.permissions.add(permission)
