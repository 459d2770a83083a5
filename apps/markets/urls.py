from django.urls import path

from apps.markets import api

urlpatterns = [
    path("markets", api.MarketListView.as_view(), name="markets"),
    path("markets/<str:symbol>/book", api.BookView.as_view(), name="market-book"),
    path("markets/<str:symbol>/ticker", api.TickerView.as_view(), name="market-ticker"),
    path("markets/<str:symbol>/candles", api.CandlesView.as_view(), name="market-candles"),
]
