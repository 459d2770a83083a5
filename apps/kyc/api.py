"""KYC API (API.md, KYC): submit identity data, read level, status and limits."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.idempotency import PARAMETER, idempotent
from apps.kyc import selectors, services
from apps.kyc import serializers as s

TAGS = ["kyc"]
FILE_FIELDS = ("document_front", "document_back", "selfie")


class SubmissionCreateView(APIView):
    parser_classes = [MultiPartParser]
    api_key_permission = None  # identity documents are sent by the person, logged in

    @extend_schema(request={"multipart/form-data": s.SubmissionInput}, responses={201: s.SubmissionCreated},
                   tags=TAGS, parameters=[PARAMETER])  # fmt: skip
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

    @extend_schema(responses={200: s.KycOverviewOutput}, tags=TAGS)
    def get(self, request):
        return Response(s.KycOverviewOutput(selectors.overview(request.user)).data)
