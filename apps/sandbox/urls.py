"""Included by exchange/urls.py only when EXCHANGE_SANDBOX is on."""

from django.urls import path

from apps.sandbox import api

urlpatterns = [
    path("sandbox/faucet", api.FaucetView.as_view(), name="sandbox-faucet"),
]
