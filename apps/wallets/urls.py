from django.urls import path

from apps.wallets import api

urlpatterns = [
    path("wallets", api.WalletListView.as_view(), name="wallets"),
]
