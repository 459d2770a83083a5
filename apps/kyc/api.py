"""KYC API (docs/api.md "KYC"): submit identity data, read level, status and limits."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.idempotency import PARAMETER, idempotent
from apps.kyc import selectors, services
from apps.kyc import serializers as s

TAGS = ["kyc"]
SUBMIT_DOC = (
    "Multipart form: the person's details and their document images. A submission takes you to level 1 at once "
    "(`basic`: trading opens, small withdrawals), level 2 (`verified`) when compliance approves it; GET /kyc shows "
    "the level and its limits. Files are checked by content: JPEG, PNG or PDF, each at most `KYC_MAX_FILE_BYTES` "
    "(10 MB); they are never served back. `date_of_birth` makes the person 18 or older. Logged in only (no API "
    'key). 201 `{id, status: "pending"}`; 400 `invalid_request` per field; 409 `kyc_submission_open` while one '
    "is pending or in review, `kyc_already_verified` after an approval."
)
OVERVIEW_DOC = (
    "Your KYC level (0 `none`: nothing submitted or the latest submission rejected; 1 `basic`: details submitted, "
    "pending, in review or resubmission requested; 2 `verified`: approved), the status of the latest submission "
    "(`none` without one), what the level allows (`limits.trading`, `limits.daily_withdrawal_limit` in "
    "`limits.limit_currency` per rolling 24 h) and your submissions, newest first, with the reviewer's decision."
)
FILE_FIELDS = ("document_front", "document_back", "selfie")


class SubmissionCreateView(APIView):
    parser_classes = [MultiPartParser]
    api_key_permission = None  # identity documents are sent by the person, logged in

    @extend_schema(request={"multipart/form-data": s.SubmissionInput}, responses={201: s.SubmissionCreated},
                   tags=TAGS, parameters=[PARAMETER], summary="Submit identity details and documents",
                   description=SUBMIT_DOC)  # fmt: skip
    @idempotent
    def post(self, request):
        serializer = s.SubmissionInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        files = {name: data.pop(name) for name in FILE_FIELDS if name in data}
        submission = services.submit(user=request.user, data=data, files=files)
        return Response({"id": submission.id, "status": submission.status}, status=status.HTTP_201_CREATED)


class KycOverviewView(APIView):
    api_key_permission = "read"

    @extend_schema(responses={200: s.KycOverviewOutput}, tags=TAGS, summary="Your KYC level, limits and submissions",
                   description=OVERVIEW_DOC)  # fmt: skip
    def get(self, request):
        return Response(s.KycOverviewOutput(selectors.overview(request.user)).data)
