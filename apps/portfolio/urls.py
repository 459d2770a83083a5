from django.urls import path

from apps.portfolio import api

urlpatterns = [
    path("portfolio", api.PortfolioView.as_view(), name="portfolio"),
    path("portfolio/history", api.PortfolioHistoryView.as_view(), name="portfolio-history"),
]
