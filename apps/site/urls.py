from django.urls import path

from apps.site import views

urlpatterns = [
    path("time", views.ServerTimeView.as_view(), name="server-time"),
]
