"""Wallet API (docs/api.md "Trades, portfolio, wallets")."""

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.fields import MoneyField, format_in_precision, format_time
from apps.core.idempotency import PARAMETER, idempotent
from apps.core.serializers import ModelSerializer
from apps.wallets import address_book, deposits, selectors, withdrawals
from apps.wallets.models import Deposit, Withdrawal, WithdrawalAddress


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


class CurrencyOutput(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    decimals = serializers.IntegerField(help_text="Amounts have at most this many decimals.")
    network = serializers.CharField(help_text="The chain deposits and withdrawals use (the currency's own).")
    confirmations = serializers.IntegerField(help_text="Blocks before a deposit is credited.")
    deposit_enabled = serializers.BooleanField()
    withdraw_enabled = serializers.BooleanField(help_text="False while the currency is inactive or its "
                                                "withdrawals are halted (`withdrawals_halted`).")  # fmt: skip
    withdrawal_fee = MoneyField(allow_zero=True, help_text="Taken from the balance besides the amount sent.")
    min_withdrawal = MoneyField(allow_zero=True)


def currency_payload(currency) -> dict:
    withdraw_enabled = currency.is_active and not currency.withdrawals_halted
    return {
        "code": currency.code, "name": currency.name, "decimals": currency.decimals, "network": currency.code,
        "confirmations": currency.confirmations, "deposit_enabled": currency.is_active,
        "withdraw_enabled": withdraw_enabled,
        "withdrawal_fee": format_in_precision(currency.withdrawal_fee, currency.decimals),
        "min_withdrawal": format_in_precision(currency.min_withdrawal, currency.decimals),
    }  # fmt: skip


class CurrencyListView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(tags=["wallets"], responses={200: CurrencyOutput(many=True)},
                   description="Every currency, by code: its decimals, chain, confirmations, whether deposits and "
                   "withdrawals are open, and the withdrawal fee and minimum. No authentication.")  # fmt: skip
    def get(self, request):
        return Response([currency_payload(c) for c in selectors.listed_currencies()])


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


class WithdrawalInput(serializers.Serializer):
    currency = serializers.CharField(max_length=10)
    amount = MoneyField()
    address = serializers.CharField(max_length=128)
    otp_code = serializers.CharField(max_length=32)


class WithdrawalOutput(ModelSerializer):
    currency = serializers.CharField(source="currency_id")

    class Meta:
        model = Withdrawal
        fields = ["id", "currency", "amount", "fee", "address", "status", "txid", "confirmations", "created_at",
                  "updated_at"]  # fmt: skip

    def to_representation(self, instance):
        data = super().to_representation(instance)
        for field in ("amount", "fee"):
            data[field] = format_in_precision(getattr(instance, field), instance.currency.decimals)
        return data


class WithdrawalListView(generics.ListAPIView):
    serializer_class = WithdrawalOutput
    ordering = ("-created_at", "-id")

    def api_key_permission(self, request):
        return "read" if request.method == "GET" else "withdraw"

    def get_queryset(self):
        return withdrawals.withdrawals_for(self.request.user)

    @extend_schema(tags=["wallets"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=WithdrawalInput, responses={201: WithdrawalOutput}, tags=["wallets"], parameters=[PARAMETER],
                   description="403 `two_factor_required`, `kyc_required`, `limit_exceeded`, `withdrawals_halted` "
                   "(details: `currency`, `reason`), `address_cooldown` (details: `address`, `usable_at`; the address "
                   "is not confirmed in the withdrawal address book: its first use registers it and starts its "
                   "cool-down); 400 `insufficient_funds`, `invalid_address`, `invalid_otp`; 404 `unknown_currency`. "
                   "A refused request does not use up the 2FA code.")  # fmt: skip
    @idempotent
    def post(self, request):
        data = WithdrawalInput(data=request.data)
        data.is_valid(raise_exception=True)
        withdrawal = withdrawals.request_withdrawal(
            user=request.user, currency_code=data.validated_data["currency"], amount=data.validated_data["amount"],
            address=data.validated_data["address"], otp_code=data.validated_data["otp_code"],
        )  # fmt: skip
        return Response({"id": withdrawal.id, "status": withdrawal.status}, status=201)


class WithdrawalCancelView(APIView):
    api_key_permission = "withdraw"

    @extend_schema(request=None, responses={200: WithdrawalOutput}, tags=["wallets"])
    def post(self, request, withdrawal_id: int):
        withdrawal = withdrawals.cancel(withdrawal_id=withdrawal_id, user=request.user)
        return Response(WithdrawalOutput(withdrawal).data)


class WithdrawalAddressInput(serializers.Serializer):
    currency = serializers.CharField(max_length=10)
    address = serializers.CharField(max_length=128)
    label = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    otp_code = serializers.CharField(max_length=32)


class WithdrawalAddressOutput(ModelSerializer):
    currency = serializers.CharField(source="currency_id")
    confirmed = serializers.SerializerMethodField()
    usable_at = serializers.SerializerMethodField()

    class Meta:
        model = WithdrawalAddress
        fields = ["id", "currency", "address", "label", "confirmed", "created_at", "confirmed_at", "usable_at"]

    def get_confirmed(self, instance) -> bool:
        return instance.confirmed_at is not None

    @extend_schema_field({"type": "string", "format": "date-time", "example": "2026-11-22T10:00:00.123Z"})
    def get_usable_at(self, instance) -> str:
        return format_time(address_book.usable_at(instance))


class WithdrawalAddressListView(generics.ListAPIView):
    """The withdrawal address book. Managing it needs a login (not an API key), like API keys and 2FA."""

    serializer_class = WithdrawalAddressOutput
    ordering = ("-created_at", "-id")

    def api_key_permission(self, request):
        return "read" if request.method == "GET" else None

    def get_queryset(self):
        return selectors.withdrawal_addresses_for(self.request.user)

    @extend_schema(tags=["wallets"], description="The user's withdrawal addresses, newest first: confirmed with "
                   "2FA (`confirmed`), or registered by a first withdrawal and usable from `usable_at`.")  # fmt: skip
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=WithdrawalAddressInput, tags=["wallets"], parameters=[PARAMETER],
                   responses={201: WithdrawalAddressOutput, 200: WithdrawalAddressOutput},
                   description="Confirms an address with a 2FA code: withdrawals to it are accepted at once. 201 for a "
                   "new entry, 200 when it confirms an entry a withdrawal registered. 403 `two_factor_required`; 400 "
                   "`invalid_address`, `invalid_otp`; 404 `unknown_currency`; 409 `address_exists` (already "
                   "confirmed; details: `id`). Not with an API key.")  # fmt: skip
    @idempotent
    def post(self, request):
        data = WithdrawalAddressInput(data=request.data)
        data.is_valid(raise_exception=True)
        entry, created = address_book.add_withdrawal_address(
            user=request.user, currency_code=data.validated_data["currency"], address=data.validated_data["address"],
            label=data.validated_data["label"], otp_code=data.validated_data["otp_code"],
        )  # fmt: skip
        return Response(WithdrawalAddressOutput(entry).data, status=status.HTTP_201_CREATED if created else 200)


class WithdrawalAddressDetailView(APIView):
    api_key_permission = None

    @extend_schema(responses={204: None}, tags=["wallets"],
                   description="404 `not_found` (also for another user's entry). Not with an API key.")  # fmt: skip
    def delete(self, request, address_id: int):
        address_book.remove_withdrawal_address(user=request.user, address_id=address_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
