from django.urls import path

from apps.orders import api

urlpatterns = [
    path("orders", api.OrderListView.as_view(), name="orders"),
    path("orders/batch", api.OrderBatchView.as_view(), name="orders-batch"),
    path("orders/<int:order_id>", api.OrderDetailView.as_view(), name="order"),
]
