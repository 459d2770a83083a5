"""`Idempotency-Key` for POSTs that create something other than an order (withdrawals, API keys,
KYC submissions): a repeat with the same key and the same request returns the first answer; the
same key with another request is 409 `idempotency_conflict`. Keys live IDEMPOTENCY_KEY_HOURS (24).

The key is claimed, the view runs, and the answer is stored in **one transaction**: either the
request's effects and its stored answer both exist, or neither does (a crash leaves the key free
for a retry). A concurrent repeat blocks on the key's unique index until the first commits, then
replays its answer. A refusal (an API error) is not stored: the key is released and what the
refusal itself recorded is kept, exactly as without a key; a retry runs again.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from apps.core import crypto
from apps.core.exceptions import Conflict, DomainError
from apps.core.models import IdempotencyKey

HEADER = "Idempotency-Key"
KEY = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no spaces (a UUID is the usual choice)

PARAMETER = OpenApiParameter(
    HEADER, {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    location=OpenApiParameter.HEADER, required=False,
    description="Makes the request safe to retry: a repeat with the same key and the same request within "
    "24 hours returns the first answer (header `Idempotent-Replayed: true`) and creates nothing; the same key "
    "with another request is 409 `idempotency_conflict`. 1-255 printable ASCII characters, per user.",
)  # fmt: skip


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"
    default_message = "This Idempotency-Key was used for another request."


def idempotent(handler):
    """Decorate a view's `post(self, request, ...)`."""

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not KEY.fullmatch(key):
            raise serializers.ValidationError({HEADER: ["1 to 255 printable ASCII characters, no spaces."]})
        fingerprint = _fingerprint(request)
        refused = None
        with transaction.atomic():
            claim = _claim(request, key, fingerprint)
            if isinstance(claim, Response):
                return claim
            try:
                response = handler(view, request, *args, **kwargs)
            except (DomainError, APIException) as exc:
                # Refused: the key is released, and what the refusal itself recorded stays, as it
                # would without a key (a wrong 2FA code counts against the device's throttle).
                claim.delete()
                refused = exc
            else:
                if response.status_code >= 400:
                    claim.delete()
                else:
                    claim.status_code = response.status_code
                    claim.response = crypto.encrypt(json.dumps(response.data, cls=DjangoJSONEncoder))
                    claim.save(update_fields=["status_code", "response"])
        if refused is not None:
            raise refused
        return response

    return wrapper


def has_stored_answer(request) -> bool:
    """Whether the request's Idempotency-Key already has a live stored answer for its user: the
    request will be answered from it (or refused as a conflict) and does nothing new. Budgets that
    count only requests that do something (the sandbox faucet's) skip such requests."""
    key = request.headers.get(HEADER)
    if key is None or not KEY.fullmatch(key) or not getattr(request.user, "is_authenticated", False):
        return False
    live = IdempotencyKey.objects.filter(user=request.user, key=key, created_at__gt=timezone.now() - lifetime())
    return live.exclude(status_code=0).exists()


def _claim(request, key: str, fingerprint: str) -> IdempotencyKey | Response:
    """The new key's row (ours until commit), or the stored answer of an earlier request."""
    now = timezone.now()
    for _attempt in range(2):
        try:
            with transaction.atomic():
                return IdempotencyKey.objects.create(
                    user=request.user, key=key, method=request.method, path=request.get_full_path()[:500],
                    fingerprint=fingerprint, status_code=0, response=b"", created_at=now,
                )  # fmt: skip
        except IntegrityError:
            # Taken, and committed: a concurrent holder made us wait for its commit.
            existing = IdempotencyKey.objects.select_for_update().filter(user=request.user, key=key).first()
            if existing is None:
                continue  # purged meanwhile
            if existing.created_at <= now - lifetime():
                existing.delete()  # expired: the key is free again
                continue
            if existing.fingerprint != fingerprint:
                raise IdempotencyConflict(details={HEADER: key}) from None
            body = json.loads(crypto.decrypt(existing.response))
            return Response(body, status=existing.status_code, headers={"Idempotent-Replayed": "true"})
    raise IdempotencyConflict(details={HEADER: key})


def _fingerprint(request) -> str:
    """The request as data: method, path with query, fields (sorted) and uploaded files' contents."""
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.get_full_path()}\n".encode())
    data = request.data
    uploads = getattr(request, "FILES", {}) or {}
    if hasattr(data, "lists"):  # a form (multipart)
        data = {name: values for name, values in data.lists() if name not in uploads}
    # JSON as parsed (any shape: the view's serializer answers for a body that is not an object).
    digest.update(json.dumps(data, sort_keys=True, default=str).encode())
    for name in sorted(uploads):
        for upload in uploads.getlist(name):
            digest.update(f"\n{name}:{upload.name}:{upload.size}:".encode())
            for chunk in upload.chunks():
                digest.update(chunk)
            upload.seek(0)
    return digest.hexdigest()


def lifetime() -> dt.timedelta:
    return dt.timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)


def purge_expired() -> int:
    return IdempotencyKey.objects.filter(created_at__lte=timezone.now() - lifetime()).delete()[0]
