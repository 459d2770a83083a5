from django.urls import path

from apps.trades import api

urlpatterns = [
    path("markets/<str:symbol>/trades", api.PublicTradesView.as_view(), name="market-trades"),
    path("trades", api.FillListView.as_view(), name="fills"),
    path("trades/export.csv", api.FillExportView.as_view(), name="fills-export"),
]
