"""A KYC submission (multipart, with files) retried with its Idempotency-Key is recorded once."""

import pytest

from apps.kyc.models import Submission
from apps.kyc.tests.conftest import jpeg, submission_form, upload

pytestmark = pytest.mark.django_db


def test_a_submission_retried_with_its_key_is_recorded_once(applicant, applicant_client):
    first = applicant_client.post("/api/v1/kyc/submissions", submission_form(), format="multipart",
                               HTTP_IDEMPOTENCY_KEY="kyc-1")  # fmt: skip
    assert first.status_code == 201, first.content
    again = applicant_client.post("/api/v1/kyc/submissions", submission_form(), format="multipart",
                               HTTP_IDEMPOTENCY_KEY="kyc-1")  # fmt: skip
    assert (again.status_code, again.json(), again["Idempotent-Replayed"]) == (201, first.json(), "true")
    assert Submission.objects.filter(user=applicant).count() == 1
    # Another selfie under the same key is another request.
    changed = submission_form(selfie=upload("selfie.jpg", jpeg(color=(9, 9, 9))))
    conflict = applicant_client.post("/api/v1/kyc/submissions", changed, format="multipart",
                                  HTTP_IDEMPOTENCY_KEY="kyc-1")  # fmt: skip
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "idempotency_conflict"
