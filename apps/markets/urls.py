from django.urls import path

from apps.markets import api

urlpatterns = [
    path("markets", api.MarketListView.as_view(), name="markets"),
    path("markets/<str:symbol>/book", api.BookView.as_view(), name="market-book"),
]
