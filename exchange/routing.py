"""WebSocket routes (docs/api.md "WebSocket /ws/v1/")."""

from django.urls import path

from apps.core.consumers import StreamConsumer

websocket_urlpatterns = [
    path("ws/v1/", StreamConsumer.as_asgi()),
]
