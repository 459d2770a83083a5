from django.urls import path

from apps.wallets import api

urlpatterns = [
    path("currencies", api.CurrencyListView.as_view(), name="currencies"),
    path("wallets", api.WalletListView.as_view(), name="wallets"),
    path("wallets/<str:currency>/deposit-address", api.DepositAddressView.as_view(), name="deposit-address"),
    path("deposits", api.DepositListView.as_view(), name="deposits"),
    path("withdrawals", api.WithdrawalListView.as_view(), name="withdrawals"),
    path("withdrawals/<int:withdrawal_id>/cancel", api.WithdrawalCancelView.as_view(), name="withdrawal-cancel"),
    path("withdrawal-addresses", api.WithdrawalAddressListView.as_view(), name="withdrawal-addresses"),
    path("withdrawal-addresses/<int:address_id>", api.WithdrawalAddressDetailView.as_view(), name="withdrawal-address"),
]
