"""Wallet API (API.md, Trades, portfolio, wallets)."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.fields import MoneyField, format_in_precision
from apps.core.serializers import ModelSerializer
from apps.wallets import deposits, selectors
from apps.wallets.models import Deposit


class BalanceOutput(serializers.Serializer):
    currency = serializers.CharField()
    available = MoneyField(allow_zero=True)
    locked = MoneyField(allow_zero=True)

    def to_representation(self, instance):
        # Amounts in the currency's own precision ("0.50000000" for BTC), as the large exchanges do.
        return {
            "currency": instance["currency"],
            "available": format_in_precision(instance["available"], instance["decimals"]),
            "locked": format_in_precision(instance["locked"], instance["decimals"]),
        }


class WalletListView(APIView):
    api_key_permission = "read"

    @extend_schema(responses={200: BalanceOutput(many=True)}, tags=["wallets"])
    def get(self, request):
        return Response(BalanceOutput(selectors.balances_for(request.user), many=True).data)


class DepositAddressOutput(serializers.Serializer):
    currency = serializers.CharField()
    address = serializers.CharField()


class DepositAddressView(APIView):
    api_key_permission = "read"

    @extend_schema(responses={200: DepositAddressOutput}, tags=["wallets"],
                   description="404 `unknown_currency` for a currency that is not listed or not active.")  # fmt: skip
    def get(self, request, currency: str):
        address = deposits.deposit_address(user=request.user, currency_code=currency)
        return Response({"currency": address.currency_id, "address": address.address})


class DepositOutput(ModelSerializer):
    currency = serializers.CharField(source="currency_id")
    amount = MoneyField()

    class Meta:
        model = Deposit
        fields = ["id", "currency", "amount", "address", "txid", "confirmations", "status", "detected_at",
                  "credited_at"]  # fmt: skip

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["amount"] = format_in_precision(instance.amount, instance.currency.decimals)
        return data


class DepositListView(generics.ListAPIView):
    api_key_permission = "read"
    serializer_class = DepositOutput
    ordering = ("-detected_at", "-id")

    def get_queryset(self):
        return selectors.deposits_for(self.request.user)

    @extend_schema(tags=["wallets"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
