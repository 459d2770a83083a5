"""Identity verification: submissions with their documents, reviewed by compliance staff."""

import os
import secrets

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.db.models import Q


class PrivateDocumentStorage(FileSystemStorage):
    """Files under KYC_MEDIA_ROOT (read at each use, so settings overrides apply), with no URL:
    staff read them through a permission-checked view (apps.kyc.views.document)."""

    @property
    def base_location(self):
        return str(settings.KYC_MEDIA_ROOT)

    @property
    def location(self):
        return os.path.abspath(self.base_location)

    def url(self, name):
        raise ValueError("KYC documents have no public URL.")

    @property
    def file_permissions_mode(self):
        return 0o600  # readable by the server's user only

    @property
    def directory_permissions_mode(self):
        return 0o700


def private_storage() -> FileSystemStorage:
    return PrivateDocumentStorage()


def document_path(instance, filename) -> str:
    # A random name: nothing about the user or the original file name is in the path.
    return f"{secrets.token_hex(2)}/{secrets.token_hex(16)}"


class Submission(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_REVIEW = "in_review", "In review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        RESUBMISSION_REQUESTED = "resubmission_requested", "Resubmission requested"

    OPEN_STATUSES = (Status.PENDING, Status.IN_REVIEW)

    class DocumentType(models.TextChoices):
        PASSPORT = "passport", "Passport"
        ID_CARD = "id_card", "ID card"
        DRIVING_LICENSE = "driving_license", "Driving license"

    class RejectionReason(models.TextChoices):
        UNREADABLE = "unreadable", "Document unreadable"
        EXPIRED = "expired", "Document expired"
        MISMATCH = "mismatch", "Data does not match the document"
        SELFIE_MISMATCH = "selfie_mismatch", "Selfie does not match the document"
        SUSPECTED_FRAUD = "suspected_fraud", "Suspected fraud"
        UNDERAGE = "underage", "Under 18"
        UNSUPPORTED_COUNTRY = "unsupported_country", "Country not supported"
        OTHER = "other", "Other"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="kyc_submissions")
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.PENDING, db_index=True)
    full_name = models.CharField(max_length=200)
    date_of_birth = models.DateField()
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    document_type = models.CharField(max_length=32, choices=DocumentType.choices)
    document_number = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="kyc_reviews"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.CharField(max_length=32, choices=RejectionReason.choices, blank=True)
    decision_note = models.TextField(blank=True, help_text="Why (rejection) or what is missing (resubmission).")
    files_purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "KYC case"
        ordering = ["created_at", "id"]
        # The queue's order (open cases first, oldest first) and the dashboard's decisions of the day.
        indexes = [models.Index(fields=["decided_at", "created_at", "id"], name="kyc_submission_queue")]
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(status__in=["pending", "in_review"]),
                name="kyc_one_open_submission_per_user",
            ),
            models.CheckConstraint(
                condition=~Q(status="in_review") | Q(reviewer__isnull=False),
                name="kyc_in_review_has_reviewer",
            ),
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(rejection_reason=""),
                name="kyc_rejected_has_reason",
            ),
        ]
        permissions = [
            ("review_submission", "Can claim and decide KYC submissions"),
            ("view_document_file", "Can open KYC document files"),
        ]

    def __str__(self) -> str:
        return f"KYC #{self.pk} {self.full_name} ({self.get_status_display()})"


class Document(models.Model):
    class Kind(models.TextChoices):
        FRONT = "front", "Document front"
        BACK = "back", "Document back"
        SELFIE = "selfie", "Selfie"

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    file = models.FileField(storage=private_storage, upload_to=document_path, max_length=200)
    content_type = models.CharField(max_length=32)  # detected from the content, not the client
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)

    class Meta:
        verbose_name = "KYC document"
        constraints = [models.UniqueConstraint(fields=["submission", "kind"], name="kyc_one_document_per_kind")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of KYC #{self.submission_id}"
