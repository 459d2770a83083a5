"""Wallet API (API.md, Trades, portfolio, wallets)."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.fields import MoneyField
from apps.wallets import selectors


class BalanceOutput(serializers.Serializer):
    currency = serializers.CharField()
    available = MoneyField(allow_zero=True)
    locked = MoneyField(allow_zero=True)

    def to_representation(self, instance):
        # Amounts in the currency's own precision ("0.50000000" for BTC), as the large exchanges do.
        step = Decimal(1).scaleb(-instance["decimals"])
        return {
            "currency": instance["currency"],
            "available": format(Decimal(instance["available"]).quantize(step), "f"),
            "locked": format(Decimal(instance["locked"]).quantize(step), "f"),
        }


class WalletListView(APIView):
    api_key_permission = "read"

    @extend_schema(responses={200: BalanceOutput(many=True)}, tags=["wallets"])
    def get(self, request):
        return Response(BalanceOutput(selectors.balances_for(request.user), many=True).data)
