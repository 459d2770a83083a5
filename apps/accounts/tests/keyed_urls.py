"""Endpoints that need each API-key permission, for test_api_keys.py (trading endpoints land later)."""

from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView


class Trade(APIView):
    api_key_permission = "trade"

    def post(self, request):
        return Response({"user": request.user.username, "body": request.data})


class Withdraw(APIView):
    api_key_permission = "withdraw"

    def post(self, request):
        return Response({"ok": True})


class Undeclared(APIView):
    def get(self, request):
        return Response({"ok": True})

    def post(self, request):
        return Response({"ok": True})


urlpatterns = [
    path("api/v1/", include("apps.accounts.urls")),
    path("api/v1/test/trade", Trade.as_view()),
    path("api/v1/test/withdraw", Withdraw.as_view()),
    path("api/v1/test/undeclared", Undeclared.as_view()),
]
