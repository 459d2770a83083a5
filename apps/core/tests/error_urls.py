"""Views that raise each kind of error, for test_errors.py."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_protect
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from apps.accounts.models import User
from apps.core.exceptions import Conflict
from apps.core.fields import MoneyField


class OrderInput(serializers.Serializer):
    symbol = serializers.CharField(max_length=20)
    quantity = MoneyField(max_decimal_places=8)
    legs = serializers.ListField(child=serializers.DictField(child=MoneyField()), required=False)


class Open(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]


class Validate(Open):
    def post(self, request):
        data = OrderInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response({"quantity": str(data.validated_data["quantity"])})


class Authenticated(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response({})


class Forbidden(Open):
    def get(self, request):
        raise exceptions.PermissionDenied()


class DjangoForbidden(Open):
    def get(self, request):
        raise DjangoPermissionDenied


class Missing(Open):
    def get(self, request):
        raise Http404


class OneLegThrottle(AnonRateThrottle):
    scope = "test-errors"
    rate = "1/min"


class Throttled(Open):
    throttle_classes = [OneLegThrottle]

    def get(self, request):
        return Response({"ok": True})


class Domain(Open):
    def post(self, request):
        raise Conflict("Order is already closed.", details={"order_id": 7})


class Boom(Open):
    def get(self, request):
        User.objects.create_user("written-before-crash", "crash@example.com", "pw-irrelevant-123")
        raise RuntimeError("secret internal detail")


class DjangoErrors(Open):
    """Errors raised by Django or the database inside an API view."""

    def get(self, request, kind):
        from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, ValidationError
        from django.db import OperationalError

        raise {
            "suspicious": SuspiciousOperation("bad host header"),
            "too-big": RequestDataTooBig("too big"),
            "model-validation": ValidationError({"price": ["Not on the tick."]}),
            "plain-validation": ValidationError("Nope."),
            "database-down": OperationalError("connection refused"),
        }[kind]


@csrf_protect
def plain_form(request):
    return HttpResponse("ok")


def plain_boom(request):
    raise RuntimeError("secret internal detail")


urlpatterns = [
    path("validate", Validate.as_view()),
    path("authenticated", Authenticated.as_view()),
    path("forbidden", Forbidden.as_view()),
    path("django-forbidden", DjangoForbidden.as_view()),
    path("missing", Missing.as_view()),
    path("throttled", Throttled.as_view()),
    path("domain", Domain.as_view()),
    path("boom", Boom.as_view()),
    path("django/<str:kind>", DjangoErrors.as_view()),
    path("plain-form", plain_form),
    path("plain-boom", plain_boom),
]

handler404 = "apps.core.errors.page_not_found"
handler500 = "apps.core.errors.server_error"
