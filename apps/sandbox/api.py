"""Sandbox API: the faucet (docs/risk-controls.md "Sandbox mode"). Routed only when EXCHANGE_SANDBOX is on."""

from django.conf import settings
from django_guid import get_guid
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.throttling import TieredRateThrottle
from apps.core.fields import MoneyField, format_in_precision, format_time
from apps.core.idempotency import PARAMETER, idempotent
from apps.sandbox import services, throttling


class FaucetInput(serializers.Serializer):
    currency = serializers.CharField(max_length=10)
    amount = MoneyField(required=False, help_text="Optional: the currency's default amount when absent.")


class FaucetBalance(serializers.Serializer):
    available = MoneyField(allow_zero=True)
    locked = MoneyField(allow_zero=True)


class FaucetOutput(serializers.Serializer):
    transaction_id = serializers.IntegerField(help_text="The ledger transaction that credited the funds.")
    currency = serializers.CharField()
    amount = MoneyField()
    balance = FaucetBalance(help_text="The currency's balance right after this credit.")
    created_at = serializers.CharField(help_text="When the funds were credited (ISO-8601 UTC, milliseconds).")

    def to_representation(self, credit: services.FaucetCredit):
        decimals = credit.currency.decimals
        return {
            "transaction_id": credit.transaction.pk,
            "currency": credit.currency.code,
            "amount": format_in_precision(credit.amount, decimals),
            "balance": {"available": format_in_precision(credit.available, decimals),
                        "locked": format_in_precision(credit.locked, decimals)},
            "created_at": format_time(credit.transaction.created_at),
        }  # fmt: skip


class FaucetLimitsOutput(serializers.Serializer):
    currency = serializers.CharField()
    default_amount = MoneyField()
    max_amount = MoneyField()

    def to_representation(self, faucet: services.FaucetLimits):
        decimals = faucet.currency.decimals
        return {
            "currency": faucet.currency.code,
            "default_amount": format_in_precision(faucet.default_amount, decimals),
            "max_amount": format_in_precision(faucet.max_amount, decimals),
        }


class FaucetView(APIView):
    throttle_classes = [TieredRateThrottle, throttling.FaucetThrottle]

    def api_key_permission(self, request):
        return "read" if request.method == "GET" else "trade"

    @extend_schema(
        tags=["sandbox"], summary="Faucet amounts and rate (sandbox mode only)",
        responses={200: inline_serializer("FaucetLimits", {
            "rate": serializers.CharField(help_text="Credits per user and window, e.g. `10/hour`."),
            "currencies": FaucetLimitsOutput(many=True),
        })},
    )  # fmt: skip
    def get(self, request):
        faucets = services.all_limits()
        return Response(
            {"rate": settings.SANDBOX_FAUCET_RATE, "currencies": FaucetLimitsOutput(faucets, many=True).data}
        )

    @extend_schema(
        tags=["sandbox"], summary="Credit test funds (sandbox mode only)", request=FaucetInput,
        responses={201: FaucetOutput}, parameters=[PARAMETER],
        description="Credits test funds to the caller's available balance through one ledger transaction from "
        "the sandbox issuance account. Exists only when the exchange runs in sandbox mode (`EXCHANGE_SANDBOX`); "
        "otherwise 404 `not_found`. `amount` defaults per currency and is capped per request (see GET). "
        "400 `invalid_request` (bad field, not positive, too many decimals, above the maximum); 404 "
        "`unknown_currency`; 429 `rate_limited` after the per-user rate of successful credits (the "
        "`X-RateLimit-*` headers show that budget); 409 `idempotency_conflict`. JWT, or an API key with `trade`.",
    )  # fmt: skip
    @idempotent
    def post(self, request):
        data = FaucetInput(data=request.data)
        data.is_valid(raise_exception=True)
        credit = services.credit(
            user=request.user, currency_code=data.validated_data["currency"],
            amount=data.validated_data.get("amount"), request_id=get_guid() or "",
        )  # fmt: skip
        headers = {} if credit.created else {"Idempotent-Replayed": "true"}
        return Response(FaucetOutput(credit).data, status=201, headers=headers)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method == "POST":
            credited = response.status_code == 201 and not response.has_header("Idempotent-Replayed")
            throttling.settle(request, credited=credited)
        return response
