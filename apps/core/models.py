"""The append-only audit log: who did what to which object, when and why.

Rows are only ever inserted: a database trigger refuses UPDATE and DELETE (migration 0001), so not
even a bug or a compromised admin session can rewrite history through the ORM. (TRUNCATE needs the
table owner's privilege; production's application role should not have it.)
"""

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=64)  # "kyc.approve", "kyc.claim", ...
    target_type = models.CharField(max_length=64)  # "kyc.submission"
    target_id = models.CharField(max_length=64)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["target_type", "target_id", "created_at"])]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} {self.target_type}:{self.target_id}"


class IdempotencyKey(models.Model):
    """The first answer to a POST sent with an `Idempotency-Key` header (apps.core.idempotency),
    stored in the same transaction as what the request created. The body is encrypted: it may hold
    a secret shown once (a new API key's)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request's method, path and data.")
    status_code = models.PositiveSmallIntegerField()
    response = models.BinaryField(help_text="The answer's JSON body, encrypted (API_KEY_ENCRYPTION_KEYS).")
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="core_one_idempotency_key_per_user")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"
