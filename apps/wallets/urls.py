from django.urls import path

from apps.wallets import api

urlpatterns = [
    path("wallets", api.WalletListView.as_view(), name="wallets"),
    path("wallets/<str:currency>/deposit-address", api.DepositAddressView.as_view(), name="deposit-address"),
    path("deposits", api.DepositListView.as_view(), name="deposits"),
]
