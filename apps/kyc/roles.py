"""The compliance reviewers' group, kept in step with the KYC permissions after every migrate."""

from apps.core.roles import ensure_group

COMPLIANCE_GROUP = "Compliance reviewers"
COMPLIANCE_PERMISSIONS = [
    ("kyc", "view_submission"),
    ("kyc", "review_submission"),
    ("kyc", "view_document"),
    ("kyc", "view_document_file"),
    ("core", "view_auditevent"),
]


def ensure_compliance_group(**kwargs) -> None:
    ensure_group(COMPLIANCE_GROUP, COMPLIANCE_PERMISSIONS)
