"""Writing to the audit log (apps.core.models.AuditEvent). Call inside the transaction that makes
the change, so the record and the change commit or roll back together."""

from __future__ import annotations

from typing import Any

from django.db import models

from apps.core.models import AuditEvent


def record(*, actor, action: str, target: models.Model, reason: str = "", **data: Any) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        reason=reason,
        data=data,
    )


def record_global(*, actor, action: str, subject: str, reason: str = "", **data: Any) -> AuditEvent:
    """An action on the exchange as a whole (the kill switch): its target is `exchange:<subject>`."""
    return AuditEvent.objects.create(actor=actor if getattr(actor, "pk", None) else None, action=action,
                                     target_type="exchange", target_id=subject, reason=reason, data=data)  # fmt: skip


def history(target: models.Model):
    return AuditEvent.objects.filter(target_type=target._meta.label_lower, target_id=str(target.pk)).select_related(
        "actor"
    )
